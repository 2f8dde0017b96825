/**
 * The public edge: a {@link SliceResult} as a WHATWG `Response`. The body is a *default* pull stream with a
 * high-water mark of 0 — a `type: 'bytes'` stream would detach (zero out) the buffers it is given, which may be
 * the cache's own (design.md "Default streams, never byte streams"). Each piece — a slice, trimmed to the range —
 * is one chunk of the consumer's own (R21): a consumer that writes into its chunks cannot change what the
 * cache serves next, and a web stream moves a slice in one chunk, not one per socket read. Once copied, a piece
 * goes back to the engine (`result.release`, when the request recycles), which reads the next slice into it.
 * With `zeroCopy`, the caller promises never to write into them, and gets the chunks as they are.
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import type { SliceResult } from './request-types.js';

/** Wraps the engine's result as a `Response`. */
export function toResponse(result: SliceResult, zeroCopy = false): Response {
  const enqueue = (controller: ReadableStreamDefaultController<Uint8Array>, piece: Chunks): void => {
    if (zeroCopy) {
      for (const chunk of piece) controller.enqueue(chunk);
      return;
    }
    if (piece.length > 0) controller.enqueue(Buffer.concat(piece));
    result.release?.(piece); // copied: the engine may read the next slice into this memory
  };
  const headers = new Headers();
  for (const [name, value] of Object.entries(result.headers)) {
    if (typeof value === 'string') headers.set(name, value);
    else for (const item of value) headers.append(name, item);
  }
  headers.set('x-slice-cache', result.cacheStatus);
  const { pieces } = result;
  if (pieces !== undefined) {
    // A body in hand (an answer from memory): no Node stream between it and the web stream.
    const inHand = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) enqueue(controller, piece);
        controller.close();
      },
    });
    return new Response(inHand, { status: result.status, headers });
  }
  const stream = result.body;
  if (stream === undefined) return new Response(null, { status: result.status, headers });
  const iterator: AsyncIterator<Chunks> = stream[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await iterator.next();
          if (done === true) controller.close();
          else enqueue(controller, value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel(reason) {
        stream.destroy(reason instanceof Error ? reason : undefined);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: result.status, headers });
}
