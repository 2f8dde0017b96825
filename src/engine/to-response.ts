/**
 * The public edge: a {@link SliceResult} as a WHATWG `Response`. The body is a *default* pull stream with a
 * high-water mark of 0 that enqueues each chunk untouched — a `type: 'bytes'` stream would detach (zero
 * out) the buffers it is given, and those buffers may be the cache's own (design.md "Default streams, never
 * byte streams").
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import type { SliceResult } from './request-types.js';

/** Wraps the engine's result as a `Response`. */
export function toResponse(result: SliceResult): Response {
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
        for (const piece of pieces) for (const chunk of piece) controller.enqueue(chunk);
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
          else for (const chunk of value) controller.enqueue(chunk);
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
