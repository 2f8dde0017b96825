/**
 * Freshness (R7): a stale object is revalidated once, with a conditional request on the reference slice;
 * a 304 renews the whole object without moving a slice, and a changed validator retires the old version.
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

describe('a stale object', () => {
  it('is revalidated with one conditional request, and a 304 keeps every slice', async () => {
    const size = 5 * SLICE + 7;
    // max-age=0: the metadata is stale as soon as it is learnt, so every later request revalidates.
    const { seed, etag } = origin.setObject('/fresh/same.bin', { size, cacheControl: 'max-age=0' });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
    const first = await drain(await fetcher.fetch(origin.url('/fresh/same.bin')));
    expect(first.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);

    origin.resetStats();
    const again = await drain(await fetcher.fetch(origin.url('/fresh/same.bin')));
    expect(again.error).toBeUndefined();
    expect(again.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(origin.stats.log.map((e) => [e.status, e.headers['if-none-match']])).toEqual([[304, etag]]);
    expect(origin.stats.bytesSent).toBe(0);
  });

  it('that changed at the origin is served in its new version, and the old slices are retired', async () => {
    const size = 4 * SLICE;
    origin.setObject('/fresh/changed.bin', { size, cacheControl: 'max-age=0', seed: 1 });
    const store = memoryStorage();
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2, cache: store });
    await drain(await fetcher.fetch(origin.url('/fresh/changed.bin')));
    expect(store.stats()).toMatchObject({ entries: 4 + 1 }); // four slices and the metadata

    const next = origin.setObject('/fresh/changed.bin', {
      size: size + 10,
      cacheControl: 'max-age=0',
      seed: 2,
    });
    origin.resetStats();
    const res = await fetcher.fetch(origin.url('/fresh/changed.bin'));
    expect(res.headers.get('etag')).toBe(next.etag);
    const body = await drain(res);
    expect(body.error).toBeUndefined();
    expect(body.bytes.equals(contentBytes(2, 0, size + 9))).toBe(true);
    // One conditional reference (answered 206, the new version), then the other slices of the new version.
    expect(origin.stats.log[0]?.status).toBe(206);
    expect(origin.stats.log[0]?.headers['if-none-match']).toBeDefined();
    expect(origin.stats.requests).toBe(5);
    // Only the new version is left: its five slices and its metadata (the old four were purged).
    expect(store.stats()).toMatchObject({ entries: 5 + 1 });
  });
});
