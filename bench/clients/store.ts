/**
 * Benchmark client for case 4 (persistent stores): fetches one object through slice-fetch with a disk
 * (`fsStorage`) or Redis (`redisStorage`) store and discards the bytes. One process is one pass: run it once
 * on an empty store (the cold pass, which fills it), then again in a new process (the warm pass, whose bytes
 * come from the store, not from this process's memory). Before reporting, it waits — untimed — until every
 * slice of the pass is written, so the next process finds a full store. Its own bundle, so the memory-store
 * client of cases 1–3 does not load node-redis.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CacheStorage,
  createSliceFetcher,
  fsStorage,
  type InternalSliceFetcher,
  openSymbol,
} from '../../src/index.js';
import { redisStorage } from '../../src/storage/redis.js';
import { byteSink, type PassResult, readSpec, report, startPass } from './protocol.js';

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
  },
}) as InternalSliceFetcher;

const pass = spec.entry === 'open' ? await viaOpen(spec.url) : await viaResponse(spec.url);
// Untimed: let the writes of this pass land (each slice either hit or missed and is then stored).
const drainStart = performance.now();
while (stores < misses && performance.now() < drainStart + 60_000) await sleep(5);
const drainMs = performance.now() - drainStart;
await fetcher.close();
await store.close?.();
report({ passes: [{ ...pass, cacheHits: hits, cacheMisses: misses, cacheStores: stores, drainMs }] });

// ---------------------------------------------------------------------------------------------------------

async function viaOpen(url: string): Promise<PassResult> {
  const sink = byteSink(spec.verify === true ? createHash('sha256') : undefined);
  const stop = startPass();
  const result = await fetcher[openSymbol](url);
  if (result.body !== undefined)
    for await (const piece of result.body) for (const chunk of piece) sink.add(chunk);
  return { ...stop(), bytes: sink.bytes, status: result.status, sha256: sink.digest() };
}

async function viaResponse(url: string): Promise<PassResult> {
  const sink = byteSink(spec.verify === true ? createHash('sha256') : undefined);
  const stop = startPass();
  const response = await fetcher.fetch(url);
  const reader = response.body?.getReader();
  if (reader !== undefined) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.add(value);
    }
  }
  return { ...stop(), bytes: sink.bytes, status: response.status, sha256: sink.digest() };
}
