/**
 * @module Example: slice-fetch as Express middleware. Mounted under `/files`, so `GET /files/a.bin` fetches
 * `upstream/a.bin` (Express strips the mount point from `req.url`); other routes keep working as usual.
 *
 *   npx tsx examples/express.ts 3000 http://127.0.0.1:8080
 *   curl -r 0-99 http://127.0.0.1:3000/files/video.mp4
 *
 * In your application, import from `slice-fetch` instead of `../src/index.js`.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { createSliceHandler } from '../src/index.js';
import type { RunningExample } from './http-server.js';

/**
 * Starts an Express app on `port` (0 picks a free one) with the slicing middleware on `/files`.
 *
 * @example
 * const app = await start(0, 'http://127.0.0.1:8080');
 * await fetch(`${app.url}/files/big.bin`, { headers: { range: 'bytes=0-99' } });
 * await app.close();
 */
export async function start(port: number, upstream: string): Promise<RunningExample> {
  const handler = createSliceHandler({ upstream, sliceSize: 1024 * 1024 });
  const app = express();
  app.get('/healthz', (_req, res) => {
    res.send('ok');
  });
  // The handler is `(req, res, next)`: requests outside its `include` patterns go on to `next()`.
  app.use('/files', handler);
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

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start(Number(process.argv[2] ?? 3000), process.argv[3] ?? 'http://127.0.0.1:8080');
  console.log(`express on ${running.url}/files/`);
}
