/**
 * Where requests share work (R12, R19): only within one sharing scope — never across credentials unless they
 * are declared shareable, never across `Vary` variants (P26) — and within one, every slice reaches the
 * origin once however the requests overlap, cold (P22).
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { privateObject as forbiddenUnlessToken } from '../support/scenarios.js';
import { closeFetchers, drain, KiB, MiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await closeFetchers();
  origin.clearFaults();
});
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;
const TOKEN = 'Bearer t';

/** The origin answers 403 to anyone without the token, and `private` content to the token holder. */
function privateObject(path: string, size: number): number {
  return forbiddenUnlessToken(origin, path, size, TOKEN);
}

describe('credentials (R19, P26)', () => {
  for (const cacheAuthorized of [false, true]) {
    it(`never hands an anonymous request the bytes of an authorized fill (regression: the fill was shared), cacheAuthorized ${cacheAuthorized}`, async () => {
      const path = `/r19/private-${cacheAuthorized}.bin`;
      const size = 6 * SLICE + 99;
      const seed = privateObject(path, size);
      const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3, cachePolicy: { cacheAuthorized } });
      const url = origin.url(path);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(
          [TOKEN, undefined, TOKEN, undefined, 'Bearer other'].map(async (authorization) => {
            const res = await fetcher.fetch(url, {
              headers: authorization === undefined ? {} : { authorization },
            });
            return { authorization, status: res.status, ...(await drain(res)) };
          }),
        );
        for (const { authorization, status, bytes, error } of results) {
          if (authorization === TOKEN) {
            expect(status).toBe(200);
            expect(error).toBeUndefined();
            expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
          } else {
            expect(status).toBe(403);
            expect(bytes.toString()).toBe('forbidden');
          }
        }
      }
    });
  }

  it('keeps a shareable answer to one credential from another credential when the policy does not share them', async () => {
    const path = '/r19/public-per-credential.bin';
    const size = 4 * SLICE;
    const { seed } = origin.setObject(path, { size, cacheControl: 'public, max-age=60' });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    const url = origin.url(path);
    await drain(await fetcher.fetch(url, { headers: { authorization: 'Bearer a' } }));
    origin.resetStats();
    // Another credential learns and fetches for itself: its scope has nothing yet.
    const other = await fetcher.fetch(url, { headers: { authorization: 'Bearer b' } });
    expect(other.headers.get('x-slice-cache')).toBe('MISS');
    expect((await drain(other)).bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(origin.stats.requests).toBe(4);
  });
});

describe('Vary (R19, P26)', () => {
  it('serves each Accept-Language variant its own bytes though size and Last-Modified agree and no ETag differs', async () => {
    const path = '/r19/vary.bin';
    const size = 5 * SLICE + 3;
    origin.setObject(path, {
      size,
      etag: null,
      vary: { header: 'accept-language', seeds: { en: 11, fr: 22 } },
    });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
    const url = origin.url(path);
    for (const round of ['cold', 'warm']) {
      const results = await Promise.all(
        ['fr', 'en', 'fr', 'en', 'fr'].map(async (language) => {
          const res = await fetcher.fetch(url, { headers: { 'accept-language': language } });
          return { language, res, ...(await drain(res)) };
        }),
      );
      for (const { language, bytes, error, res } of results) {
        expect(error).toBeUndefined();
        expect(
          bytes.equals(contentBytes(language === 'en' ? 11 : 22, 0, size - 1)),
          `${round} ${language}`,
        ).toBe(true);
        if (round === 'warm') expect(res.headers.get('x-slice-cache')).toBe('HIT');
      }
    }
  });

  it('never shares or stores an answer that says Vary: *', async () => {
    const path = '/r19/vary-star.bin';
    const size = 2 * SLICE;
    const { seed } = origin.setObject(path, { size, vary: '*' });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    const url = origin.url(path);
    const results = await Promise.all([1, 2, 3].map(async () => drain(await fetcher.fetch(url))));
    for (const { bytes } of results) expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(origin.stats.byPath.get(path)).toBe(6); // every request fetched both slices itself
    origin.resetStats();
    const again = await fetcher.fetch(url);
    expect(again.headers.get('x-slice-cache')).toBe('MISS');
    await drain(again);
    expect(origin.stats.byPath.get(path)).toBe(2);
  });
});

describe('scopes never leak (P26)', () => {
  it('gives every request only bytes its own credential and variant may see, whatever runs concurrently', async () => {
    const request = fc.record({
      credential: fc.constantFrom(undefined, TOKEN, 'Bearer other'),
      language: fc.constantFrom(undefined, 'en', 'fr', 'de'),
      object: fc.constantFrom('private', 'variants'),
      first: fc.nat({ max: 6 * SLICE }),
      length: fc.nat({ max: 3 * SLICE }),
      abortAfter: fc.option(fc.nat({ max: 3 }), { nil: undefined }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(request, { minLength: 2, maxLength: 10 }),
        fc.boolean(),
        fc.boolean(),
        async (requests, cacheAuthorized, warmFirst) => {
          const size = 6 * SLICE + 1;
          const privatePath = `/p26/private-${run}.bin`;
          const variantsPath = `/p26/variants-${run}.bin`;
          run++;
          origin.clearFaults();
          const privateSeed = privateObject(privatePath, size);
          const seeds: Record<string, number> = { en: 1000 + run, fr: 2000 + run };
          const other = origin.setObject(variantsPath, {
            size,
            etag: null,
            vary: { header: 'accept-language', seeds },
          }).seed;
          const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3, cachePolicy: { cacheAuthorized } });
          const once = async (r: (typeof requests)[number]) => {
            const headers: Record<string, string> = {};
            if (r.credential !== undefined) headers.authorization = r.credential;
            if (r.language !== undefined) headers['accept-language'] = r.language;
            const path = r.object === 'private' ? privatePath : variantsPath;
            const last = Math.min(size - 1, r.first + r.length);
            const res = await fetcher.fetch(origin.url(path), { headers, range: `bytes=${r.first}-${last}` });
            const body = res.body as ReadableStream<Uint8Array>;
            const reader = body.getReader();
            const parts: Uint8Array[] = [];
            for (;;) {
              if (r.abortAfter !== undefined && parts.length >= r.abortAfter) {
                await reader.cancel();
                break;
              }
              const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
              if (done) break;
              parts.push(value as Uint8Array);
            }
            const bytes = Buffer.concat(parts);
            if (r.object === 'private') {
              if (r.credential !== TOKEN) {
                expect(res.status).toBe(403);
                return;
              }
              expect(res.status).toBe(206);
              expect(bytes.equals(contentBytes(privateSeed, r.first, r.first + bytes.length - 1))).toBe(true);
              return;
            }
            const seed = r.language === undefined ? other : (seeds[r.language] ?? other);
            expect(res.status).toBe(206);
            expect(bytes.equals(contentBytes(seed, r.first, r.first + bytes.length - 1))).toBe(true);
          };
          if (warmFirst) for (const r of requests) await once(r);
          await Promise.all(requests.map(once));
          await fetcher.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('cold coalescing (P22)', () => {
  it('fetches each slice once for three concurrent cold requests starting in different slices, without a warm-up', async () => {
    const path = '/p22/three.bin';
    const size = 8 * MiB;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher();
    const url = origin.url(path);
    const ranges = ['bytes=0-', `bytes=${MiB}-`, `bytes=${2 * MiB}-${6 * MiB + 17}`];
    const results = await Promise.all(
      ranges.map(async (range) => ({ range, ...(await drain(await fetcher.fetch(url, { range }))) })),
    );
    for (const { range, bytes, error } of results) {
      expect(error).toBeUndefined();
      const [a, b] = (range.slice(6).split('-') as [string, string]).map((x) =>
        x === '' ? size - 1 : Number(x),
      );
      expect(bytes.equals(contentBytes(seed, a as number, b as number))).toBe(true);
    }
    const counts = origin.rangeCounts(path);
    expect(counts.size).toBe(8);
    expect([...counts.values()]).toEqual(Array(8).fill(1));
  });

  it('shares every fill among many cold requests at random offsets of one object', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 16 * SLICE - 1 }), fc.nat({ max: 16 * SLICE })), {
          minLength: 2,
          maxLength: 12,
        }),
        fc.integer({ min: 1, max: 6 }),
        async (requests, concurrency) => {
          const path = `/p22/random-${Math.random().toString(36).slice(2)}.bin`;
          const size = 16 * SLICE;
          const { seed } = origin.setObject(path, { size });
          const fetcher = makeFetcher({ sliceSize: SLICE, concurrency });
          const results = await Promise.all(
            requests.map(async ([first, length]) => {
              const last = Math.min(size - 1, first + length);
              const res = await fetcher.fetch(origin.url(path), { range: `bytes=${first}-${last}` });
              return { first, last, ...(await drain(res)) };
            }),
          );
          for (const { first, last, bytes, error } of results) {
            expect(error).toBeUndefined();
            expect(bytes.equals(contentBytes(seed, first, last))).toBe(true);
          }
          expect([...origin.rangeCounts(path).values()].every((n) => n === 1)).toBe(true);
          await fetcher.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});
