/**
 * `sliceFetch()`: the one-call API over a lazily created default fetcher.
 *
 * @module
 */
import { createSliceFetcher, type RangeInput, type SliceFetcher, type SliceFetchInit } from './fetcher.js';

let shared: SliceFetcher | undefined;

/**
 * Fetches `url` (or `range` of it) through a default, process-wide slice fetcher (1 MiB slices, concurrency 8,
 * a 256 MiB memory cache), created on first use. Create your own with `createSliceFetcher()` to configure it.
 *
 * @example
 * ```ts
 * import { sliceFetch } from 'slice-fetch';
 * const res = await sliceFetch('https://cdn.example.com/video.mp4', 'bytes=1000000-1999999');
 * console.log(res.status, res.headers.get('content-range')); // 206 bytes 1000000-1999999/…
 * const bytes = new Uint8Array(await res.arrayBuffer());
 * ```
 */
export function sliceFetch(
  url: string | URL,
  range?: RangeInput,
  init: Omit<SliceFetchInit, 'range'> = {},
): Promise<Response> {
  shared ??= createSliceFetcher();
  return shared.fetch(url, range === undefined ? init : { ...init, range });
}

/**
 * Closes the default fetcher behind {@link sliceFetch} (its pool and cache); the next call creates a new one.
 *
 * @example
 * ```ts
 * process.once('beforeExit', () => void closeDefaultFetcher());
 * ```
 */
export async function closeDefaultFetcher(): Promise<void> {
  const fetcher = shared;
  shared = undefined;
  await fetcher?.close();
}
