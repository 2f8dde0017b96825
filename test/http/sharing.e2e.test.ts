/**
 * Sharing scopes through `createSliceHandler` over real sockets (R19, P26). The handler forwards
 * `Authorization` and `Accept-Language` by default, so these are the scopes a proxy really sees. Guards against
 * regressions of the sharing work: a fill or a cached slice shared across credentials (an anonymous
 * client served a private answer's bytes), across `Vary` variants whose validators cannot tell them apart (one
 * language served another's bytes), and an `x-slice-cache` header that did not say what the origin did.
 *
 * Every request is counted at the test origin; `x-slice-cache` is checked against those counts: `HIT` exactly
 * when the origin saw no request for it, `MISS` exactly when every slice it needed came from the origin.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler, type SliceHandler, type SliceHandlerOptions } from '../../src/http/index.js';
import { makeGate } from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { privateObject as forbiddenUnlessToken } from '../support/scenarios.js';

const KiB = 1024;
const SLICE = 64 * KiB;
const TOKEN = 'Bearer t';

let origin: TestOrigin;
const agent = new Agent({ keepAliveTimeout: 10, connections: 16 });
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  origin.clearFaults();
});
afterAll(async () => {
  await agent.close();
  await origin.close();
});

/** The origin answers 403 to anyone without the token, and `private` content to the token holder. */
function privateObject(path: string, size: number): number {
  return forbiddenUnlessToken(origin, path, size, TOKEN);
}

describe('credentials through the handler (R19, P26)', () => {
  for (const cacheAuthorized of [false, true]) {
    it(`gives concurrent anonymous GETs 403 and no bytes and authorized GETs their exact bytes, in any order, cacheAuthorized ${cacheAuthorized}`, async () => {
      const proxy = await startProxy({
        sliceSize: SLICE,
        concurrency: 3,
        cachePolicy: { cacheAuthorized },
      });
      const path = `/r19/handler-private-${cacheAuthorized}.bin`;
      const size = 6 * SLICE + 99;
      const seed = privateObject(path, size);
      const wanted = fc.record({
        credential: fc.constantFrom<string | undefined>(TOKEN, undefined, 'Bearer other'),
        range: fc.option(fc.tuple(fc.nat({ max: size - 1 }), fc.nat({ max: 3 * SLICE })), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(wanted, { minLength: 2, maxLength: 8 }), async (requests) => {
          // Hold every origin answer until all the requests are inside the engine, so they overlap for sure.
          const gate = makeGate();
          origin.addFault({
            path,
            times: Number.POSITIVE_INFINITY,
            fault: { type: 'wait', until: gate.promise },
          });
          const started = proxy.handler.fetcher.stats().requests;
          const pending = Promise.all(
            requests.map(async ({ credential, range }) => {
              const headers: Record<string, string> = {};
              if (credential !== undefined) headers.authorization = credential;
              let first = 0;
              let last = size - 1;
              if (range !== undefined) {
                first = range[0];
                last = Math.min(size - 1, range[0] + range[1]);
                headers.range = `bytes=${first}-${last}`;
              }
              return { credential, range, first, last, ...(await get(proxy, path, headers)) };
            }),
          );
          await until(() => proxy.handler.fetcher.stats().requests >= started + requests.length);
          gate.open();
          for (const res of await pending) {
            if (res.credential === TOKEN) {
              expect(res.status).toBe(res.range === undefined ? 200 : 206);
              expect(res.body.equals(contentBytes(seed, res.first, res.last))).toBe(true);
            } else {
              expect(res.status).toBe(403);
              expect(res.body.toString()).toBe('forbidden');
            }
          }
          origin.clearFaults();
          privateObject(path, size); // the 403 rule again, without the spent gate
        }),
        { numRuns: 8 },
      );
    });
  }
});

describe('Vary through the handler (R19, P26)', () => {
  it('serves concurrent fr and en requests each its own variant, cold and warm, though size, Last-Modified and the absent ETag agree', async () => {
    const proxy = await startProxy({ sliceSize: SLICE, concurrency: 3 });
    const path = '/r19/handler-vary.bin';
    const size = 5 * SLICE + 3;
    const { seed: other } = origin.setObject(path, {
      size,
      etag: null,
      vary: { header: 'accept-language', seeds: { en: 1, fr: 2 } },
    });
    const seedOf = (language: string | undefined) => (language === 'en' ? 1 : language === 'fr' ? 2 : other);
    const languages = ['fr', 'en', 'fr', undefined, 'en', 'fr', 'en'];
    for (const round of ['cold', 'warm'] as const) {
      origin.resetStats();
      const results = await Promise.all(
        languages.map(async (language) => ({
          language,
          ...(await get(proxy, path, language === undefined ? {} : { 'accept-language': language })),
        })),
      );
      for (const { language, status, body, headers } of results) {
        expect({ round, language, status }).toEqual({ round, language, status: 200 });
        expect(body.equals(contentBytes(seedOf(language), 0, size - 1)), `${round} ${language}`).toBe(true);
        expect(headers.vary).toBe('accept-language');
        if (round === 'warm') expect(headers['x-slice-cache']).toBe('HIT');
      }
      // Cold, each variant's slices were asked for with that variant's header — all 6 of them; warm, nothing.
      // (Not "each once": concurrent requests of one variant behind another variant's reference fetch each
      // fetch that reference slice themselves, a coalescing gap but no leak.)
      if (round === 'warm') expect(origin.stats.requests).toBe(0);
      else {
        const asked = new Map<string, Set<string>>();
        for (const entry of origin.stats.log) {
          const language = String(entry.headers['accept-language'] ?? '(none)');
          asked.set(language, (asked.get(language) ?? new Set()).add(String(entry.range)));
        }
        const all = Array.from(
          { length: 6 },
          (_, i) => `bytes=${i * SLICE}-${Math.min((i + 1) * SLICE, size) - 1}`,
        );
        expect(
          Object.fromEntries([...asked].map(([language, ranges]) => [language, [...ranges].sort()])),
        ).toEqual({
          en: [...all].sort(),
          fr: [...all].sort(),
          '(none)': [...all].sort(),
        });
      }
    }
  });

  it('never serves a Vary: * object from the cache: every request, concurrent or not, reaches the origin', async () => {
    const proxy = await startProxy({ sliceSize: SLICE, concurrency: 2 });
    const path = '/r19/handler-vary-star.bin';
    const size = 2 * SLICE + 7;
    const { seed } = origin.setObject(path, { size, vary: '*' });
    origin.resetStats();
    const together = await Promise.all([1, 2, 3].map(() => get(proxy, path)));
    for (const res of together) {
      expect(res.body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
      expect(res.headers['x-slice-cache']).toBe('MISS');
    }
    expect(origin.stats.byPath.get(path)).toBe(3 * 3); // each fetched its 3 slices itself
    for (let i = 0; i < 3; i++) {
      origin.resetStats();
      const res = await get(proxy, path, { range: `bytes=10-${SLICE + 9}` });
      expect(res.status).toBe(206);
      expect(res.body.equals(contentBytes(seed, 10, SLICE + 9))).toBe(true);
      expect(res.headers['x-slice-cache']).toBe('MISS');
      expect(origin.stats.byPath.get(path)).toBe(2);
    }
  });
});

describe('x-slice-cache through the handler (R19)', () => {
  it('says MISS, HIT, PARTIAL and REVALIDATED exactly as the origin was asked, for GETs, ranges, 416 and HEAD', async () => {
    const proxy = await startProxy({ sliceSize: SLICE, concurrency: 3 });
    const size = 4 * SLICE + 10; // 5 slices
    origin.setObject('/r19/xsc-whole.bin', { size });
    origin.setObject('/r19/xsc-part.bin', { size });
    origin.setObject('/r19/xsc-416.bin', { size });
    origin.setObject('/r19/xsc-416-far.bin', { size });
    origin.setObject('/r19/xsc-head.bin', { size });
    // Stale as soon as it is stored: the next request revalidates it with one conditional request.
    origin.setObject('/r19/xsc-stale.bin', { size, cacheControl: 'max-age=0' });
    const cases: [name: string, path: string, init: Init, status: string | undefined][] = [
      ['a cold whole object', '/r19/xsc-whole.bin', {}, 'MISS'],
      ['the same object again', '/r19/xsc-whole.bin', {}, 'HIT'],
      [
        'a range of slices 1-2, cold',
        '/r19/xsc-part.bin',
        { range: `bytes=${SLICE}-${3 * SLICE - 1}` },
        'MISS',
      ],
      [
        'a range of slices 1-3, two of them cached',
        '/r19/xsc-part.bin',
        { range: `bytes=${SLICE + 5}-${4 * SLICE - 1}` },
        'PARTIAL',
      ],
      [
        'a range of slices 1-3 again',
        '/r19/xsc-part.bin',
        { range: `bytes=${SLICE}-${4 * SLICE - 1}` },
        'HIT',
      ],
      // The reference slice (slice 4) exists: the origin answers 206 and the engine finds the range past the end.
      ['a cold 416 inside the last slice', '/r19/xsc-416.bin', { range: `bytes=${size}-` }, 'MISS'],
      ['a warm 416', '/r19/xsc-416.bin', { range: `bytes=${size + 100}-` }, 'HIT'],
      // The reference slice (slice 6) is past the end: the origin itself answers 416.
      ['a cold 416 past the last slice', '/r19/xsc-416-far.bin', { range: `bytes=${6 * SLICE}-` }, 'MISS'],
      // An origin 416 teaches the engine no version (no validators), so this one asks the origin again: only
      // the truth rule applies. Once the object is learnt, the same range is a HIT.
      ['the same 416 again', '/r19/xsc-416-far.bin', { range: `bytes=${6 * SLICE}-` }, undefined],
      ['slice 0 of that object', '/r19/xsc-416-far.bin', { range: 'bytes=0-9' }, 'MISS'],
      ['a warm 416 past the last slice', '/r19/xsc-416-far.bin', { range: `bytes=${6 * SLICE}-` }, 'HIT'],
      ['a cold HEAD', '/r19/xsc-head.bin', { method: 'HEAD' }, 'MISS'],
      ['a warm HEAD', '/r19/xsc-head.bin', { method: 'HEAD' }, 'HIT'],
      ['a stale object, first fetch', '/r19/xsc-stale.bin', {}, 'MISS'],
      ['a stale object the origin confirms with 304', '/r19/xsc-stale.bin', {}, 'REVALIDATED'],
    ];
    for (const [name, path, init, status] of cases) {
      const seen = await countedRequest(proxy, path, size, init);
      if (status !== undefined) expect({ name, status: seen.header }).toEqual({ name, status });
      expect({ name, status: seen.header }).toEqual({ name, status: seen.truth });
    }
    // The revalidation was one conditional request answered 304, and no slice moved.
    expect(origin.stats.log.map((entry) => entry.status)).toEqual([304]);
  });

  it('matches what the origin did for every response in a random sequence of ranges, 416s and HEADs', async () => {
    let run = 0;
    const step = fc.record({
      first: fc.nat({ max: 7 * SLICE }),
      length: fc.nat({ max: 4 * SLICE }),
      head: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const proxy = await startProxy({ sliceSize: SLICE, concurrency: 3 });
        const path = `/r19/xsc-random-${run++}.bin`;
        const size = 6 * SLICE + 123;
        const { seed } = origin.setObject(path, { size });
        for (const { first, length, head } of steps) {
          const last = first + length;
          const init: Init = { range: `bytes=${first}-${last}`, ...(head ? { method: 'HEAD' } : {}) };
          const seen = await countedRequest(proxy, path, size, init);
          expect(seen.header).toBe(seen.truth);
          if (!head && first < size) {
            expect(seen.status).toBe(206);
            expect(seen.body.equals(contentBytes(seed, first, Math.min(last, size - 1)))).toBe(true);
          }
        }
      }),
      { numRuns: 15 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

interface Init {
  readonly range?: string;
  readonly method?: 'HEAD';
}

interface Proxy {
  readonly port: number;
  readonly handler: SliceHandler;
}

/** The handler on a server of its own on 127.0.0.1, upstream the test origin; closed after the test. */
async function startProxy(options: Omit<SliceHandlerOptions, 'upstream'>): Promise<Proxy> {
  const handler = createSliceHandler({ upstream: origin.url('/'), ...options });
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await handler.close();
  });
  return { port: (server.address() as AddressInfo).port, handler };
}

/**
 * Sends one request and derives, from what the origin was asked meanwhile, the `x-slice-cache` it must carry:
 * `HIT` when the origin saw nothing, `REVALIDATED` when it only answered one conditional request with 304,
 * `MISS` when it was asked for every slice the body needed (or, for a response without a body, when it was asked
 * at all), `PARTIAL` otherwise.
 */
async function countedRequest(proxy: Proxy, path: string, size: number, init: Init) {
  origin.resetStats();
  const headers: Record<string, string> = init.range === undefined ? {} : { range: init.range };
  const res = await get(proxy, path, headers, init.method);
  const needed = new Set<number>();
  if (init.method !== 'HEAD' && (res.status === 200 || res.status === 206)) {
    const [first, last] =
      res.status === 200
        ? [0, size - 1]
        : (/^bytes (\d+)-(\d+)\//.exec(String(res.headers['content-range'])) ?? []).slice(1).map(Number);
    for (let i = Math.floor(Number(first) / SLICE); i <= Math.floor(Number(last) / SLICE); i++) needed.add(i);
  }
  const asked = new Set(
    [...origin.rangeCounts(path).keys()].map((range) => Math.floor(Number(range.split('-')[0]) / SLICE)),
  );
  const log = origin.stats.log;
  let truth: string;
  if (log.length === 0) truth = 'HIT';
  else if (log.length === 1 && log[0]?.status === 304) truth = 'REVALIDATED';
  else if ([...needed].every((i) => asked.has(i))) truth = 'MISS';
  else truth = 'PARTIAL';
  return { ...res, header: res.headers['x-slice-cache'], truth };
}

/**
 * Resolves once `test()` holds, checking it every few milliseconds: a wait for a state, not for a time (the
 * test's timeout bounds it).
 */
async function until(test: () => boolean): Promise<void> {
  while (!test()) await new Promise((resolve) => setTimeout(resolve, 2));
}

async function get(
  proxy: Proxy,
  path: string,
  headers: Record<string, string> = {},
  method: 'GET' | 'HEAD' = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const res = await request(`http://127.0.0.1:${proxy.port}${path}`, { method, headers, dispatcher: agent });
  const body = Buffer.from(await res.body.arrayBuffer()); // empty for a HEAD
  return { status: res.statusCode, headers: res.headers, body };
}
