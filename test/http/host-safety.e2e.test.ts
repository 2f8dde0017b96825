/**
 * Nothing another layer does to the response can crash the host process (R21): a server that hands the request
 * to the handler and then answers it itself (`res.writeHead(503)`), as a framework that sent its own head does,
 * must see no uncaught exception and no unhandled rejection, whatever the handler was about to send — a cold
 * sliced GET, a HEAD, a path passed through, a PURGE.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler, type SliceHandler } from '../../src/http/index.js';
import { KiB, quiescent } from '../engine/e2e-helpers.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const SLICE = 64 * KiB;
let origin: TestOrigin;
const client = new Agent({ keepAliveTimeout: 10 });
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  origin.resetStats();
});
afterAll(async () => {
  await client.close();
  await origin.close();
});

/** A server that calls the handler, then answers 503 itself before the handler can. */
async function startPreemptingServer(): Promise<{ port: number; handler: SliceHandler }> {
  const handler = createSliceHandler({
    upstream: origin.url('/'),
    sliceSize: SLICE,
    exclude: ['\\.txt$'],
    purge: { token: 't' },
    onError: () => {},
  });
  const server: Server = createServer((req, res) => {
    handler(req, res);
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('busy');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await handler.close();
  });
  return { port: (server.address() as AddressInfo).port, handler };
}

describe('a response another layer already answered (R21)', () => {
  it.each([
    ['GET of a cold sliced object', 'GET', '/safety/video.bin', {}, true],
    [
      'ranged GET of a cold sliced object',
      'GET',
      '/safety/ranged.bin',
      { range: 'bytes=70000-140000' },
      true,
    ],
    ['HEAD of a sliced object', 'HEAD', '/safety/head.bin', {}, true],
    ['GET of an excluded path (passed through)', 'GET', '/safety/notes.txt', {}, true],
    ['POST (passed through)', 'POST', '/safety/upload.bin', {}, true],
    ['PURGE', 'PURGE', '/safety/video.bin', { authorization: 'Bearer t' }, false],
  ] as const)(
    '%s: the client gets the 503, the process nothing uncaught',
    async (_name, method, path, headers, upstream) => {
      for (const p of ['/safety/video.bin', '/safety/ranged.bin', '/safety/head.bin', '/safety/notes.txt'])
        origin.setObject(p, { size: 5 * SLICE + 17 });
      const server = await startPreemptingServer();
      const uncaught: unknown[] = [];
      const record = (error: unknown): void => {
        uncaught.push(error);
      };
      process.on('uncaughtExceptionMonitor', record);
      process.on('unhandledRejection', record);
      try {
        const res = await request(`http://127.0.0.1:${server.port}${path}`, {
          method,
          headers,
          body: method === 'POST' ? 'x' : undefined,
          dispatcher: client,
        });
        expect(res.statusCode).toBe(503);
        await res.body.dump();
        // The handler's own work ends — its upstream request answered, the fetcher idle — without throwing.
        if (upstream) await origin.waitFor((s) => s.requests > 0 && s.inFlight === 0);
        await quiescent(server.handler.fetcher);
        for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      } finally {
        process.off('uncaughtExceptionMonitor', record);
        process.off('unhandledRejection', record);
      }
      expect(uncaught).toEqual([]);
    },
  );
});
