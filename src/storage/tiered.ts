/**
 * A tiered slice store (R16): fast, small tiers in front of slow, shared ones — typically memory in
 * front of Redis or disk. Reads go down the tiers and promote a hit into every tier above it; writes go to
 * all tiers at once; a failing tier is skipped, and an operation fails only when every tier failed.
 *
 * Promotion needs the entry's meta (its expiry and object), which `CacheStorage.get` does not return. The
 * tiered store remembers the meta of the entries written through it, in a bounded LRU (`maxTrackedEntries`, a
 * few hundred bytes each). An entry another process wrote into a shared tier is promoted too (R16): every key
 * of an object starts with the object's hash, and the engine asks for the object's generation before it reads
 * any of its keys, so the store learns which object a key prefix names there; such an entry is kept above
 * for `promotedTtlMs` (slice keys name their version and generation, so a copy kept longer is never wrong
 * bytes). Only whole-entry reads promote (a sub-range is not the entry); the engine reads whole slices.
 *
 * Generations (P27): the object's generation is the lowest tier's — the shared one, which coordinates the
 * fleet; none when it keeps none — and purge notices are passed on. On a notice the tiers above it
 * (copies private to this process) drop the object at once, before the engine is told.
 *
 * Purge versus promotion: a hit read from tier k just before a purge must not be written back into tier 0
 * just after it. `delete` and `purgeObject` (and a purge notice) forget the meta and object of what they
 * remove before touching any tier (a read still in flight then finds neither and does not promote) and wait
 * for promotions already being written before clearing the tiers.
 *
 * @module
 */
import { LRUCache } from 'lru-cache';
import { optionError, optionsObject, SliceFetchError } from '../core/errors.js';
import { objectKeyPrefix } from '../core/keys.js';
import type {
  Awaitable,
  ByteRange,
  CacheChunks,
  CacheEntryMeta,
  CacheGetOptions,
  CacheStats,
  CacheStorage,
} from '../ports.js';
import { tierNotices } from './tiered-notices.js';

/** Options of {@link tieredStorage}. */
export interface TieredStorageOptions {
  /** How many entries' meta to remember for promotion (least recently used forgotten first). @default 16384 */
  maxTrackedEntries?: number;
  /** Clock for expiry checks before a promotion, milliseconds since the epoch. @default Date.now */
  now?: () => number;
  /**
   * How long an entry another process wrote into a lower tier is kept by the tiers above once promoted
   * (its own expiry is not known here), in milliseconds.
   * @default 300000 (5 minutes)
   */
  promotedTtlMs?: number;
}

/**
 * Stacks stores, fastest first. `get` tries each tier in order and promotes a whole-entry hit from tier k
 * into tiers 0…k−1 (promotion failures are ignored); `set` writes every tier; `delete` and `purgeObject`
 * clear every tier (`purgeObject` resolves the largest count of any tier — the upper tiers hold copies of
 * the lower ones, so summing would count one entry twice); `stats` lists each tier under `tiers` (a failed
 * tier as zeros) with the largest tier's bytes and entries on top, for the same reason; `has` asks the tiers
 * in order and says `true` at the first that holds the entry (a tier without `has` counts as not holding it;
 * the tiered store has `has` when any tier does); `close` closes every tier. A call rejects only when every
 * tier failed (`close`: when any did).
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `tiers` is empty or an option is out of range.
 * @example
 * ```ts
 * import { createSliceFetcher, memoryStorage, tieredStorage } from 'slice-fetch';
 * import { redisStorage } from 'slice-fetch/redis';
 * const cache = tieredStorage([memoryStorage({ maxBytes: 512 * 1024 * 1024 }), redisStorage({ url: process.env.REDIS_URL })]);
 * const fetcher = createSliceFetcher({ cache });
 * ```
 */
export function tieredStorage(tiers: readonly CacheStorage[], input?: TieredStorageOptions): CacheStorage {
  const options = optionsObject(
    input,
    ['maxTrackedEntries', 'now', 'promotedTtlMs'],
    'tieredStorage options',
  );
  if (!Array.isArray(tiers) || tiers.length === 0) {
    throw optionError('tiers', 'a non-empty array of stores', Array.isArray(tiers) ? tiers.length : tiers);
  }
  const max = options.maxTrackedEntries ?? 16_384;
  if (!Number.isSafeInteger(max) || max < 1)
    throw optionError('maxTrackedEntries', 'a positive integer', max);
  const promotedTtlMs = options.promotedTtlMs ?? 300_000;
  if (!Number.isSafeInteger(promotedTtlMs) || promotedTtlMs < 1)
    throw optionError('promotedTtlMs', 'a positive integer', promotedTtlMs);
  const now = options.now ?? Date.now;
  const stack = [...tiers];
  const first = stack[0] as CacheStorage;
  const known = new LRUCache<string, CacheEntryMeta>({ max });
  /** Object key prefix → object key, for promoting entries other processes wrote (see the module notes). */
  const objects = new LRUCache<string, string>({ max });
  const promotions = new Set<Promise<void>>();
  /** How many tiers can say whether they hold an entry. */
  const answering = tiers.filter((tier) => typeof tier.has === 'function').length;

  async function readFrom(
    start: number,
    key: string,
    range: ByteRange | undefined,
    failures: unknown[],
    kind?: CacheGetOptions,
  ): Promise<CacheChunks | undefined> {
    for (let k = start; k < stack.length; k++) {
      let hit: CacheChunks | undefined;
      try {
        hit = await (stack[k] as CacheStorage).get(key, range, kind);
      } catch (error) {
        failures.push(error);
        continue;
      }
      if (hit !== undefined) {
        if (range === undefined) promote(key, hit, k);
        return hit;
      }
    }
    if (failures.length === stack.length) throw allFailed('get', failures);
    return undefined;
  }

  function promote(key: string, chunks: CacheChunks, below: number): void {
    const meta = known.get(key) ?? promotedMeta(key, chunks);
    if (meta === undefined) return;
    if (meta.expiresAt <= now()) {
      known.delete(key);
      return;
    }
    for (let i = 0; i < below; i++) {
      try {
        const result = (stack[i] as CacheStorage).set(key, chunks, meta);
        if (isPromise(result)) {
          const tracked: Promise<void> = result
            .then(ignore, ignore)
            .finally(() => promotions.delete(tracked));
          promotions.add(tracked);
        }
      } catch {
        // a promotion is an optimisation: the entry is still served from its own tier
      }
    }
  }

  /** The meta of an entry another process wrote, when the object its key names is known here. */
  function promotedMeta(key: string, chunks: CacheChunks): CacheEntryMeta | undefined {
    const dot = key.indexOf('.');
    const objectKey = dot === -1 ? undefined : objects.get(key.slice(0, dot));
    if (objectKey === undefined) return undefined;
    const size = chunks.reduce((total, chunk) => total + chunk.byteLength, 0);
    return {
      kind: 'slice',
      objectKey,
      validator: '',
      range: { start: 0, end: Math.max(size - 1, 0) },
      size,
      expiresAt: now() + promotedTtlMs,
    };
  }

  /** Forgets what could promote entries of `objectKey` (a read still in flight then does not). */
  function forgetObject(objectKey: string): void {
    objects.delete(objectKeyPrefix(objectKey));
    for (const [key, meta] of known.entries()) if (meta.objectKey === objectKey) known.delete(key);
  }

  // A purge notice from tier `from`: the tiers above it drop their copies of the object before the listeners
  // (the engine) are told.
  const notices = tierNotices(stack, (from, objectKey) => {
    forgetObject(objectKey);
    return clear(() =>
      Promise.allSettled(stack.slice(0, from).map(async (tier) => tier.purgeObject(objectKey))),
    );
  });

  /**
   * Asks the tiers from `start` on, in order, whether they hold `key`, and stops at the first `true`. A tier
   * without `has` cannot tell and counts as not holding it; a failing tier is skipped. Synchronous while the
   * tiers asked answer synchronously (a memory tier in front); rejects only when every tier that can answer failed.
   */
  function hasFrom(start: number, key: string, failures: unknown[]): Awaitable<boolean> {
    for (let k = start; k < stack.length; k++) {
      const tier = stack[k] as CacheStorage;
      if (tier.has === undefined) continue;
      let held: Awaitable<boolean>;
      try {
        held = tier.has(key);
      } catch (error) {
        failures.push(error);
        continue;
      }
      if (isPromise(held)) {
        return held.then(
          (yes) => yes || hasFrom(k + 1, key, failures),
          (error: unknown) => {
            failures.push(error);
            return hasFrom(k + 1, key, failures);
          },
        );
      }
      if (held) return true;
    }
    return failures.length > 0 && failures.length === answering
      ? Promise.reject(allFailed('has', failures))
      : false;
  }

  /** Runs a delete or purge once the promotions already being written have landed (see the module notes). */
  async function clear<T>(run: () => Promise<T>): Promise<T> {
    await Promise.allSettled(promotions);
    return run();
  }

  /**
   * Runs `op` on every tier concurrently. A failed tier contributes `fallback` (or nothing, for `set`); the
   * call rejects only when every tier failed.
   */
  async function everyTier<T>(
    what: string,
    op: (tier: CacheStorage) => Awaitable<T>,
    fallback?: T,
  ): Promise<T[]> {
    const outcomes = await Promise.allSettled(stack.map(async (tier) => op(tier)));
    const values: T[] = [];
    const failures: unknown[] = [];
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') values.push(outcome.value);
      else {
        failures.push(outcome.reason);
        if (fallback !== undefined) values.push(fallback);
      }
    }
    if (failures.length === stack.length) throw allFailed(what, failures);
    return values;
  }

  // Fills are coordinated across processes by the first tier that can (a shared Redis behind memory).
  const coordinator = tiers.find((tier) => typeof tier.lock === 'function');
  // Generations come from the lowest tier, the shared one where purges meet; when it keeps none, neither does
  // the tiered store (a memory tier's own would split the keys of one fleet).
  const lowest = stack[stack.length - 1] as CacheStorage;
  const keeper = typeof lowest.generation === 'function' ? lowest : undefined;
  const noticing = tiers.some((tier) => typeof tier.onPurge === 'function');
  return {
    ...(keeper === undefined
      ? {}
      : {
          generation(objectKey: string): Awaitable<string> {
            objects.set(objectKeyPrefix(objectKey), objectKey);
            return (keeper.generation as NonNullable<CacheStorage['generation']>)(objectKey);
          },
        }),
    ...(noticing ? { onPurge: (listener: (objectKey: string) => void) => notices.listen(listener) } : {}),
    ...(coordinator === undefined
      ? {}
      : {
          lock: (key: string, ttlMs: number) =>
            (coordinator.lock as NonNullable<CacheStorage['lock']>)(key, ttlMs),
          unlock: (key: string) => coordinator.unlock?.(key),
          // Short, renewed claims (R22) are the coordinator's: its lifetime, its compare-and-extend.
          ...(coordinator.lockMs === undefined ? {} : { lockMs: coordinator.lockMs }),
          ...(coordinator.renew === undefined
            ? {}
            : {
                renew: (key: string, ttlMs: number) =>
                  (coordinator.renew as NonNullable<CacheStorage['renew']>)(key, ttlMs),
              }),
        }),
    // Present only when some tier can answer: a `has` that always said no would turn every HIT into a MISS.
    ...(answering === 0 ? {} : { has: (key: string) => hasFrom(0, key, []) }),
    // In-process only when every tier is; trusted without the engine's checksum only when every tier is
    // in-process or checks its own (memory in front of disk). Otherwise every tier stores the checksummed slice.
    inProcess: tiers.every((tier) => tier.inProcess === true),
    checksummed: tiers.every((tier) => tier.inProcess === true || tier.checksummed === true),
    // Scan resistance may skip a write only when every tier would be flushed by it.
    maxBytes: tiers.some((tier) => tier.maxBytes === undefined)
      ? undefined
      : Math.max(...tiers.map((tier) => tier.maxBytes ?? 0)),
    // `options.allocate` is not passed down: a hit from a lower tier is promoted — kept by a tier above — so its
    // memory must never go back to the caller's pool (CacheGetOptions). `options.kind` is.
    get(key, range, options): Awaitable<CacheChunks | undefined> {
      const kind = options?.kind === undefined ? undefined : { kind: options.kind };
      let result: Awaitable<CacheChunks | undefined>;
      try {
        result = first.get(key, range, kind);
      } catch (error) {
        return readFrom(1, key, range, [error], kind);
      }
      // A resident hit in a synchronous first tier (memory) is returned without a promise.
      if (!isPromise(result)) return result ?? readFrom(1, key, range, [], kind);
      return result.then(
        (hit) => hit ?? readFrom(1, key, range, [], kind),
        (error: unknown) => readFrom(1, key, range, [error], kind),
      );
    },

    async set(key, value, meta) {
      if (stack.length > 1) known.set(key, meta);
      await everyTier('set', (tier) => tier.set(key, value, meta));
    },

    delete(key) {
      known.delete(key);
      return clear(async () => (await everyTier('delete', (tier) => tier.delete(key))).some(Boolean));
    },

    purgeObject(objectKey) {
      forgetObject(objectKey);
      return clear(async () =>
        Math.max(0, ...(await everyTier('purge', (tier) => tier.purgeObject(objectKey)))),
      );
    },

    async stats(): Promise<CacheStats> {
      const each = await everyTier('stats', (tier) => tier.stats(), { bytes: 0, entries: 0 });
      // Each tier holds a subset of the entries (the upper ones copies of the lower ones), so the largest
      // tier is the best single figure for what the store holds; a sum would count copies twice.
      let bytes = 0;
      let entries = 0;
      for (const tier of each) {
        bytes = Math.max(bytes, tier.bytes);
        entries = Math.max(entries, tier.entries);
      }
      return { bytes, entries, tiers: each };
    },

    async close() {
      notices.close();
      await Promise.allSettled(promotions);
      known.clear();
      objects.clear();
      const outcomes = await Promise.allSettled(stack.map(async (tier) => tier.close()));
      const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      if (failures.length > 0) {
        const message = `Closing ${failures.length} of ${stack.length} tiers of the tiered store failed.`;
        throw new SliceFetchError('ERR_SLICE_CACHE', message, {
          cause: new AggregateError(failures, message),
        });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

function isPromise<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

function ignore(): void {}

function allFailed(what: string, failures: unknown[]): SliceFetchError {
  const message = `Every tier of the tiered store failed to ${what} (${failures.length} tiers).`;
  return new SliceFetchError('ERR_SLICE_CACHE', message, { cause: new AggregateError(failures, message) });
}
