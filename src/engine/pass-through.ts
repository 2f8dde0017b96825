/**
 * Answers the engine does not slice (R14), and origin error statuses (P15), streamed to the client as they
 * come. When the reference 206 could not be used (no total length, or an encoded body), the client's own
 * request is sent again as it is, `Range` included.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { abortError } from '../core/errors.js';
import { type PieceSource, PieceStream } from './piece-stream.js';
import { discardBody } from './read-body.js';
import type { Engine, LiveResult, OpenInput, SliceResult } from './request-types.js';
import { passHeaders } from './response-heads.js';

/**
 * Streams `result` (or the client's request sent again) unchanged.
 *
 * @example
 * ```ts
 * if (learned.kind === 'live') return passThrough(engine, input, learned.result);
 * ```
 */
export async function passThrough(
  engine: Engine,
  input: OpenInput,
  result: LiveResult,
): Promise<SliceResult> {
  let response = result.response;
  if (result.kind === 'pass' && result.reason !== 'range-ignored') {
    discardBody(response.body);
    const headers: Record<string, string> = { ...input.forward };
    if (input.range !== undefined) headers.range = input.range;
    response = await engine.deps.transport.request({
      url: input.url,
      method: input.method,
      headers,
      signal: input.signal,
    });
  }
  const headers = passHeaders(response.status, response.headers);
  const outcome = result.kind === 'pass' ? 'pass' : 'error';
  const { signal } = input;
  if (input.method === 'HEAD' || signal.aborted) {
    discardBody(response.body);
    if (signal.aborted) throw abortError(signal.reason, `Request for ${input.url}`, { url: input.url });
    return { status: response.status, headers, body: undefined, cacheStatus: 'PASS', outcome };
  }
  const body = new PieceStream(bytesSource(response.body));
  // The live body follows the request's signal like any other body (the attempt that got it is over).
  const onAbort = (): void => {
    body.destroy(abortError(signal.reason, `Request for ${input.url}`, { url: input.url }));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
  return { status: response.status, headers, body, cacheStatus: 'PASS', outcome };
}

// ---------------------------------------------------------------------------------------------------------

function bytesSource(body: Readable): PieceSource {
  const iterator = body[Symbol.asyncIterator]();
  return {
    next: async () => {
      const { value, done } = await iterator.next();
      return done === true ? null : [value as Uint8Array];
    },
    cancel: () => {
      discardBody(body);
    },
  };
}
