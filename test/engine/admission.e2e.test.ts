/**
 * Scan resistance: a response larger than the store's whole budget does not write its slices (it would only
 * flush the store and keep its own tail), while ranges that fit are cached as usual.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryStorage } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await closeFetchers();
});
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;

describe('cache admission', () => {
  it('does not write the slices of a response larger than the store budget, and caches a range that fits', async () => {
    const size = 20 * SLICE;
    const { seed } = origin.setObject('/scan.bin', { size });
    const store = memoryStorage({ maxBytes: 8 * SLICE });
    const fetcher = makeFetcher({
      sliceSize: SLICE,
      concurrency: 4,
      cache: store,
      maxBufferedBytes: 1024 * KiB,
    });

    const whole = await drain(await fetcher.fetch(origin.url('/scan.bin')));
    expect(whole.error).toBeUndefined();
    expect(whole.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    // Not even the reference slice: the head tells the size before its body is written (the metadata is).
    expect(fetcher.stats().cacheStores).toBe(0);

    const range = `bytes=${4 * SLICE}-${7 * SLICE - 1}`;
    await drain(await fetcher.fetch(origin.url('/scan.bin'), { range }));
    const before = origin.stats.requests;
    const again = await drain(await fetcher.fetch(origin.url('/scan.bin'), { range }));
    expect(again.bytes.equals(contentBytes(seed, 4 * SLICE, 7 * SLICE - 1))).toBe(true);
    expect(origin.stats.requests).toBe(before);
  });
});
