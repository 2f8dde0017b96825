/**
 * The handler's answer from memory (design.md "Small-range fast path") over real sockets: a warm request the
 * memory store can answer is written in one synchronous `writeHead(status, fields)` + `end`, and it must be
 * the very response the general path writes — status, every header field in the same order (but `Date`),
 * bytes, and `x-slice-cache` — for random ranges, HEADs and preconditions over random warm objects. A
 * `writeHead` wrapped by some middleware gets the head as a record, and sends the same response too.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler, type SliceHandlerOptions } from '../../src/http/index.js';
import { type CacheStorage, type Metrics, memoryStorage } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const KiB = 1024;
const SLICE = 64 * KiB;

let origin: TestOrigin;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  await origin.close();
});

/** The memory store as a store elsewhere would be: the general path reads it. */
function notInProcess(): CacheStorage {
  return { ...memoryStorage(), inProcess: false, checksummed: true };
}

/** A `writeHead` wrapped as middleware wraps it (on-headers, compression): the answer from memory sees a wrapper. */
function wrapWriteHead(res: ServerResponse): void {
  const native = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    return native.apply(this, args);
  } as ServerResponse['writeHead'];
}

interface Proxy {
  readonly port: number;
  /** Every hook call, in order, without timings. */
  readonly events: string[];
  /** Per request, whether its head was written before the handler returned (answered synchronously). */
  readonly synchronous: boolean[];
}

async function startProxy(options: Omit<SliceHandlerOptions, 'upstream'>, wrap = false): Promise<Proxy> {
  const events: string[] = [];
  const synchronous: boolean[] = [];
  const hooks: Metrics = {
    onRequestStart: (e) => events.push(`start ${e.requestId} ${e.range}`),
    onCacheHit: (e) => events.push(`hit ${e.index} ${e.bytes}`),
    onCacheMiss: (e) => events.push(`miss ${e.index}`),
    onBytes: (e) => events.push(`bytes ${e.source} ${e.bytes}`),
    onRequestEnd: (e) => events.push(`end ${e.requestId} ${e.status} ${e.outcome} ${e.bytes}`),
  };
  const handler = createSliceHandler({ upstream: origin.url('/'), hooks, ...options });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (wrap) wrapWriteHead(res);
    handler(req, res);
    synchronous.push(res.headersSent);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await handler.close();
  });
  return { port: (server.address() as AddressInfo).port, events, synchronous };
}

interface Answer {
  readonly status: number;
  /** Raw header fields in wire order, `Date` left out (it is the clock's). */
  readonly fields: readonly string[];
  readonly bytes: Buffer;
}

function get(port: number, path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () => {
        const fields: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          if (res.rawHeaders[i]?.toLowerCase() !== 'date')
            fields.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ status: res.statusCode ?? 0, fields, bytes: Buffer.concat(chunks) });
      });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('the handler’s answer from memory', () => {
  it('sends the same status, header fields in order, bytes, x-slice-cache and hooks as the general path, for random requests over random warm objects', async () => {
    const fast = await startProxy({ sliceSize: SLICE });
    const general = await startProxy({ sliceSize: SLICE, cache: notInProcess() });
    const wrapped = await startProxy({ sliceSize: SLICE }, true);
    const scenario = fc.record({
      size: fc.integer({ min: 0, max: 4 * SLICE }),
      first: fc.nat(),
      length: fc.nat({ max: SLICE + 100 }),
      kind: fc.constantFrom(
        'range',
        'range',
        'range',
        'whole',
        'head',
        'head-range',
        'suffix',
        'past-end',
        'malformed',
        'if-none-match',
        'if-match-other',
        'if-range-other',
      ),
      extra: fc.constantFrom<Record<string, string>>(
        {},
        { 'cache-control': 'public, max-age=60', 'x-origin': 'a' },
        // An upstream's own x-slice-cache: the handler's value replaces it where it stands.
        { 'x-slice-cache': 'MISS', 'content-language': 'fr' },
      ),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ size, first, length, kind, extra }) => {
        const path = `/fast-path/${run++}.bin`;
        const { seed, etag } = origin.setObject(path, { size, headers: extra });
        const start = size === 0 ? 0 : first % size;
        const headers: Record<string, string> = {};
        let method = 'GET';
        if (kind === 'range' || kind === 'head-range' || kind === 'if-range-other')
          headers.range = `bytes=${start}-${start + length}`;
        if (kind === 'suffix') headers.range = `bytes=-${length + 1}`;
        if (kind === 'past-end') headers.range = `bytes=${size + first}-`;
        if (kind === 'malformed') headers.range = `bytes=${start}-x`;
        if (kind === 'head' || kind === 'head-range') method = 'HEAD';
        if (kind === 'if-none-match') headers['if-none-match'] = etag as string;
        if (kind === 'if-match-other') headers['if-match'] = '"other"';
        if (kind === 'if-range-other') headers['if-range'] = '"other"';
        const answers: Answer[] = [];
        const events: string[][] = [];
        for (const proxy of [fast, general, wrapped]) {
          const warm = await get(proxy.port, path, {});
          expect(warm.status).toBe(200);
          proxy.events.length = 0;
          answers.push(await get(proxy.port, path, headers, method));
          // Slices a general read fetches in parallel report in any order: start, the rest sorted, end.
          const [start, ...rest] = proxy.events;
          const end = rest.pop();
          events.push([start ?? '', ...rest.sort(), end ?? '']);
        }
        const [viaFast, viaGeneral, viaWrapped] = answers as [Answer, Answer, Answer];
        expect(viaFast).toEqual(viaGeneral);
        expect(viaWrapped).toEqual(viaGeneral);
        expect(events[0]).toEqual(events[1]);
        expect(events[2]).toEqual(events[1]);
        expect(viaFast.fields.filter((f) => f.toLowerCase().startsWith('x-slice-cache:'))).toEqual([
          'x-slice-cache: HIT',
        ]);
        if (viaFast.status === 206 && kind === 'range') {
          const end = Math.min(start + length, size - 1);
          expect(viaFast.bytes.equals(contentBytes(seed, start, end))).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('answers a warm range within one slice at once, before the handler returns, and one across slices from the store too', async () => {
    const proxy = await startProxy({ sliceSize: SLICE });
    const path = '/fast-path/no-origin.bin';
    const { seed } = origin.setObject(path, { size: 3 * SLICE });
    await get(proxy.port, path, {});
    origin.resetStats();
    proxy.synchronous.length = 0;
    const within = await get(proxy.port, path, { range: `bytes=${SLICE + 1}-${SLICE + 4096}` });
    const across = await get(proxy.port, path, { range: `bytes=${SLICE - 10}-${SLICE + 10}` });
    expect(origin.stats.requests).toBe(0);
    expect(proxy.synchronous).toEqual([true, false]);
    expect(within.bytes.equals(contentBytes(seed, SLICE + 1, SLICE + 4096))).toBe(true);
    expect(across.bytes.equals(contentBytes(seed, SLICE - 10, SLICE + 10))).toBe(true);
    expect(within.fields).toContain('x-slice-cache: HIT');
    expect(across.fields).toContain('x-slice-cache: HIT');
  });
});
