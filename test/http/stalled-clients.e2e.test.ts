/**
 * Stalled clients through `createSliceHandler` over real sockets (R20, P28). A regression test: clients that
 * opened huge downloads and then stopped reading kept the global byte budget (`maxBufferedBytes`) reserved for
 * good, so a small range of a cached object — which needs one slice at most — waited behind them. The handler
 * must answer that warm range while every stalled client is still connected and still stalled, never reserve
 * more than the budget, and drop a client that reads nothing for `sendTimeoutMs`.
 *
 * A client here is a raw socket that sends its GET, reads the first chunk (the response head), and then pauses:
 * the proxy's writes back up and its responses wait for a `'drain'` that never comes. The tests wait for that
 * state — every stalled response waiting for `'drain'` (`writableNeedDrain`) and, where it matters, a budget
 * with no room for one more slice — by checking it every few milliseconds; they never wait for a time. Times
 * are printed for the record, never asserted.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler, type SliceHandler, type SliceHandlerOptions } from '../../src/http/index.js';
import type { CacheStorage } from '../../src/ports.js';
import { fsStorage } from '../../src/storage/fs.js';
import { quiescent } from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

let origin: TestOrigin;
/** Everything a test opened, closed after it whatever happened. */
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  origin.clearFaults();
  await origin.waitForNoInFlight();
});
afterAll(async () => {
  await origin.close();
});

type StoreKind = 'memory' | 'fs';

describe('60 stalled 1 GiB downloads (R20, P28)', () => {
  for (const store of ['memory', 'fs'] as const) {
    const title =
      store === 'memory'
        ? 'answers a warm 4 KiB range from the memory store with the right bytes while 60 clients stall on 1 GiB downloads with the budget full'
        : 'answers a warm 4 KiB range that is only on disk (not resident in memory) with the right bytes while 60 clients stall with the budget full, by reclaiming idle readers';
    it(title, async () => {
      const MAX_BUFFERED = 128 * MiB; // the default, stated so the pressure check below is explicit
      const proxy = await startProxy({ upstream: origin.url('/') }, store, 512 * MiB);
      expect(proxy.handler.fetcher.config).toMatchObject({
        concurrency: 8,
        sliceSize: MiB,
        maxBufferedBytes: MAX_BUFFERED,
      });
      const warm = origin.setObject(`/stall/${store}/warm.bin`, { size: 4 * MiB });
      await warmUp(proxy, warm.path, 4);

      const sampler = budgetSampler(proxy.handler);
      const paths = Array.from({ length: 60 }, (_, i) => {
        const path = `/stall/${store}/big-${i}.bin`;
        origin.setObject(path, { size: GiB });
        return path;
      });
      const clients = await Promise.all(paths.map((path) => stallingGet(proxy, path)));
      for (const client of clients) expect(client.head).toMatch(/^HTTP\/1\.1 200 /);
      const stalled = paths.map((path) => proxy.responseTo(path));
      // Stalled: every response waits for a 'drain', nothing moves (no slice in flight), and the budget has no
      // room for one more slice — only a reclaim can make room now.
      await until(() => {
        sampler.sample();
        const { bufferedBytes, inFlightSlices } = proxy.handler.fetcher.stats();
        return (
          stalled.every((res) => res.writableNeedDrain) &&
          inFlightSlices === 0 &&
          bufferedBytes + MiB > MAX_BUFFERED
        );
      });

      const before = origin.stats.byPath.get(warm.path) ?? 0;
      const first = 1_234_567;
      const started = performance.now();
      const res = await get(proxy, warm.path, { range: `bytes=${first}-${first + 4 * KiB - 1}` });
      const ms = performance.now() - started;
      console.log(
        `[P28] warm 4 KiB range under 60 stalled 1 GiB clients (${store} store): ${ms.toFixed(1)} ms, budget ${proxy.handler.fetcher.stats().bufferedBytes / MiB} MiB of ${MAX_BUFFERED / MiB}`,
      );
      expect(res.status).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${first}-${first + 4 * KiB - 1}/${4 * MiB}`);
      expect(res.body.equals(contentBytes(warm.seed, first, first + 4 * KiB - 1))).toBe(true);
      expect(res.headers['x-slice-cache']).toBe('HIT');
      expect(origin.stats.byPath.get(warm.path) ?? 0).toBe(before);
      // …and all 60 still stall: connected, not finished, not dropped.
      for (const [i, res] of stalled.entries()) {
        expect({ i, ended: res.writableEnded, destroyed: res.destroyed }).toEqual({
          i,
          ended: false,
          destroyed: false,
        });
        expect(clients[i]?.socket.destroyed).toBe(false);
      }
      sampler.stop();
      expect(Math.max(...sampler.samples)).toBeLessThanOrEqual(MAX_BUFFERED);
      expect(proxy.handler.fetcher.stats().peakBufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED);
    });
  }
});

describe('sendTimeoutMs (R20)', () => {
  it('disconnects a client that reads nothing for sendTimeoutMs, then holds no budget and no origin request', async () => {
    const proxy = await startProxy({ upstream: origin.url('/'), sendTimeoutMs: 300 }, 'memory');
    const path = '/send-timeout/big.bin';
    origin.setObject(path, { size: GiB });
    const client = await stallingGet(proxy, path);
    expect(client.head).toMatch(/^HTTP\/1\.1 200 /);
    const res = proxy.responseTo(path);
    // The proxy gives up on the client: its response closes unfinished.
    if (!res.destroyed) await once(res, 'close');
    expect(res.writableFinished).toBe(false);
    // The client sees its connection end before the body did (it reads only now, to find out).
    const received = await readToClose(client);
    expect(received).toBeLessThan(GiB);
    await origin.waitForNoInFlight();
    const stats = await quiescent(proxy.handler.fetcher);
    expect(stats.bufferedBytes).toBe(0);
    expect(stats.activeRequests).toBe(0);
    expect(stats.inFlightSlices).toBe(0);
    expect(origin.stats.inFlight).toBe(0);
  });
});

describe('stalls do not delay warm hits (P28)', () => {
  it('answers a warm small range right while 1–30 clients stall at random offsets of a cold or warm object', async () => {
    const SIZE = 64 * MiB;
    const MAX_BUFFERED = 16 * MiB;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: SIZE - 1 }), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        fc.constantFrom<StoreKind>('memory', 'fs'),
        fc.nat({ max: 2 * MiB - 4 * KiB }),
        async (offsets, bigWarm, store, warmFirst) => {
          const tag = `/p28/${run++}`;
          const proxy = await startProxy(
            { upstream: origin.url('/'), sliceSize: MiB, maxBufferedBytes: MAX_BUFFERED },
            store,
            256 * MiB,
          );
          try {
            const small = origin.setObject(`${tag}/small.bin`, { size: 2 * MiB });
            await warmUp(proxy, small.path, 2);
            const big = origin.setObject(`${tag}/big.bin`, { size: SIZE });
            if (bigWarm) await warmUp(proxy, big.path, SIZE / MiB);

            const sampler = budgetSampler(proxy.handler);
            const clients = await Promise.all(
              offsets.map((offset) => stallingGet(proxy, big.path, `bytes=${offset}-`)),
            );
            for (const client of clients) expect(client.head).toMatch(/^HTTP\/1\.1 206 /);
            const stalled = proxy.responsesTo(big.path);
            expect(stalled).toHaveLength(offsets.length + (bigWarm ? 1 : 0));
            // A client close to the end may have been sent everything already: it is stalled all the same.
            await until(() => {
              sampler.sample();
              return (
                stalled.every((res) => res.writableNeedDrain || res.writableFinished) &&
                proxy.handler.fetcher.stats().inFlightSlices === 0
              );
            });

            const before = origin.stats.byPath.get(small.path) ?? 0;
            const res = await get(proxy, small.path, {
              range: `bytes=${warmFirst}-${warmFirst + 4 * KiB - 1}`,
            });
            expect(res.status).toBe(206);
            expect(res.body.equals(contentBytes(small.seed, warmFirst, warmFirst + 4 * KiB - 1))).toBe(true);
            expect(res.headers['x-slice-cache']).toBe('HIT');
            expect(origin.stats.byPath.get(small.path) ?? 0).toBe(before);
            for (const client of clients) expect(client.socket.destroyed).toBe(false);
            sampler.stop();
            expect(Math.max(...sampler.samples)).toBeLessThanOrEqual(MAX_BUFFERED);
            expect(proxy.handler.fetcher.stats().peakBufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED);
          } finally {
            for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
            await origin.waitForNoInFlight();
          }
        },
      ),
      { numRuns: 6 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

interface Proxy {
  readonly port: number;
  readonly handler: SliceHandler;
  /** The server's response to the only request for `path` so far. */
  responseTo(path: string): ServerResponse;
  /** The server's responses to every request for `path` so far. */
  responsesTo(path: string): ServerResponse[];
}

/**
 * Serves the handler on 127.0.0.1 (with slice-proxy's 1 MiB high-water mark) over a memory store (the
 * default) or a fresh fs store of `maxBytes` in a temporary directory; closed after the test.
 */
async function startProxy(
  options: SliceHandlerOptions,
  store: StoreKind,
  maxBytes = 256 * MiB,
): Promise<Proxy> {
  let cache: CacheStorage | undefined;
  let dir: string | undefined;
  if (store === 'fs') {
    dir = mkdtempSync(join(tmpdir(), 'slice-stalled-'));
    cache = fsStorage({ dir, maxBytes });
  }
  const handler = createSliceHandler(cache === undefined ? options : { ...options, cache });
  const seen: { req: IncomingMessage; res: ServerResponse }[] = [];
  const server = createServer({ highWaterMark: MiB }, (req, res) => {
    seen.push({ req, res });
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await handler.close();
    await cache?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  const responsesTo = (path: string) => seen.filter(({ req }) => req.url === path).map(({ res }) => res);
  return {
    port: (server.address() as AddressInfo).port,
    handler,
    responsesTo,
    responseTo(path) {
      const all = responsesTo(path);
      if (all.length !== 1) throw new Error(`expected one request for ${path}, saw ${all.length}`);
      return all[0] as ServerResponse;
    },
  };
}

/**
 * Reads `path` whole through the proxy once and waits until its `slices` slices are in the store (disk writes
 * land after the response), so later requests for it are warm.
 */
async function warmUp(proxy: Proxy, path: string, slices: number): Promise<void> {
  const stored = proxy.handler.fetcher.stats().cacheStores;
  const res = await get(proxy, path);
  expect(res.status).toBe(200);
  expect(res.headers['x-slice-cache']).toBe('MISS');
  await until(() => proxy.handler.fetcher.stats().cacheStores >= stored + slices);
}

interface StalledClient {
  readonly socket: Socket;
  /** The first chunk the client read: the response head (and whatever body came with it). */
  readonly head: string;
  /** Bytes read so far, the head included. */
  readonly bytes: number;
}

/** Sends a GET on a fresh socket, reads the first chunk and then reads nothing more (the socket is paused). */
function stallingGet(proxy: Proxy, path: string, range?: string): Promise<StalledClient> {
  const socket = connect(proxy.port, '127.0.0.1');
  socket.on('error', () => {}); // the proxy may reset it when it gives up
  cleanups.push(() => {
    socket.destroy();
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${range === undefined ? '' : `Range: ${range}\r\n`}\r\n`);
  return new Promise((resolve, reject) => {
    socket.once('close', () => reject(new Error(`${path}: closed before the head`)));
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve({ socket, head: chunk.toString('latin1', 0, 200), bytes: chunk.length });
    });
  });
}

/** Resumes a stalled client and resolves how many body bytes it got once its connection has closed. */
async function readToClose(client: StalledClient): Promise<number> {
  const closed = once(client.socket, 'close');
  let bytes = client.bytes;
  client.socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  client.socket.resume();
  await closed;
  const headEnd = client.head.indexOf('\r\n\r\n');
  return bytes - (headEnd + 4);
}

/** Samples `stats().bufferedBytes` every few milliseconds (and on demand) until stopped. */
function budgetSampler(handler: SliceHandler): { samples: number[]; sample(): void; stop(): void } {
  const samples: number[] = [];
  const sample = (): void => {
    samples.push(handler.fetcher.stats().bufferedBytes);
  };
  const timer = setInterval(sample, 2);
  cleanups.push(() => clearInterval(timer));
  return { samples, sample, stop: () => clearInterval(timer) };
}

/**
 * Resolves once `test()` holds, checking it every few milliseconds: a wait for a state, not for a time (the
 * test's timeout bounds it).
 */
async function until(test: () => boolean): Promise<void> {
  while (!test()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const agent = new Agent({ keepAliveTimeout: 10 });
afterAll(() => agent.close());

async function get(
  proxy: Proxy,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const res = await request(`http://127.0.0.1:${proxy.port}${path}`, { headers, dispatcher: agent });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}
