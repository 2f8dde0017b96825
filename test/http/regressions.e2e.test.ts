/**
 * Regressions at the edges of the handler and of sharing, found by reading the code as an adversary would: a
 * HEAD that crashed the process, a stored header that could not be sent, a send timeout that cut slow readers,
 * cookies of answers passed through, learning serialised across processes, a private answer displacing the
 * shared metadata, the reference placed by an unsorted range, and a `Response` dropped unread. Each failed
 * before its fix.
 */
import { getEventListeners, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler, type SliceHandlerOptions } from '../../src/http/index.js';
import { type CacheStorage, memoryStorage } from '../../src/index.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import {
  boundaryOf,
  closeFetchers,
  drain,
  KiB,
  MiB,
  makeFetcher,
  parseMultipart,
  quiescent,
} from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { type OriginLogEntry, startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SLICE = 64 * KiB;
let origin: TestOrigin;
let redis: TestRedisServer;
let prefixes = 0;
const stores: RedisStorage[] = [];
const client = new Agent({ keepAliveTimeout: 10 });
const servers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [origin, redis] = await Promise.all([startOrigin(), startRedisServer()]);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((close) => close()));
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  origin.clearFaults();
  origin.configure({ throttleBytesPerSecond: 0 });
  origin.resetStats();
});
afterAll(async () => {
  await client.close();
  await Promise.all([origin.close(), redis.dispose()]);
});

async function startProxy(options: SliceHandlerOptions): Promise<{ port: number }> {
  const handler = createSliceHandler(options);
  const server: Server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await handler.close();
  });
  return { port: (server.address() as AddressInfo).port };
}

function redisStore(): RedisStorage {
  const store = redisStorage({ url: redis.url, prefix: `r2-${++prefixes}:` });
  stores.push(store);
  return store;
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('nothing a client does crashes the host process (R21)', () => {
  it('answers HEAD for a path the handler does not slice without an uncaught error', async () => {
    origin.setObject('/r2/excluded.txt', { size: 1000 });
    const proxy = await startProxy({ upstream: origin.url('/'), sliceSize: SLICE, exclude: ['\\.txt$'] });
    const errors: unknown[] = [];
    const monitor = (error: unknown): void => {
      errors.push(error);
    };
    process.on('uncaughtExceptionMonitor', monitor);
    try {
      const res = await request(`http://127.0.0.1:${proxy.port}/r2/excluded.txt`, {
        method: 'HEAD',
        dispatcher: client,
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      await turns(20);
    } finally {
      process.off('uncaughtExceptionMonitor', monitor);
    }
    expect(errors).toEqual([]);
  });
});

describe('answers passed through to one client keep their Set-Cookie', () => {
  it('forwards Set-Cookie of an origin answer that ignored Range (streamed to its one requester)', async () => {
    const path = '/r2/pass-cookie.bin';
    origin.setObject(path, {
      size: 2 * SLICE,
      headers: { 'set-cookie': ['session=abc; HttpOnly', 'theme=dark'] },
    });
    origin.addFault({ path, times: Number.POSITIVE_INFINITY, fault: { type: 'ignore-range' } });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const res = await fetcher.fetch(origin.url(path));
    expect(res.headers.get('x-slice-cache')).toBe('PASS');
    await drain(res);
    expect(res.headers.getSetCookie()).toEqual(['session=abc; HttpOnly', 'theme=dark']);
  });
});

describe('sendTimeoutMs counts time without progress, not time to drain a whole slice (R20)', () => {
  it('does not disconnect a client that reads steadily, just slower than one slice per sendTimeoutMs', async () => {
    const path = '/r2/steady.bin';
    const size = 20 * MiB;
    const { seed } = origin.setObject(path, { size });
    const proxy = await startProxy({
      upstream: origin.url('/'),
      sliceSize: 16 * MiB,
      concurrency: 1,
      sendTimeoutMs: 1000,
    });
    // Warm: the slow client below then waits on nothing but its own reading.
    const warm = await request(`http://127.0.0.1:${proxy.port}${path}`, { dispatcher: client });
    await warm.body.arrayBuffer();
    // 64 KiB every 10 ms (~6.5 MB/s): the client never goes 1 s without taking bytes, but one 16 MiB slice
    // takes it longer than that to drain.
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    socket.pause();
    const received: Buffer[] = [];
    let longestGapMs = 0;
    let last = performance.now();
    const pace = setInterval(() => {
      const chunk: Buffer | null = socket.read(Math.min(64 * KiB, socket.readableLength));
      const now = performance.now();
      if (chunk !== null) {
        received.push(chunk);
        longestGapMs = Math.max(longestGapMs, now - last);
        last = now;
      }
    }, 10);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    clearInterval(pace);
    const rest: Buffer | null = socket.read();
    if (rest !== null) received.push(rest);
    const raw = Buffer.concat(received);
    const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    expect(longestGapMs).toBeLessThan(1000);
    expect(body.length).toBe(size);
    expect(body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });
});

describe('learning across processes (R16) does not serialise requests that cannot share', () => {
  it('sends a second Vary variant to the origin while the first variant is still being learnt (one process, Redis)', async () => {
    const path = '/r2/variants.bin';
    origin.setObject(path, {
      size: 4 * SLICE,
      vary: { header: 'accept-language', seeds: { fr: 11, de: 12 } },
    });
    const fetcher = makeFetcher({ cache: redisStore(), sliceSize: SLICE, concurrency: 2 });
    // The reference bodies trickle (~2 s per slice); heads arrive at once.
    origin.configure({ throttleBytesPerSecond: 32 * KiB });
    let frReference: OriginLogEntry | undefined;
    let frReferenceDone = false;
    origin.on('response', (entry) => {
      if (entry === frReference) frReferenceDone = true;
    });
    const fr = fetcher.fetch(origin.url(path), { headers: { 'accept-language': 'fr' } });
    fr.catch(() => {});
    await origin.waitFor((s) => s.log.some((e) => e.headers['accept-language'] === 'fr' && e.status === 206));
    frReference = origin.stats.log.find((e) => e.headers['accept-language'] === 'fr');
    const de = fetcher.fetch(origin.url(path), { headers: { 'accept-language': 'de' } });
    de.catch(() => {});
    await origin.waitFor((s) => s.log.some((e) => e.headers['accept-language'] === 'de'));
    // de's variant cannot use fr's answer: it must not wait for fr's whole reference slice to be stored.
    expect(frReferenceDone).toBe(false);
    origin.configure({ throttleBytesPerSecond: 0 });
    const [a, b] = await Promise.all([fr.then(drain), de.then(drain)]);
    expect(a.bytes.equals(contentBytes(11, 0, 4 * SLICE - 1))).toBe(true);
    expect(b.bytes.equals(contentBytes(12, 0, 4 * SLICE - 1))).toBe(true);
  });
});

/**
 * An origin that answers `Cache-Control: private` to requests with `Authorization` and `max-age=0` (stored,
 * revalidated every time) to the others; one version (`"v1"`), Range and If-None-Match per RFC 9110.
 */
async function privateForCredentialsOrigin(
  size: number,
  seed: number,
): Promise<{ url: string; log: string[] }> {
  const log: string[] = [];
  const server: Server = createServer((req, res) => {
    log.push(
      `${req.headers.authorization === undefined ? 'anon' : 'auth'} ${req.headers['if-none-match'] ?? '-'}`,
    );
    const headers = {
      etag: '"v1"',
      'accept-ranges': 'bytes',
      'cache-control': req.headers.authorization === undefined ? 'max-age=0' : 'private',
    };
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = match === null ? 0 : Number(match[1]);
    const end = match === null || match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
    res.writeHead(match === null ? 200 : 206, {
      ...headers,
      'content-length': end - start + 1,
      ...(match === null ? {} : { 'content-range': `bytes ${start}-${end}/${size}` }),
    });
    res.end(contentBytes(seed, start, end));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/r2/private.bin`, log };
}

describe('cacheAuthorized and answers marked private (R19)', () => {
  it('keeps revalidating the shared version after an authorized request was answered private', async () => {
    const size = 4 * SLICE;
    const { url, log } = await privateForCredentialsOrigin(size, 33);
    const fetcher = makeFetcher({ sliceSize: SLICE, cachePolicy: { cacheAuthorized: true } });
    const anonymous = async (): Promise<string | null> => {
      const res = await fetcher.fetch(url);
      const { bytes } = await drain(res);
      expect(bytes.equals(contentBytes(33, 0, size - 1))).toBe(true);
      return res.headers.get('x-slice-cache');
    };
    expect(await anonymous()).toBe('MISS');
    await quiescent(fetcher);
    expect(await anonymous()).toBe('REVALIDATED');
    const authorized = await fetcher.fetch(url, { headers: { authorization: 'Bearer a' } });
    await drain(authorized);
    log.length = 0;
    // The shared version is still stored and still "v1": one conditional request is all it needs.
    expect(await anonymous()).toBe('REVALIDATED');
    expect(log).toEqual(['anon "v1"']);
  });
});

describe('a Response whose body is dropped unread (R21: clean aborts)', () => {
  it('does not keep the request registered, nor its listener on the caller signal, once the Response is collected', async () => {
    const path = '/r2/dropped.bin';
    origin.setObject(path, { size: 8 * SLICE });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4 });
    const longLived = new AbortController();
    const collected = await (async () =>
      new WeakRef(await fetcher.fetch(origin.url(path), { signal: longLived.signal })))();
    // Nothing of the caller holds the Response any more: let the collector take it.
    for (let i = 0; i < 20; i++) {
      await turns(2);
      gc();
    }
    await turns(2);
    expect(collected.deref()).toBeUndefined();
    for (let i = 0; i < 20 && fetcher.stats().activeRequests > 0; i++) {
      gc();
      await turns(2);
    }
    expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(0);
    expect(fetcher.stats().activeRequests).toBe(0);
  });

  it("keeps streaming to a caller that kept only the body's reader and let the Response be collected", async () => {
    const path = '/r2/reader-only.bin';
    const size = 16 * SLICE + 3;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    let response: WeakRef<Response> | undefined;
    const reader = await (async () => {
      const res = await fetcher.fetch(origin.url(path));
      response = new WeakRef(res);
      return (res.body as ReadableStream<Uint8Array>).getReader();
    })();
    const chunks: Uint8Array[] = [];
    for (let i = 0; ; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      if (i === 1) {
        // No deref() in between: it would keep the Response alive for the rest of that job.
        for (let j = 0; j < 20; j++) {
          await turns(2);
          gc();
        }
        await turns(2);
        expect(response?.deref()).toBeUndefined(); // the Response went; the body must not
      }
    }
    expect(Buffer.concat(chunks).equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });
});

describe('the reference slice is the first slice the body reads (one fetch per slice)', () => {
  it('fetches each slice of a cold multipart request whose ranges are not in ascending order once, and answers its parts in that order', async () => {
    const path = '/r2/descending.bin';
    const size = 4 * SLICE;
    const { seed } = origin.setObject(path, { size, cacheControl: 'no-store' });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    // Parts go out in the order asked (RFC 9110 §15.3.7.2), and the reference is the first one's slice.
    const res = await fetcher.fetch(origin.url(path), { range: `bytes=${2 * SLICE}-${2 * SLICE + 9},0-9` });
    expect(res.status).toBe(206);
    const { bytes, error } = await drain(res);
    expect(error).toBeUndefined();
    const parts = parseMultipart(bytes, boundaryOf(res.headers.get('content-type') as string));
    expect(parts.map((part) => part.body)).toEqual([
      contentBytes(seed, 2 * SLICE, 2 * SLICE + 9),
      contentBytes(seed, 0, 9),
    ]);
    expect(Object.fromEntries(origin.rangeCounts(path))).toEqual({
      [`0-${SLICE - 1}`]: 1,
      [`${2 * SLICE}-${3 * SLICE - 1}`]: 1,
    });
  });
});

describe('a store that returns wrong bytes changes nothing (a failing cache), and never crashes the handler (R21)', () => {
  it('answers from the origin when a stored metadata entry carries a header value no response may hold', async () => {
    const path = '/r2/tampered-meta.bin';
    const size = 2 * SLICE;
    const { seed } = origin.setObject(path, { size, contentType: 'video/mp4' });
    const inner = memoryStorage();
    // Metadata entries come back with one byte flipped: `video/mp4` → `video\nmp4` ('/' 0x2f → '\n' 0x0a is
    // three bits). Slices are untouched.
    const flipped: CacheStorage = {
      inProcess: true,
      has: (key) => inner.has?.(key) ?? false,
      get: (key, range, options) => {
        const value = inner.get(key, range, options) as Uint8Array[] | undefined;
        if (value === undefined || !key.endsWith('.meta')) return value;
        return [Buffer.from(Buffer.concat(value).toString('utf8').replace('video/mp4', 'video\\nmp4'))];
      },
      set: (key, value, meta) => inner.set(key, value, meta),
      delete: (key) => inner.delete(key),
      purgeObject: (objectKey) => inner.purgeObject(objectKey),
      stats: () => inner.stats(),
      close: () => inner.close(),
    };
    // One fetcher fills the store; a second one — another worker on the same store — reads its metadata.
    const first = makeFetcher({ sliceSize: SLICE, cache: flipped });
    await drain(await first.fetch(origin.url(path)));
    await quiescent(first);
    const proxy = await startProxy({
      upstream: origin.url('/'),
      fetcher: makeFetcher({ sliceSize: SLICE, cache: flipped }),
    });
    const errors: unknown[] = [];
    const monitor = (error: unknown): void => {
      errors.push(error);
    };
    // Without a listener of its own, Node 20 turns an unhandled rejection into an uncaught exception: a crash.
    process.on('uncaughtExceptionMonitor', monitor);
    process.on('unhandledRejection', monitor);
    let answer: { status: number; body: Buffer } | undefined;
    try {
      const res = await request(`http://127.0.0.1:${proxy.port}${path}`, {
        dispatcher: client,
        headersTimeout: 2000,
      });
      answer = { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    } catch {
      // no answer at all: the handler threw before writing one
    } finally {
      await turns(20);
      process.off('uncaughtExceptionMonitor', monitor);
      process.off('unhandledRejection', monitor);
    }
    expect(errors).toEqual([]);
    expect(answer?.status).toBe(200);
    expect(answer?.body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });
});
