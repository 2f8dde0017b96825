/**
 * Case 5's server under test: `createSliceHandler()` in a plain `node:http` server, as README shows it — 1 MiB
 * slices, concurrency 8, a 256 MiB memory store — in front of the origin nginx. Bundled like the clients and
 * run as `node handler-server.mjs <json>`; prints `LISTENING <port>` once it accepts connections, and exits on
 * SIGTERM after closing the handler.
 *
 * @module
 */
import { createServer } from 'node:http';
import { createSliceHandler, memoryStorage } from '../../src/index.js';

/** The JSON argument of this server. */
export interface HandlerServerSpec {
  /** The origin's base URL, e.g. `http://127.0.0.1:8080/fast`. */
  readonly upstream: string;
  readonly sliceSize: number;
  readonly concurrency: number;
  readonly cacheBytes: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as HandlerServerSpec;
const handler = createSliceHandler({
  upstream: spec.upstream,
  sliceSize: spec.sliceSize,
  concurrency: spec.concurrency,
  cache: memoryStorage({ maxBytes: spec.cacheBytes }),
});
const server = createServer({ highWaterMark: 1024 * 1024 }, handler);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  handler.close().finally(() => process.exit(0));
});
