/**
 * Origin faults end to end: bounded attempts per slice (P8), a slice that exhausts its retries fails the
 * body and cancels the rest (P9), and invalid slice responses — lying Content-Range, changed validators,
 * short bodies, resets, wrong encodings — are retried or fail the body, never served (P16, R8).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { type Fault, startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, type Drained, drain, KiB, makeFetcher, makeGate } from './e2e-helpers.js';

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
const key = (index: number, size: number): string =>
  `${index * SLICE}-${Math.min((index + 1) * SLICE, size) - 1}`;

/** A body that is either complete and exact, or failed after an exact prefix — never wrong bytes. */
function expectNoWrongBytes(result: Drained, seed: number, size: number): void {
  if (result.error === undefined) {
    expect(result.bytes.length).toBe(size);
  } else {
    expect(result.bytes.length).toBeLessThan(size);
  }
  expect(result.bytes.equals(contentBytes(seed, 0, result.bytes.length - 1))).toBe(true);
}

describe('attempts per slice (P8)', () => {
  it('asks for a slice under a permanent 503 exactly retries + 1 times', async () => {
    for (const retries of [0, 1, 3]) {
      const path = `/p8/permanent-${retries}.bin`;
      const size = 6 * SLICE;
      const { seed } = origin.setObject(path, { size });
      origin.addFault({
        path,
        times: Infinity,
        match: (r) => r.range?.start === 3 * SLICE,
        fault: { type: 'status', status: 503, retryAfter: '0' },
      });
      const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2, retry: { retries, baseDelayMs: 0 } });
      const res = await fetcher.fetch(origin.url(path));
      const result = await drain(res);
      expect(result.error).toMatchObject({
        code: 'ERR_SLICE_RETRIES_EXHAUSTED',
        details: { attempts: retries + 1 },
      });
      expectNoWrongBytes(result, seed, size);
      expect(origin.rangeCounts(path).get(key(3, size))).toBe(retries + 1);
      expect(fetcher.stats()).toMatchObject({ retries, sliceErrors: 1 });
    }
  });

  it('rejects with 502 after retries + 1 attempts when the reference slice keeps failing', async () => {
    const path = '/p8/reference.bin';
    const size = 3 * SLICE;
    origin.setObject(path, { size });
    origin.addFault({ path, times: Infinity, fault: { type: 'status', status: 500 } });
    const fetcher = makeFetcher({ sliceSize: SLICE, retry: { retries: 2, baseDelayMs: 0 } });
    await expect(fetcher.fetch(origin.url(path))).rejects.toMatchObject({
      code: 'ERR_SLICE_RETRIES_EXHAUSTED',
      status: 502,
    });
    expect([...origin.rangeCounts(path)]).toEqual([[key(0, size), 3]]);
  });

  it('recovers when a slice fails fewer times than it may be retried', async () => {
    const path = '/p8/transient.bin';
    const size = 5 * SLICE + 3;
    const { seed } = origin.setObject(path, { size });
    origin.addFault({
      path,
      times: 2,
      match: (r) => r.range?.start === 2 * SLICE,
      fault: { type: 'status', status: 429, retryAfter: '0' },
    });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3, retry: { retries: 2, baseDelayMs: 0 } });
    const result = await drain(await fetcher.fetch(origin.url(path)));
    expect(result.error).toBeUndefined();
    expect(result.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(origin.rangeCounts(path).get(key(2, size))).toBe(3);
  });
});

describe('a slice that exhausts its retries (P9)', () => {
  it('errors the body and cancels every other outstanding sub-request', async () => {
    const path = '/p9/cancel.bin';
    const size = 10 * SLICE;
    const { seed } = origin.setObject(path, { size });
    // Slice 0 (the reference) is in hand once fetch() resolves, so the window of 4 is slices 1–4.
    const never = makeGate(); // slices 2, 3 and 4 are held until the client gives up on them
    const failNow = makeGate(); // slice 1 fails only once the others are in flight
    origin.addFault({
      path,
      times: Infinity,
      match: (r) => r.range !== undefined && r.range.start >= 2 * SLICE,
      fault: { type: 'wait', until: never.promise },
    });
    origin.addFault({
      path,
      times: Infinity,
      match: (r) => r.range?.start === SLICE,
      fault: { type: 'wait', until: failNow.promise },
    });
    origin.addFault({
      path,
      times: Infinity,
      match: (r) => r.range?.start === SLICE,
      fault: { type: 'status', status: 502 },
    });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4, retry: { retries: 1, baseDelayMs: 0 } });
    try {
      const res = await fetcher.fetch(origin.url(path));
      expect(res.status).toBe(200);
      await origin.waitFor(() => origin.rangeCounts(path).size === 5);
      failNow.open();
      const result = await drain(res);
      expect(result.error).toMatchObject({ code: 'ERR_SLICE_RETRIES_EXHAUSTED' });
      expectNoWrongBytes(result, seed, size);
      // The held requests were closed by the client: nothing is left in flight at the origin…
      await origin.waitForNoInFlight();
      const held = origin.stats.log.filter((e) => e.path === path && e.faults.includes('wait'));
      expect(held.filter((e) => e.range !== `bytes=${key(1, size)}`).every((e) => e.status === 0)).toBe(true);
      // …and nothing past the window was ever asked for.
      expect([...origin.rangeCounts(path).keys()].sort()).toEqual(
        [0, 1, 2, 3, 4].map((i) => key(i, size)).sort(),
      );
      expect(origin.rangeCounts(path).get(key(1, size))).toBe(2);
    } finally {
      never.open();
    }
  });
});

/** One way a slice response can be invalid, and what the body must do when it happens once / every time. */
interface Lie {
  readonly name: string;
  readonly fault: (index: number, size: number) => Fault;
  /** `complete`: retried and served; `error`: the body fails; `either`: both are fine (never wrong bytes). */
  readonly once: 'complete' | 'error' | 'either';
  readonly always: 'complete' | 'error' | 'either';
  /**
   * On the reference slice, once: a validator lie there makes the engine learn a version the origin then
   * refuses (412) or contradicts, so the first body may fail — never with wrong bytes. @default once
   */
  readonly referenceOnce?: 'complete' | 'error' | 'either';
  /** The object's validators, when not the default strong ETag and Last-Modified. */
  readonly object?: { readonly etag?: string | null; readonly lastModified?: string | null };
}

const LIES: readonly Lie[] = [
  {
    name: 'Content-Range start off by one',
    fault: (i) => ({ type: 'content-range', start: i * SLICE + 1 }),
    once: 'complete',
    always: 'error',
  },
  {
    name: 'Content-Range end short',
    fault: (i, size) => ({ type: 'content-range', end: Math.min((i + 1) * SLICE, size) - 2 }),
    once: 'complete',
    always: 'error',
  },
  {
    name: 'Content-Range total changed',
    fault: (_, size) => ({ type: 'content-range', total: size + SLICE }),
    once: 'error',
    always: 'error',
  },
  // A different validator is asked again: a mangled header once is an accident, the same one twice a change.
  {
    name: 'ETag changed',
    fault: () => ({ type: 'etag', value: '"imposter"' }),
    once: 'complete',
    always: 'error',
    referenceOnce: 'either',
  },
  // Under If-Match (a strong ETag) or If-Unmodified-Since, a 206 is the reference's version whatever header a
  // middlebox dropped on the way.
  {
    name: 'ETag dropped',
    fault: () => ({ type: 'etag', value: null }),
    once: 'complete',
    always: 'complete',
  },
  {
    name: 'ETag dropped (weak ETag, so If-Unmodified-Since)',
    fault: () => ({ type: 'etag', value: null }),
    once: 'complete',
    always: 'complete',
    object: { etag: 'W/"weak"' },
  },
  // With neither a strong ETag nor a Last-Modified there is no precondition: a missing tag is a suspect.
  {
    name: 'ETag dropped (weak ETag only, no precondition possible)',
    fault: () => ({ type: 'etag', value: null }),
    once: 'complete',
    always: 'error',
    referenceOnce: 'either',
    object: { etag: 'W/"weak"', lastModified: null },
  },
  {
    name: 'Last-Modified changed',
    fault: () => ({ type: 'last-modified', value: 'Tue, 02 Jan 2024 00:00:00 GMT' }),
    once: 'complete',
    always: 'error',
    referenceOnce: 'either',
  },
  {
    name: 'body truncated',
    fault: () => ({ type: 'truncate', afterBytes: 1000 }),
    once: 'complete',
    always: 'error',
  },
  {
    name: 'connection reset mid-body',
    fault: () => ({ type: 'reset', afterBytes: 5000 }),
    once: 'complete',
    always: 'error',
  },
  {
    name: 'connection reset before headers',
    fault: () => ({ type: 'reset', afterBytes: 0, beforeHeaders: true }),
    once: 'complete',
    always: 'error',
  },
  { name: 'Range ignored (200)', fault: () => ({ type: 'ignore-range' }), once: 'complete', always: 'error' },
  { name: 'gzip-encoded 206', fault: () => ({ type: 'gzip' }), once: 'complete', always: 'error' },
  {
    name: 'unknown total (bytes a-b/*)',
    fault: () => ({ type: 'no-length' }),
    once: 'complete',
    always: 'error',
  },
];

describe('invalid slice responses (P16, R8)', () => {
  for (const lie of LIES) {
    for (const times of [1, Infinity]) {
      const expected = times === 1 ? lie.once : lie.always;
      it(`${expected === 'complete' ? 'retries' : 'fails the body on'} a later slice with ${lie.name} (${times === 1 ? 'once' : 'every time'})`, async () => {
        const path = `/p16/${lie.name.replace(/\W+/g, '-')}-${times}.bin`;
        const size = 5 * SLICE + 100;
        const { seed } = origin.setObject(path, { size, ...lie.object });
        origin.addFault({
          path,
          times,
          match: (r) => r.range?.start === 2 * SLICE,
          fault: lie.fault(2, size),
        });
        const fetcher = makeFetcher({
          sliceSize: SLICE,
          concurrency: 2,
          retry: { retries: 2, baseDelayMs: 0 },
          timeouts: { bodyMs: 5000 },
        });
        const result = await drain(await fetcher.fetch(origin.url(path)));
        expectNoWrongBytes(result, seed, size);
        if (expected === 'complete') expect(result.error).toBeUndefined();
        if (expected === 'error') expect(result.error).toBeDefined();

        // Nothing invalid was cached: once the origin behaves, the same fetcher serves the object exactly.
        origin.clearFaults();
        const again = await drain(await fetcher.fetch(origin.url(path)));
        expect(again.error).toBeUndefined();
        expect(again.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
      });
    }
  }

  for (const lie of LIES.filter(
    (l) => !['Range ignored (200)', 'gzip-encoded 206', 'unknown total (bytes a-b/*)'].includes(l.name),
  )) {
    it(`never serves wrong bytes when the reference slice has ${lie.name} once`, async () => {
      const path = `/p16/reference-${lie.name.replace(/\W+/g, '-')}.bin`;
      const size = 4 * SLICE + 7;
      const { seed } = origin.setObject(path, { size, ...lie.object });
      origin.addFault({ path, match: (r) => r.n === 1, fault: lie.fault(0, size) });
      const fetcher = makeFetcher({
        sliceSize: SLICE,
        concurrency: 2,
        retry: { retries: 2, baseDelayMs: 0 },
      });
      const first = await fetcher
        .fetch(origin.url(path))
        .then(drain, (error: unknown) => ({ bytes: Buffer.alloc(0), error }));
      expectNoWrongBytes(first, seed, size);
      if ((lie.referenceOnce ?? lie.once) === 'complete') expect(first.error).toBeUndefined();
      const again = await drain(await fetcher.fetch(origin.url(path)));
      expect(again.error).toBeUndefined();
      expect(again.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    });
  }
});
