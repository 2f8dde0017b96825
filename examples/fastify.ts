/**
 * @module Example: slice-fetch inside Fastify. `reply.hijack()` tells Fastify the route writes to the raw
 * `ServerResponse` itself, so the handler streams slices straight to the socket (no Fastify serialisation).
 *
 *   npx tsx examples/fastify.ts 3000 http://127.0.0.1:8080
 *   curl -r 0-99 http://127.0.0.1:3000/video.mp4
 *
 * In your application, import from `slice-fetch` instead of `../src/index.js`.
 */
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { createSliceHandler } from '../src/index.js';
import type { RunningExample } from './http-server.js';

/**
 * Starts a Fastify app on `port` (0 picks a free one) that slices every GET/HEAD.
 *
 * @example
 * const app = await start(0, 'http://127.0.0.1:8080');
 * await fetch(`${app.url}/big.bin`, { headers: { range: 'bytes=0-99' } });
 * await app.close();
 */
export async function start(port: number, upstream: string): Promise<RunningExample> {
  const handler = createSliceHandler({ upstream, sliceSize: 1024 * 1024 });
  const app = Fastify();
  app.route({
    method: ['GET', 'HEAD'],
    url: '/*',
    handler: (request, reply) => {
      reply.hijack();
      handler(request.raw, reply.raw);
    },
  });
  const url = await app.listen({ port, host: '127.0.0.1' });
  return {
    url,
    async close() {
      await app.close();
      await handler.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start(Number(process.argv[2] ?? 3000), process.argv[3] ?? 'http://127.0.0.1:8080');
  console.log(`fastify on ${running.url}`);
}
