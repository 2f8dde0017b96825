import { setTimeout as sleep } from 'node:timers/promises';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import { type CacheStorage, createSliceFetcher, fsStorage } from '../../src/index.js';
import { redisStorage } from '../../src/storage/redis.js';
import { readSpec, report } from './protocol.js';
import { readPass } from './read-pass.js';

/** The JSON argument of this client. */
export interface StoreClientSpec {
  readonly url: string;
  readonly entry: 'open' | 'response';
  readonly sliceSize: number;
  readonly concurrency: number;
  /** `fsStorage({ dir, maxBytes })` or `redisStorage({ url })`. */
  readonly store:
    | { readonly kind: 'fs'; readonly dir: string; readonly maxBytes: number }
    | {
        readonly kind: 'redis';
        readonly url: string;
      };
  /** Hash the body (correctness check only). */
  readonly verify?: boolean;
}

const spec = readSpec<StoreClientSpec>();
const store: CacheStorage =
  spec.store.kind === 'fs'
    ? fsStorage({ dir: spec.store.dir, maxBytes: spec.store.maxBytes })
    : redisStorage({ url: spec.store.url });
// Start-up work of a long-lived process, not of a transfer: the disk index scan, the Redis connection.
if (spec.store.kind === 'fs') await (store as ReturnType<typeof fsStorage>).ready;
let hits = 0;
let stores = 0;
let misses = 0;
/** Slices fetched from the origin and validated: the cache misses plus the reference slice of a cold object. */
let fetched = 0;
const fetcher = createSliceFetcher({
  sliceSize: spec.sliceSize,
  concurrency: spec.concurrency,
  cache: store,
  hooks: {
    onCacheHit: () => {
      hits++;
    },
    onCacheMiss: () => {
      misses++;
    },
    onCacheStore: () => {
      stores++;
    },
    onSliceEnd: () => {
      fetched++;
    },
  },
}) as InternalSliceFetcher;

const pass = await readPass(fetcher, spec.url, spec.entry, spec.verify === true);
// Untimed: let the writes of this pass land (every slice fetched from the origin, the reference slice
// included, is then stored; it is not a lookup miss, so counting misses alone would stop one write early).
const drainStart = performance.now();
while (stores < fetched && performance.now() < drainStart + 60_000) await sleep(5);
const drainMs = performance.now() - drainStart;
await fetcher.close();
await store.close?.();
report({ passes: [{ ...pass, cacheHits: hits, cacheMisses: misses, cacheStores: stores, drainMs }] });

// ---------------------------------------------------------------------------------------------------------
