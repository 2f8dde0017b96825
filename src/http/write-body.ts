/**
 * Streams a piece body into a `ServerResponse`: one cork/uncork per piece so a whole slice leaves in one
 * `writev` (PERFORMANCE.md §0.1, §11.3 — 2.4 → 5.1 GB/s warm), never a `Buffer.concat`. Backpressure: when the
 * last write of a piece returns `false` the body pauses until `'drain'` (or `'close'`, when the client left).
 * A body that fails destroys the response with the error, so the client sees an incomplete body, never a
 * clean end (SPEC R11). With `release` (given only where {@link writesThrough} holds), each piece is given
 * back once the socket has taken its bytes — the
 * write callback of its last chunk, which runs after the kernel copied them, or with an error when they will
 * never be written — so the engine can read the next store hit into its memory.
 *
 * @module
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Whether a piece written to `res` has left the process when its write callback runs — the condition for
 * giving its memory back. True for Node's own `ServerResponse` (no wrapper replaced its `write`) on a kernel
 * socket: TCP or a pipe, or TLS, which encrypts into buffers of its own before calling back. Not for an
 * in-process `Duplex` handed to the server as a connection, nor behind a middleware that replaced `res.write`:
 * either may call back while it still holds the chunk, and recycled memory under it would change its bytes.
 *
 * @example
 * ```ts
 * const result = await fetcher[openSymbol](url, { recycle: writesThrough(req, res) });
 * ```
 */
export function writesThrough(req: IncomingMessage, res: ServerResponse): boolean {
  return res.write === ServerResponse.prototype.write && req.socket instanceof Socket;
}

/**
 * Pipes `body` — an object-mode stream of pieces (`Uint8Array[]`) — into `res` and ends it. `onError` is
 * called once if the body fails; the response is then destroyed with that error. `release` receives each
 * piece once its bytes are out of the process's hands (see the module comment).
 *
 * @example
 * ```ts
 * res.writeHead(result.status, result.headers);
 * writePieces(result.body, res, (error) => logger.error({ err: error }), result.release);
 * ```
 */
export function writePieces(
  body: Readable,
  res: ServerResponse,
  onError: (error: Error) => void,
  release?: (piece: readonly Uint8Array[]) => void,
): void {
  let waiting = false;
  const resume = (): void => {
    res.off('drain', resume);
    if (!waiting) return;
    waiting = false;
    body.resume();
  };
  body.on('data', (piece: readonly Uint8Array[]) => {
    let ok = true;
    const last = piece.length - 1;
    res.cork();
    for (let i = 0; i < last; i++) ok = res.write(piece[i] as Uint8Array);
    if (last >= 0)
      ok = res.write(piece[last] as Uint8Array, release === undefined ? undefined : () => release(piece));
    res.uncork();
    if (!ok && !res.destroyed) {
      waiting = true;
      body.pause();
      res.once('drain', resume);
    }
  });
  body.once('end', () => res.end());
  body.once('error', (error) => {
    onError(error);
    res.destroy(error);
  });
}
