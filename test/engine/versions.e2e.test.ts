/**
 * Versions and purges (R7, R11, R19): a weak ETag still names a version (slices of `W/"v1"` and `W/"v2"` never
 * mix), and a purge — or a version retirement — fences every fill that started before it, so nothing fetched
 * before a purge is served after it answers (P27), even when the origin's validators cannot tell the versions
 * apart.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { type OriginObject, startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, makeFetcher } from './e2e-helpers.js';

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
/** Validators that stay the same when the content changes: the case only a purge can fix. */
const FIXED = { etag: null, lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' } as const;

describe('weak ETags (R19)', () => {
  it('never serves slices of W/"v1" with the head of W/"v2" (regression: weak tags did not key versions)', async () => {
    const path = '/r19/weak.bin';
    const size = 7 * SLICE;
    origin.setObject(path, { size, seed: 1, etag: 'W/"v1"', lastModified: null });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2, cachePolicy: { defaultTtlMs: 0 } });
    const url = origin.url(path);
    expect((await drain(await fetcher.fetch(url))).bytes.equals(contentBytes(1, 0, size - 1))).toBe(true);
    origin.setObject(path, { size, seed: 2, etag: 'W/"v2"', lastModified: null });
    for (let round = 0; round < 3; round++) {
      const res = await fetcher.fetch(url);
      expect(res.headers.get('etag')).toBe('W/"v2"');
      const { bytes, error } = await drain(res);
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
    }
  });
});

/**
 * Slows every response down, so that fills are caught mid-body: their bytes are the version the origin had
 * when their answer began. Resolves once `count` answers for `path` past its first slice are streaming;
 * `release()` lets everything finish at full speed.
 */
async function midBody(path: string, count: number, done?: Promise<unknown>): Promise<{ release(): void }> {
  origin.configure({ throttleBytesPerSecond: 256 * KiB });
  const streaming = origin.waitFor(
    (s) =>
      s.log.filter((e) => e.path === path && e.bytesSent > 0 && !e.range?.startsWith('bytes=0-')).length >=
      count,
  );
  await (done === undefined ? streaming : Promise.race([streaming, done]));
  return { release: () => origin.configure({ throttleBytesPerSecond: 0 }) };
}

describe('purge fences in-flight fills (P27)', () => {
  it('lets no fill that started before a purge write after it (regression: read-ahead wrote old bytes back)', async () => {
    const path = '/p27/fence.bin';
    const size = 6 * SLICE;
    origin.setObject(path, { size, seed: 1, ...FIXED });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4 });
    const url = origin.url(path);
    // A request whose read-ahead is mid-body at the origin when the file changes and the purge comes.
    const before = await fetcher.fetch(url);
    const slow = await midBody(path, 3);
    origin.setObject(path, { size, seed: 2, ...FIXED });
    expect(await fetcher.purge(url)).toBeGreaterThan(0);
    // The fills that began before finish with the old bytes: their client may get them, the store may not.
    slow.release();
    await drain(before);
    await origin.waitForNoInFlight();
    for (let round = 0; round < 2; round++) {
      const { bytes, error } = await drain(await fetcher.fetch(url));
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(2, 0, size - 1)), `round ${round}`).toBe(true);
    }
  });

  it('serves nothing of the purged generation to requests that start after the purge answers', async () => {
    const scenario = fc.record({
      before: fc.array(fc.tuple(fc.nat({ max: 8 * SLICE - 1 }), fc.nat({ max: 8 * SLICE })), {
        minLength: 1,
        maxLength: 5,
      }),
      after: fc.array(fc.tuple(fc.nat({ max: 8 * SLICE - 1 }), fc.nat({ max: 8 * SLICE })), {
        minLength: 1,
        maxLength: 5,
      }),
      warm: fc.boolean(),
      hold: fc.boolean(),
      concurrency: fc.integer({ min: 1, max: 4 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ before, after, warm, hold, concurrency }) => {
        const path = `/p27/property-${run++}.bin`;
        const size = 8 * SLICE;
        origin.setObject(path, { size, seed: 100 + run, ...FIXED });
        const fetcher = makeFetcher({ sliceSize: SLICE, concurrency });
        const url = origin.url(path);
        if (warm) await drain(await fetcher.fetch(url));
        if (hold) origin.configure({ throttleBytesPerSecond: 256 * KiB });
        const early = before.map(async ([first, length]) => {
          const range = `bytes=${first}-${Math.min(size - 1, first + length)}`;
          return fetcher.fetch(url, { range }).then(drain, () => undefined);
        });
        // Change and purge while some early fill is mid-body — or, if none needs the origin, after them.
        const slow = hold ? await midBody(path, 1, Promise.all(early)) : undefined;
        origin.setObject(path, { size, seed: 200 + run, ...FIXED });
        await fetcher.purge(url);
        slow?.release();
        const late = await Promise.all(
          after.map(async ([first, length]) => {
            const last = Math.min(size - 1, first + length);
            const res = await fetcher.fetch(url, { range: `bytes=${first}-${last}` });
            return { first, last, ...(await drain(res)) };
          }),
        );
        for (const { first, last, bytes, error } of late) {
          expect(error).toBeUndefined();
          expect(bytes.equals(contentBytes(200 + run, first, last))).toBe(true);
        }
        await Promise.all(early);
        origin.clearFaults();
        // And later still, once every early fill is over: still nothing of the purged generation.
        const { bytes } = await drain(await fetcher.fetch(url));
        expect(bytes.equals(contentBytes(200 + run, 0, size - 1))).toBe(true);
        await fetcher.close();
      }),
      { numRuns: 40 },
    );
  });

  it('retires a version that changed at the origin, also against fills still running for it', async () => {
    const path = '/p27/retire.bin';
    const size = 6 * SLICE;
    const first = origin.setObject(path, { size, seed: 1 });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3, cachePolicy: { defaultTtlMs: 0 } });
    const url = origin.url(path);
    const old = await fetcher.fetch(url);
    const slow = await midBody(path, 2);
    origin.setObject(path, { size, seed: 2 });
    // The stale object is revalidated, the new ETag retires the old version while old fills still run.
    const fresh = await fetcher.fetch(url);
    slow.release();
    const now = origin.getObject(path) as OriginObject;
    expect(fresh.headers.get('etag')).toBe(now.etag);
    expect((await drain(fresh)).bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
    const stale = await drain(old);
    // The old request: the old version's bytes, or an error once its slices answer 412 — never new bytes.
    expect(stale.bytes.equals(contentBytes(first.seed, 0, stale.bytes.length - 1))).toBe(true);
    const again = await drain(await fetcher.fetch(url));
    expect(again.bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
  });
});
