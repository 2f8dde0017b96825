/**
 * The public edge: a {@link SliceResult} as a WHATWG `Response`. The body is a *default* pull stream with a
 * high-water mark of 0 that enqueues each chunk untouched — a `type: 'bytes'` stream would detach (zero
 * out) the buffers it is given, and those buffers may be the cache's own (PERFORMANCE.md §0.4).
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import type { SliceResult } from './open-request.js';

/** Wraps the engine's result as a `Response`. */
export function toResponse(result: SliceResult): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(result.headers)) headers.set(name, value);
  headers.set('x-slice-cache', result.cacheStatus());
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
