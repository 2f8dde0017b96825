/**
 * Shared by the purge tests (P27): origin validators that cannot tell two versions apart, so only a purge can,
 * a read through a fetcher, a poll until a fetcher serves a given version, and a check of ranges of one version.
 */
import { expect } from 'vitest';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import { contentBytes } from '../support/content.js';
import { drain } from './e2e-helpers.js';

/**
 * Test-origin object options whose validators stay the same when the content changes (same size, same
 * Last-Modified, no ETag), with metadata fresh for an hour: only a purge, or its notice, tells the versions apart.
 */
export const FIXED_VALIDATORS = {
  etag: null,
  lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT',
  cacheControl: 'max-age=3600',
} as const;

/** Reads `url` (whole, or `range`) through `fetcher`: the bytes, and the `x-slice-cache` it was marked with. */
export async function readThrough(fetcher: InternalSliceFetcher, url: string, range?: string) {
  const res = await fetcher.fetch(url, range === undefined ? {} : { range });
  const { bytes, error } = await drain(res);
  expect(error).toBeUndefined();
  return { bytes, status: res.headers.get('x-slice-cache') };
}

/**
 * Polls `fetcher` until it serves version `next` of the whole object (a notice in flight is a poll or two).
 * With `previous`, every answer before that must be the whole of version `previous`, never anything else: for
 * a fetcher that holds every slice of `previous`, so nothing can mix the two versions meanwhile.
 */
export async function servesVersion(
  fetcher: InternalSliceFetcher,
  url: string,
  next: number,
  size: number,
  options: { readonly previous?: number; readonly wait?: { timeout: number; interval?: number } } = {},
): Promise<void> {
  const expected = contentBytes(next, 0, size - 1);
  const old = options.previous === undefined ? undefined : contentBytes(options.previous, 0, size - 1);
  await expect
    .poll(async () => {
      const { bytes } = await readThrough(fetcher, url);
      if (old !== undefined && !bytes.equals(expected)) expect(bytes.equals(old)).toBe(true);
      return bytes.equals(expected);
    }, options.wait ?? { timeout: 5000 })
    .toBe(true);
}

/**
 * Expects every fetcher to serve only version `seed` of the object: whole, a range across slices from inside
 * slice 3 to slice 17's first byte (`sliceSize` bytes per slice), and the last 100 bytes.
 */
export async function expectRangesOfVersion(
  fetchers: readonly InternalSliceFetcher[],
  url: string,
  seed: number,
  size: number,
  sliceSize: number,
): Promise<void> {
  for (const fetcher of fetchers)
    for (const [first, last] of [
      [0, size - 1],
      [3 * sliceSize + 5, 17 * sliceSize],
      [size - 100, size - 1],
    ] as const)
      expect(
        (await readThrough(fetcher, url, `bytes=${first}-${last}`)).bytes.equals(
          contentBytes(seed, first, last),
        ),
      ).toBe(true);
}
