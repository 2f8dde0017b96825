import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSliceFetcher } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

async function bodyOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

describe('createSliceFetcher().fetch', () => {
  it('returns the whole object as a 200 assembled from aligned slices', async () => {
    const { seed } = origin.setObject('/whole.bin', { size: 5 * 64 * KiB + 123 });
    const fetcher = createSliceFetcher({ sliceSize: 64 * KiB, concurrency: 3 });
    try {
      const res = await fetcher.fetch(origin.url('/whole.bin'));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(5 * 64 * KiB + 123));
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      const body = await bodyOf(res);
      expect(body.equals(contentBytes(seed, 0, 5 * 64 * KiB + 122))).toBe(true);
      const ranges = [...origin.rangeCounts('/whole.bin').keys()].sort();
      expect(ranges).toHaveLength(6);
    } finally {
      await fetcher.close();
    }
  });

  it('answers a client range with 206 and fetches only the covering slices', async () => {
    const { seed } = origin.setObject('/range.bin', { size: 10 * MiB });
    const fetcher = createSliceFetcher({ sliceSize: 1 * MiB });
    try {
      origin.resetStats();
      const res = await fetcher.fetch(origin.url('/range.bin'), { range: 'bytes=1500000-3200000' });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes 1500000-3200000/${10 * MiB}`);
      const body = await bodyOf(res);
      expect(body.equals(contentBytes(seed, 1500000, 3200000))).toBe(true);
      expect([...origin.rangeCounts('/range.bin').keys()].sort()).toEqual([
        `${1 * MiB}-${2 * MiB - 1}`,
        `${2 * MiB}-${3 * MiB - 1}`,
        `${3 * MiB}-${4 * MiB - 1}`,
      ]);
      // A repeat is served from the cache: zero origin requests.
      const before = origin.stats.requests;
      const again = await bodyOf(
        await fetcher.fetch(origin.url('/range.bin'), { range: 'bytes=1500000-3200000' }),
      );
      expect(again.equals(body)).toBe(true);
      expect(origin.stats.requests).toBe(before);
    } finally {
      await fetcher.close();
    }
  });
});
