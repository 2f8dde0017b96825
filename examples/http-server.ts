/**
 * @module Example: slice-fetch behind a plain `node:http` server. Every GET/HEAD is answered from aligned 1 MiB
 * slices of the upstream object, cached in memory; ranges, conditionals and HEAD work as RFC 9110 says.
 *
 *   npx tsx examples/http-server.ts 3000 http://127.0.0.1:8080
 *   curl -r 0-99 http://127.0.0.1:3000/video.mp4
 *
 * In your application, import from `slice-fetch` instead of `../src/index.js`.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createSliceHandler } from '../src/index.js';

/** A running example server. */
export interface RunningExample {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Stops listening and releases the handler's connections and cache. */
  close(): Promise<void>;
}

/**
 * Starts the server on `port` (0 picks a free one) in front of `upstream`.
 *
 * @example
 * const server = await start(0, 'http://127.0.0.1:8080');
 * await fetch(`${server.url}/big.bin`, { headers: { range: 'bytes=0-99' } });
 * await server.close();
 */
export async function start(port: number, upstream: string): Promise<RunningExample> {
  const handler = createSliceHandler({ upstream, sliceSize: 1024 * 1024 });
  // A 1 MiB write buffer lets each slice go to the socket in one piece.
  const server = createServer({ highWaterMark: 1024 * 1024 }, handler);
  server.listen(port, '127.0.0.1');
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
  console.log(`slicing proxy on ${running.url}`);
}
