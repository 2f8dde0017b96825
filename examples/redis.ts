/**
 * @module Example: a fleet-wide slice cache in Redis (`slice-fetch/redis`), with a small memory tier in front so
 * hot slices skip the network. Every proxy pointed at the same Redis shares the slices; if Redis goes down,
 * requests are served from the origin (the cache fails open).
 *
 *   redis-server &   # or any Redis 6+
 *   npx tsx examples/redis.ts 3000 http://127.0.0.1:8080 redis://127.0.0.1:6379
 *
 * In your application, import from `slice-fetch` and `slice-fetch/redis` instead of `../src/…`.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createSliceHandler, memoryStorage, tieredStorage } from '../src/index.js';
import { redisStorage } from '../src/storage/redis.js';
import type { RunningExample } from './http-server.js';

/**
 * Starts a slicing proxy on `port` whose slices live in Redis at `redisUrl` (behind 64 MiB of memory).
 *
 * @example
 * const proxy = await start(0, 'http://127.0.0.1:8080', 'redis://127.0.0.1:6379');
 * await proxy.close();
 */
export async function start(port: number, upstream: string, redisUrl: string): Promise<RunningExample> {
  const redis = redisStorage({ url: redisUrl, prefix: 'slices:' });
  const cache = tieredStorage([memoryStorage({ maxBytes: 64 * 1024 * 1024 }), redis]);
  const handler = createSliceHandler({ upstream, sliceSize: 1024 * 1024, cache });
  const server = createServer({ highWaterMark: 1024 * 1024 }, handler);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      server.close();
      await handler.close();
      await cache.close(); // a store you pass in is yours to close: the fetcher closes only stores it created
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [port = '3000', upstream = 'http://127.0.0.1:8080', redisUrl = 'redis://127.0.0.1:6379'] =
    process.argv.slice(2);
  const running = await start(Number(port), upstream, redisUrl);
  console.log(`slicing proxy on ${running.url}, slices in ${redisUrl}`);
}
