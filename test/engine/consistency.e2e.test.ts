/**
 * Cache and coalescing end to end: a repeat costs nothing (P13), only missing slices reach the origin (P14),
 * concurrent identical requests fetch each slice once (P22), and an object that changes mid-request never
 * yields bytes of two versions — restart before the head, error after it, healthy next time (P21, R11).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openSymbol } from '../../src/engine/fetcher-types.js';
import { contentBytes } from '../support/content.js';
import { type OriginObject, startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, drainPieces, KiB, MiB, makeFetcher } from './e2e-helpers.js';

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

/** The origin ranges of every slice of an object of `size` among `indices`. */
function sliceKeys(size: number, indices: readonly number[]): string[] {
  return indices.map((i) => `${i * SLICE}-${Math.min((i + 1) * SLICE, size) - 1}`).sort();
}

describe('slice cache (P13, P14)', () => {
  it('serves a repeat of the whole object with zero origin requests', async () => {
    const path = '/p13/repeat.bin';
    const size = 7 * SLICE + 1234;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
    const first = await fetcher.fetch(origin.url(path));
    expect(first.headers.get('x-slice-cache')).toBe('MISS');
    expect((await drain(first)).bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);

    origin.resetStats();
    for (const range of [undefined, 'bytes=100-200000', `bytes=-${SLICE + 3}`]) {
      const again = await fetcher.fetch(origin.url(path), { range });
      expect(again.headers.get('x-slice-cache')).toBe('HIT');
      const { bytes, error } = await drain(again);
      expect(error).toBeUndefined();
      const [start, end] =
        range === undefined
          ? [0, size - 1]
          : range === 'bytes=100-200000'
            ? [100, 200000]
            : [size - SLICE - 3, size - 1];
      expect(bytes.equals(contentBytes(seed, start, end))).toBe(true);
    }
    expect(origin.stats.requests).toBe(0);
    expect(fetcher.stats().bytesFromCache).toBeGreaterThan(0);
  });

  it('fetches only the slices a partially cached range is missing, each once', async () => {
    const path = '/p14/partial.bin';
    const size = 8 * SLICE + 77;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4 });
    // Slices 2, 3 and 4 (and the metadata) are cached by a range inside them.
    const warm = await fetcher.fetch(origin.url(path), { range: `bytes=${2 * SLICE + 5}-${5 * SLICE - 9}` });
    expect((await drain(warm)).bytes.equals(contentBytes(seed, 2 * SLICE + 5, 5 * SLICE - 9))).toBe(true);
    expect([...origin.rangeCounts(path).keys()].sort()).toEqual(sliceKeys(size, [2, 3, 4]));

    origin.resetStats();
    const whole = await fetcher.fetch(origin.url(path));
    const { bytes, error } = await drain(whole);
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect([...origin.rangeCounts(path).keys()].sort()).toEqual(sliceKeys(size, [0, 1, 5, 6, 7, 8]));
    expect([...origin.rangeCounts(path).values()].every((n) => n === 1)).toBe(true);
    expect(origin.stats.requests).toBe(6);
    // The request is counted as partial once its body has ended (regression: the outcome was frozen at the head).
    expect(fetcher.stats().outcomes).toMatchObject({ miss: 1, partial: 1 });
    expect(fetcher.stats().bytesFromCache).toBe(3 * SLICE);
  });
});

describe('coalescing (P22)', () => {
  it('fetches each slice from the origin exactly once for 20 concurrent fetches of one cold object', async () => {
    const path = '/p22/cold.bin';
    const size = 12 * SLICE + 4321;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4 });
    const expected = contentBytes(seed, 0, size - 1);
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => drain(await fetcher.fetch(origin.url(path)))),
    );
    for (const { bytes, error } of results) {
      expect(error).toBeUndefined();
      expect(bytes.equals(expected)).toBe(true);
    }
    const counts = origin.rangeCounts(path);
    expect([...counts.keys()].sort()).toEqual(sliceKeys(size, [...Array(13).keys()]));
    expect([...counts.values()]).toEqual(Array(13).fill(1));
  });

  it('fetches each slice once when concurrent fetches ask for different overlapping ranges', async () => {
    const path = '/p22/ranges.bin';
    const size = 10 * SLICE;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
    // Cold, with no warm-up (regression: a HEAD first hid that references and slice fills did not see each
    // other): requests that start in different slices learn the object at once and share every fill.
    const ranges: [number, number][] = Array.from({ length: 20 }, (_, i) => [
      (i * 7919) % (5 * SLICE),
      5 * SLICE + ((i * 104729) % (5 * SLICE)),
    ]);
    const results = await Promise.all(
      ranges.map(async ([a, b]) =>
        drain(await fetcher.fetch(origin.url(path), { range: `bytes=${a}-${b}` })),
      ),
    );
    results.forEach(({ bytes, error }, i) => {
      const [a, b] = ranges[i] as [number, number];
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seed, a, b))).toBe(true);
    });
    expect([...origin.rangeCounts(path).values()].every((n) => n === 1)).toBe(true);
  });
});

describe('an object that changes under a request (P21, R11)', () => {
  it('restarts on the new version when the change is found before the first byte', async () => {
    for (const change of [{}, { size: 5 * SLICE + 11 }] as const) {
      const path = `/p21/before-${'size' in change ? 'size' : 'etag'}.bin`;
      const old = origin.setObject(path, { size: 6 * SLICE });
      const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
      // Learn the metadata (and cache slice 2) from a range inside slice 2 only.
      await drain(await fetcher.fetch(origin.url(path), { range: `bytes=${2 * SLICE}-${2 * SLICE + 10}` }));
      origin.addFault({ path, fault: { type: 'change-object', ...change } });

      const res = await fetcher.fetch(origin.url(path));
      const now = origin.getObject(path) as OriginObject;
      expect(now.version).toBe(2);
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe(now.etag);
      expect(res.headers.get('etag')).not.toBe(old.etag);
      expect(res.headers.get('content-length')).toBe(String(now.size));
      const { bytes, error } = await drain(res);
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(now.seed, 0, now.size - 1))).toBe(true);
    }
  });

  it('errors the body when the change is found after the first byte, and the next request is healthy', async () => {
    const path = '/p21/after.bin';
    const size = 8 * SLICE;
    const old = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    origin.addFault({ path, match: (r) => r.range?.start === 4 * SLICE, fault: { type: 'change-object' } });

    const res = await fetcher.fetch(origin.url(path));
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(old.etag);
    const { bytes, error } = await drain(res);
    expect(error).toMatchObject({ code: 'ERR_SLICE_VERSION_CHANGED' });
    expect(bytes.length).toBeLessThan(size);
    expect(bytes.equals(contentBytes(old.seed, 0, bytes.length - 1))).toBe(true);

    const now = origin.getObject(path) as OriginObject;
    const healed = await fetcher.fetch(origin.url(path));
    expect(healed.headers.get('etag')).toBe(now.etag);
    const next = await drain(healed);
    expect(next.error).toBeUndefined();
    expect(next.bytes.equals(contentBytes(now.seed, 0, size - 1))).toBe(true);
  });

  it('never mixes versions whichever request the object changes on', async () => {
    for (const concurrency of [1, 3]) {
      for (let n = 1; n <= 9; n++) {
        const path = `/p21/nth-${concurrency}-${n}.bin`;
        const size = 6 * SLICE + 500;
        const versions = [origin.setObject(path, { size })];
        const fetcher = makeFetcher({ sliceSize: SLICE, concurrency });
        origin.addFault({ path, match: (r) => r.n === n, fault: { type: 'change-object' } });
        for (let round = 0; round < 2; round++) {
          const attempt = await fetcher.fetch(origin.url(path)).then(
            (res) => ({ res }),
            (error: unknown) => ({ error }),
          );
          const now = origin.getObject(path) as OriginObject;
          if (versions.at(-1)?.version !== now.version) versions.push(now);
          if (!('res' in attempt)) {
            expect(round, `round ${round} rejected after change at request ${n}`).toBe(0);
            continue;
          }
          const { res } = attempt;
          const version = versions.find((v) => v.etag === res.headers.get('etag'));
          expect(version, `etag ${res.headers.get('etag')} names a version`).toBeDefined();
          const seed = (version as OriginObject).seed;
          const { bytes, error } = await drain(res);
          if (error === undefined) {
            expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
          } else {
            // An incomplete body is a prefix of the version its head announced, and only in the first round.
            expect(round).toBe(0);
            expect(bytes.equals(contentBytes(seed, 0, bytes.length - 1))).toBe(true);
          }
          // The second round (after any self-healing) serves the current version in full.
          if (round === 1) expect(seed).toBe(now.seed);
        }
      }
    }
  });
});

describe('the internal body stream', () => {
  it('waits for a consumer that attaches late (regression: a telemetry data listener made it flow)', async () => {
    const path = '/internal/late.bin';
    const size = 10 * SLICE;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    const result = await fetcher[openSymbol](origin.url(path));
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    const { bytes, error } = await drainPieces(result.body as NonNullable<typeof result.body>);
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(fetcher.stats().outcomes.miss).toBe(1);
  });

  it('keeps one large object correct across slice sizes (1 MiB slices, 9 MiB + 1 byte)', async () => {
    const path = '/internal/mib.bin';
    const size = 9 * MiB + 1;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: MiB, concurrency: 4 });
    const { bytes, error } = await drain(await fetcher.fetch(origin.url(path)));
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });
});
