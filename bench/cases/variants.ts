/**
 * The benchmark cases of the issue, as variants (one measured client each); their tables are in
 * bench/cases/tables.ts and their verdicts in bench/cases/verdicts.ts:
 * 1. 64 MiB through nginx `limit_rate 20m` (per request, so per connection): slice-fetch with concurrency 8
 *    vs one undici GET vs `aria2c -x8 -s8 -k1M`.
 * 2. 1 GiB from nginx unthrottled: slice-fetch cold and warm vs one undici GET.
 * 3. Peak RSS of the cold 1 GiB stream with a 64 MiB memory store.
 * 6. The cold 1 GiB through `fetcher.fetch()`, read through the Response body, vs one undici GET: case 2's own
 *    variants, runnable alone (`--only 6`) and shown in a table of their own.
 * Slice-fetch runs both as the first fetch of a fresh process and in a "warm process" (after an untimed fetch of
 * another object), because a fresh Node process pays a first-fetch cost that a long-lived server does not.
 *
 * @module
 */

import type { SliceClientSpec } from '../clients/slice.js';
import { type Clients, runAria2c, runClient } from '../processes.js';
import type { Samples } from '../report.js';
import {
  COLD_CACHE_BYTES,
  LARGE_BYTES,
  type Measure,
  SLICE_SETTINGS,
  SMALL_BYTES,
  WARM_CACHE_BYTES,
} from './settings.js';

/** What the variants run against. */
export interface BenchEnv {
  readonly clients: Clients;
  /** nginx base URL; files are under `/fast/` and `/slow/`. */
  readonly base: string;
  readonly smallFile: string;
  readonly largeFile: string;
  /** Where aria2c may write its download. */
  readonly aria2Dir: string;
}

/** A measured client configuration. */
export interface Variant {
  readonly id: string;
  readonly label: string;
  run(env: BenchEnv): Promise<Measure>;
}

/** Medians by variant id. */
export type Results = ReadonlyMap<string, Samples>;

/** Every variant, in the order each round runs them. */
export const VARIANTS: readonly Variant[] = [
  sliceVariant('c1.response', 'slice-fetch `fetch()` + reader, first fetch', { path: 'slow', size: 'small' }),
  sliceVariant('c1.response.steady', 'slice-fetch `fetch()` + reader, warm process', {
    path: 'slow',
    size: 'small',
    warmProcess: true,
  }),
  sliceVariant('c1.open', 'slice-fetch internal open, first fetch', {
    path: 'slow',
    size: 'small',
    entry: 'open',
  }),
  sliceVariant('c1.open.steady', 'slice-fetch internal open, warm process', {
    path: 'slow',
    size: 'small',
    entry: 'open',
    warmProcess: true,
  }),
  {
    id: 'c1.aria2c',
    label: 'aria2c -x8 -s8 -k1M',
    run: async (env) => {
      const r = await runAria2c(`${env.base}/slow/${env.smallFile}`, env.aria2Dir, SMALL_BYTES);
      return { ms: r.ms, rssKiB: r.maxRssKiB, cpuMs: Number.NaN, arrayBuffersKiB: Number.NaN };
    },
  },
  undiciVariant('c1.undici', 'undici, one GET', 'slow', 'small'),
  undiciVariant('c2.undici', 'undici, one GET', 'fast', 'large'),
  sliceVariant('c2.cold.open', 'cold, internal open (pieces)', { entry: 'open' }),
  sliceVariant('c2.cold.recycled', 'cold, internal open, pieces given back (as `createSliceHandler()`)', {
    entry: 'recycled',
  }),
  sliceVariant('c2.cold.response', 'cold, `fetch()` + reader', {}),
  sliceVariant('c2.cold.open.steady', 'cold, internal open, warm process', {
    entry: 'open',
    warmProcess: true,
  }),
  sliceVariant('c2.cold.response.steady', 'cold, `fetch()` + reader, warm process', { warmProcess: true }),
  sliceVariant('c2.nocache.open', 'cold, `cache: false`, internal open', {
    entry: 'open',
    cacheBytes: false,
  }),
  sliceVariant('c2.warm.open', 'warm, internal open (pieces)', {
    entry: 'open',
    cacheBytes: WARM_CACHE_BYTES,
    passes: 2,
  }),
  sliceVariant('c2.warm.response', 'warm, `fetch()` + reader', { cacheBytes: WARM_CACHE_BYTES, passes: 2 }),
];

/** Case 1's slice-fetch variants, which have targets against aria2c and one GET. */
export const CASE1_SLICES = ['c1.response', 'c1.response.steady', 'c1.open', 'c1.open.steady'] as const;

/** Case 6's variants (a subset of case 2's): what `--only 6` runs when cases 1–3 are not selected. */
export const CASE6_IDS: readonly string[] = ['c2.undici', 'c2.cold.response', 'c2.cold.response.steady'];

/** Case 1's rows, in table order. */
export const CASE1_IDS = [...CASE1_SLICES, 'c1.aria2c', 'c1.undici'] as const;

/**
 * The label of variant `id` (the id itself when unknown).
 *
 * @example
 * ```ts
 * variantLabel('c1.aria2c'); // "aria2c -x8 -s8 -k1M"
 * ```
 */
export function variantLabel(id: string): string {
  return VARIANTS.find((v) => v.id === id)?.label ?? id;
}

// ---------------------------------------------------------------------------------------------------------

function urlOf(env: BenchEnv, path: 'slow' | 'fast', size: 'small' | 'large'): string {
  return `${env.base}/${path}/${size === 'small' ? env.smallFile : env.largeFile}`;
}

function expectBody(id: string, bytes: number, status: number, size: 'small' | 'large'): void {
  const want = size === 'small' ? SMALL_BYTES : LARGE_BYTES;
  if (status !== 200 || bytes !== want)
    throw new Error(`${id}: expected status 200 and ${want} bytes, got ${status} and ${bytes} bytes`);
}

function undiciVariant(id: string, text: string, path: 'slow' | 'fast', size: 'small' | 'large'): Variant {
  return {
    id,
    label: text,
    run: async (env) => {
      const r = await runClient(env.clients.undici, { url: urlOf(env, path, size) });
      const pass = r.passes[0];
      if (pass === undefined) throw new Error(`${id}: no pass reported`);
      expectBody(id, pass.bytes, pass.status, size);
      return {
        ms: pass.ms,
        rssKiB: r.maxRssKiB,
        cpuMs: pass.cpuMs,
        arrayBuffersKiB: r.peakArrayBuffersKiB,
        rusageRssKiB: r.rusageMaxRssKiB,
      };
    },
  };
}

/** How a slice-fetch variant runs; defaults: 1 GiB unthrottled, `fetch()`, 64 MiB store, one pass. */
interface SliceVariantOptions {
  readonly path?: 'slow' | 'fast';
  readonly size?: 'small' | 'large';
  readonly entry?: 'open' | 'recycled' | 'response';
  readonly cacheBytes?: number | false;
  /** Passes in one process; the last is measured (2 = warm cache). */
  readonly passes?: number;
  /** Fetch another object first, untimed, so JIT, undici's llhttp and the pool are warm. */
  readonly warmProcess?: boolean;
}

function sliceVariant(id: string, text: string, options: SliceVariantOptions): Variant {
  const {
    path = 'fast',
    size = 'large',
    entry = 'response',
    cacheBytes = COLD_CACHE_BYTES,
    passes = 1,
  } = options;
  return {
    id,
    label: text,
    run: async (env) => {
      const spec: SliceClientSpec = {
        url: urlOf(env, path, size),
        entry,
        passes,
        cacheBytes,
        ...SLICE_SETTINGS,
        // The 64 MiB object under another key (the query), unthrottled: quick, and the measured pass still misses.
        ...(options.warmProcess === true ? { warmupUrl: `${urlOf(env, 'fast', 'small')}?warmup` } : {}),
      };
      const r = await runClient(env.clients.slice, spec);
      for (const pass of r.passes) expectBody(id, pass.bytes, pass.status, size);
      const last = r.passes[r.passes.length - 1];
      if (last === undefined) throw new Error(`${id}: no pass reported`);
      return {
        ms: last.ms,
        rssKiB: r.maxRssKiB,
        cpuMs: last.cpuMs,
        arrayBuffersKiB: r.peakArrayBuffersKiB,
        rusageRssKiB: r.rusageMaxRssKiB,
      };
    },
  };
}
