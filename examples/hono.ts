/**
 * @module Example: slice-fetch inside Hono on `@hono/node-server`, two ways. Under `/files`, the Node handler
 * writes the slices to the raw `ServerResponse` itself (`@hono/node-server` is told the response is already sent);
 * under `/fetch`, a Hono route returns `fetcher.fetch()`'s WHATWG `Response`, which Hono streams like any other.
 *
 *   npx tsx examples/hono.ts 3000 http://127.0.0.1:8080
 *   curl -r 0-99 http://127.0.0.1:3000/files/video.mp4
 *   curl -r 0-99 http://127.0.0.1:3000/fetch/video.mp4
 *
 * In your application, import from `slice-fetch` instead of `../src/index.js`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type HttpBindings, serve } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { createSliceFetcher, createSliceHandler } from '../src/index.js';
import type { RunningExample } from './http-server.js';

/**
 * Starts a Hono app on `port` (0 picks a free one) serving `upstream` under `/files` (the handler) and `/fetch`
 * (a `Response` from the fetcher); both share one fetcher, so one cache.
 *
 * @example
 * const app = await start(0, 'http://127.0.0.1:8080');
 * await fetch(`${app.url}/fetch/big.bin`, { headers: { range: 'bytes=0-99' } });
 * await app.close();
 */
export async function start(port: number, upstream: string): Promise<RunningExample> {
  const fetcher = createSliceFetcher({ sliceSize: 1024 * 1024 });
  const handler = createSliceHandler({ upstream, fetcher });
  const base = upstream.replace(/\/+$/, '');
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.on(['GET', 'HEAD'], '/fetch/*', (c) => {
    const path = c.req.path.replace(/^\/fetch/, '');
    const range = c.req.header('range');
    // A client's Range goes among the headers: judged by RFC 9110, like the handler does.
    return fetcher.fetch(`${base}${path}`, {
      method: c.req.method === 'HEAD' ? 'HEAD' : 'GET',
      headers: range === undefined ? {} : { range },
      signal: c.req.raw.signal,
    });
  });

  // `/files` is answered in front of Hono's router: Hono runs a HEAD as its GET route and wraps the result in a
  // new Response, which drops RESPONSE_ALREADY_SENT's mark, so @hono/node-server would write a second head.
  const server = serve({
    fetch: (request, env) => {
      if (!new URL(request.url).pathname.startsWith('/files/')) return app.fetch(request, env);
      const { incoming, outgoing } = env as HttpBindings; // HTTP/1.1: serve() was given no HTTP/2 server
      incoming.url = (incoming.url ?? '/').replace(/^\/files/, ''); // the rest maps onto the upstream
      handler(incoming, outgoing);
      return RESPONSE_ALREADY_SENT;
    },
    port,
    hostname: '127.0.0.1',
  });
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      if ('closeAllConnections' in server) server.closeAllConnections();
      server.close();
      await handler.close();
      await fetcher.close(); // given to the handler, so the handler leaves it to us
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start(Number(process.argv[2] ?? 3000), process.argv[3] ?? 'http://127.0.0.1:8080');
  console.log(`hono on ${running.url}`);
}
