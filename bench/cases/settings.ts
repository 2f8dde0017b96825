/**
 * What every case of `npm run bench` shares: the object sizes, the slice-fetch settings of the issue, the store
 * budgets and the shape of one measurement.
 *
 * @module
 */
import { MiB } from '../units.js';

/** Object sizes, also used to create the files. */
export const SMALL_BYTES = 64 * MiB;
export const LARGE_BYTES = 1024 * MiB;

/** Slice-fetch settings shared by every case (the issue's: 1 MiB slices, concurrency 8). */
export const SLICE_SETTINGS = { sliceSize: MiB, concurrency: 8 } as const;

/** The cold cache budget (case 2 and 3) and the warm one (big enough to keep the whole 1 GiB). */
export const COLD_CACHE_BYTES = 64 * MiB;
export const WARM_CACHE_BYTES = 1536 * MiB;

/** One measurement of one variant. */
export interface Measure {
  readonly ms: number;
  readonly rssKiB: number;
  readonly cpuMs: number;
  readonly arrayBuffersKiB: number;
  /** The client's `process.resourceUsage().maxRSS` (which counts the runner's RSS at fork), for the log only. */
  readonly rusageRssKiB?: number;
}
