/**
 * @module Example: slice-fetch inside Koa. `ctx.respond = false` hands the raw `ServerResponse` to the handler,
 * which streams the slices itself; Koa then leaves the response alone.
 *
 *   npx tsx examples/koa.ts 3000 http://127.0.0.1:8080
 *   curl -r 0-99 http://127.0.0.1:3000/video.mp4
 *
 * In your application, import from `slice-fetch` instead of `../src/index.js`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import { createSliceHandler } from '../src/index.js';
import type { RunningExample } from './http-server.js';

/**
 * Starts a Koa app on `port` (0 picks a free one) that slices every GET/HEAD.
 *
 * @example
 * const app = await start(0, 'http://127.0.0.1:8080');
 * await fetch(`${app.url}/big.bin`, { headers: { range: 'bytes=0-99' } });
 * await app.close();
 */
export async function start(port: number, upstream: string): Promise<RunningExample> {
  const handler = createSliceHandler({ upstream, sliceSize: 1024 * 1024 });
  const app = new Koa();
  // Koa prints every error of a response it handed over; a client that leaves mid-body is not one. (With an
  // 'error' listener of its own, Koa's default printer is off: print the rest yourself.)
  app.on('error', (error: NodeJS.ErrnoException) => {
    if (!CLIENT_GONE.has(error.code ?? '')) console.error(error);
  });
  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    ctx.respond = false;
    handler(ctx.req, ctx.res);
  });
  const server = app.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      server.close();
      await handler.close();
    },
  };
}

/** What a socket reports when the client went away: ordinary for a video player that seeks. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start(Number(process.argv[2] ?? 3000), process.argv[3] ?? 'http://127.0.0.1:8080');
  console.log(`koa on ${running.url}`);
}
