/**
 * `x-slice-cache` tells the truth (R19): `HIT` exactly when the response cost no origin request, `MISS` when
 * every slice it needed came from the origin, `PARTIAL` otherwise — checked against what the test origin counted
 * for each request, over random sequences of ranges, HEADs and unsatisfiable ranges.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, makeFetcher, quiescent } from './e2e-helpers.js';

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

/** What the status must be, from the slices the response needs and the origin requests it caused. */
function expectedStatus(requested: ReadonlySet<number>, needed: ReadonlySet<number>): string {
  if (requested.size === 0) return 'HIT';
  return [...needed].every((i) => requested.has(i)) ? 'MISS' : 'PARTIAL';
}

/** The slice indexes the origin was asked for since the last reset. */
function originSlices(path: string): Set<number> {
  return new Set(
    [...origin.rangeCounts(path).keys()].map((range) => Math.floor(Number(range.split('-')[0]) / SLICE)),
  );
}

describe('x-slice-cache (R19)', () => {
  it('says HIT, MISS or PARTIAL exactly as the origin was asked, for cold, partial, warm, 416 and HEAD', async () => {
    const path = '/r19/status.bin';
    const size = 6 * SLICE + 10;
    origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
    const url = origin.url(path);
    const cases: [string, { range?: string; method?: 'HEAD' }, string][] = [
      ['cold HEAD', { method: 'HEAD' }, 'MISS'],
      ['warm HEAD', { method: 'HEAD' }, 'HIT'],
      ['slices 1-2 after a HEAD cached slice 0', { range: `bytes=${SLICE}-${3 * SLICE - 1}` }, 'MISS'],
      ['slices 0-3, half of them cached', { range: `bytes=0-${4 * SLICE - 1}` }, 'PARTIAL'],
      ['the whole object, 4 of 7 cached', {}, 'PARTIAL'],
      ['the whole object again', {}, 'HIT'],
      ['a warm 416', { range: `bytes=${size + 5}-` }, 'HIT'],
    ];
    for (const [name, init, status] of cases) {
      origin.resetStats();
      const res = await fetcher.fetch(url, init);
      await drain(res);
      expect(res.headers.get('x-slice-cache'), name).toBe(status);
      expect(origin.stats.requests === 0, name).toBe(status === 'HIT');
    }
    const cold416 = makeFetcher({ sliceSize: SLICE });
    const res = await cold416.fetch(url, { range: `bytes=${size + 5}-` });
    expect(res.status).toBe(416);
    expect(res.headers.get('x-slice-cache')).toBe('MISS');
  });

  it('matches the origin requests of every response in a random sequence of requests', async () => {
    let run = 0;
    const request = fc.record({
      first: fc.nat({ max: 10 * SLICE }),
      length: fc.nat({ max: 6 * SLICE }),
      head: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 8 }), async (requests) => {
        const path = `/r19/status-${run++}.bin`;
        const size = 9 * SLICE + 123;
        const { seed } = origin.setObject(path, { size });
        const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
        for (const { first, length, head } of requests) {
          const last = first + length;
          origin.resetStats();
          const res = await fetcher.fetch(origin.url(path), {
            range: `bytes=${first}-${last}`,
            method: head ? 'HEAD' : 'GET',
          });
          const { bytes, error } = await drain(res);
          expect(error).toBeUndefined();
          const requested = originSlices(path);
          const needed = new Set<number>();
          if (!head && first < size)
            for (let i = Math.floor(first / SLICE); i <= Math.floor(Math.min(last, size - 1) / SLICE); i++)
              needed.add(i);
          if (res.status === 206 && !head)
            expect(bytes.equals(contentBytes(seed, first, Math.min(last, size - 1)))).toBe(true);
          expect(res.headers.get('x-slice-cache')).toBe(expectedStatus(requested, needed));
          // The next request starts once this one's fills are over: joining a fill in flight is a MISS too,
          // but it would be counted against this request.
          await origin.waitForNoInFlight();
          await quiescent(fetcher);
        }
        await fetcher.close();
      }),
      { numRuns: 60 },
    );
  });

  it('counts what really happened in the request-end outcome', async () => {
    const path = '/r19/outcome.bin';
    const size = 4 * SLICE;
    origin.setObject(path, { size });
    const outcomes: string[] = [];
    const fetcher = makeFetcher({
      sliceSize: SLICE,
      concurrency: 2,
      hooks: { onRequestEnd: (e) => outcomes.push(e.outcome) },
    });
    const url = origin.url(path);
    await drain(await fetcher.fetch(url, { range: `bytes=0-${SLICE - 1}` }));
    await drain(await fetcher.fetch(url));
    await drain(await fetcher.fetch(url));
    expect(outcomes).toEqual(['miss', 'partial', 'hit']);
  });
});
