/**
 * The shared conformance suite of the {@link CacheStorage} port: every store (memory, disk, Redis, tiered, or
 * yours) runs the same cases, so "keeps every byte intact, never serves an expired entry, respects its byte
 * budget, purges every version of an object" (R7, P13) is checked once, the same way, for all of them.
 * Shipped as `slice-fetch/testing`; it needs vitest (an optional peer).
 *
 * @module
 */
import { describe, it } from 'vitest';
import type { Awaitable, CacheStorage } from '../ports.js';
import type { CaseBody, DeclareCase, Open } from './conformance-fixtures.js';
import { declareIntegrityCases } from './conformance-integrity-cases.js';
import { declareReadCases } from './conformance-read-cases.js';
import { declareRemovalCases } from './conformance-removal-cases.js';

/** What the suite asks a factory for: a fresh, empty store sized for the case. */
export interface CacheStorageFactoryOptions {
  /** The store's byte budget for this case. */
  readonly maxBytes: number;
  /** A clock to use for expiry checks, when the case controls time; pass it to stores that accept one. */
  readonly now?: () => number;
}

/** A fresh store, and how to remove what it left behind (a temp directory, a Redis namespace). */
export interface CacheStorageUnderTest {
  /** The store, empty. */
  readonly store: CacheStorage;
  /** Called after the case, once the store is closed. */
  readonly cleanup?: () => Awaitable<void>;
}

/** Makes a fresh, empty store for one case. */
export type CacheStorageFactory = (options: CacheStorageFactoryOptions) => Awaitable<CacheStorageUnderTest>;

/** The stable ids of the conformance cases, as used in {@link CacheStorageConformanceOptions.skip}. */
export type CacheStorageConformanceCase =
  | 'missing'
  | 'round-trip'
  | 'overwrite'
  | 'sub-range'
  | 'allocate'
  | 'expired-at-set'
  | 'expiry-clock'
  | 'has'
  | 'has-expiry'
  | 'delete'
  | 'purge-object'
  | 'purge-generation'
  | 'stats'
  | 'byte-budget'
  | 'concurrent-writers'
  | 'binary-safety'
  | 'metadata'
  | 'close'
  | 'copies-values';

/** Options of {@link runCacheStorageConformance}. */
export interface CacheStorageConformanceOptions {
  /**
   * Cases that do not apply to the store, each with the reason (shown in the skipped test's title) — e.g.
   * `{ 'expiry-clock': 'Redis expires keys by its own clock (PX)' }`.
   * @default {}
   */
  readonly skip?: Partial<Record<CacheStorageConformanceCase, string>>;
}

/**
 * Registers the {@link CacheStorage} conformance cases as a vitest `describe` block. Each case gets a fresh
 * store from `factory` and closes it (then calls `cleanup`) afterwards.
 *
 * @example
 * ```ts
 * import { memoryStorage } from 'slice-fetch';
 * import { runCacheStorageConformance } from 'slice-fetch/testing';
 *
 * runCacheStorageConformance('memoryStorage', ({ maxBytes, now }) => ({ store: memoryStorage({ maxBytes, now }) }));
 * ```
 */
export function runCacheStorageConformance(
  name: string,
  factory: CacheStorageFactory,
  options: CacheStorageConformanceOptions = {},
): void {
  const skip = options.skip ?? {};
  const test: DeclareCase = (id, title, body) => {
    const reason = skip[id];
    if (reason !== undefined) {
      it.skip(`${title} (skipped: ${reason})`, () => {});
      return;
    }
    it(title, (context) => withStores(factory, body, (note) => context.skip(note)));
  };

  describe(`CacheStorage conformance: ${name}`, () => {
    declareReadCases(test);
    declareRemovalCases(test);
    declareIntegrityCases(test);
  });
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Runs one case; closes every store it opened (unless the case did) and calls the factory's cleanups. */
async function withStores(
  factory: CacheStorageFactory,
  body: CaseBody,
  skip: (note: string) => never,
): Promise<void> {
  const opened: CacheStorageUnderTest[] = [];
  const closedByCase = new WeakSet<CacheStorage>();
  const open: Open = async (options) => {
    const underTest = await factory({ maxBytes: DEFAULT_MAX_BYTES, ...options });
    opened.push(underTest);
    return underTest.store;
  };
  try {
    await body(open, (store) => closedByCase.add(store), skip);
  } finally {
    for (const { store, cleanup } of opened) {
      if (!closedByCase.has(store)) await store.close();
      await cleanup?.();
    }
  }
}
