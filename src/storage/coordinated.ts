/**
 * The coordinated store (R22): the recommended fleet setup. A shared store — Redis — coordinates, and the slice
 * bytes stay in each node's own store — its disk. The coordinator holds what every node must agree on: the
 * fill locks (short, renewed while a fill makes progress), the objects' metadata and their purge generations
 * (announced to every process on a purge). The bytes store holds the slices, and only them. So Redis carries a
 * few commands per filled slice and no slice bytes, and a fleet's bandwidth is its nodes' disks and NICs,
 * not Redis's.
 *
 * What each call does:
 * - `get`, `has`, `set`, `delete` of a slice go to the bytes store; of metadata (`CacheGetOptions.kind` /
 *   `CacheEntryMeta.kind` is `'metadata'`) to the coordinator. `delete` clears the key in both (it does not say
 *   which kind it names).
 * - `lock`, `renew`, `unlock`, `lockMs`, `generation` and `onPurge` are the coordinator's.
 * - `purgeObject` moves the object to a new generation in the coordinator (so no node reads the old slices
 *   again, wherever they are, and every node drops what it holds in memory), then removes this node's files.
 *   Other nodes' files of the old generation are unreachable and leave by their store's eviction.
 * - `stats` add both stores' up (they hold different entries), each under `tiers` (bytes first).
 *
 * A node that misses a slice claims it fleet-wide and fetches it from the origin; a node that finds it claimed
 * waits until the holder is done, then fetches it for its own disk. Behind a consistent-hash balancer
 * (docs/fleet.md) one node owns each object, so the origin sees each slice once; the locks keep two owners
 * (during a rebalance) from fetching one slice at the same time.
 *
 * @module
 */
import {
  CACHE_STORAGE_METHODS,
  describeGiven,
  hasMethods,
  optionError,
  optionsObject,
} from '../core/errors.js';
import type {
  Awaitable,
  ByteRange,
  CacheChunks,
  CacheEntryMeta,
  CacheGetOptions,
  CacheStats,
  CacheStorage,
} from '../ports.js';

/** Options of {@link coordinatedStorage}. */
export interface CoordinatedStorageOptions {
  /**
   * The shared store that coordinates: locks, metadata and purge generations (a `redisStorage`). It must
   * implement `lock`, `unlock` and `generation`.
   */
  readonly coordinator: CacheStorage;
  /** This node's store for slice bytes: an `fsStorage` (optionally behind a memory tier, with `tieredStorage`). */
  readonly bytes: CacheStorage;
}

/**
 * A store whose slice bytes stay in `bytes` (this node's disk) while `coordinator` (Redis) holds the fill
 * locks, the metadata and the purge generations for the whole fleet.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when an option is missing, or `coordinator` cannot lock or keep
 * generations.
 * @example
 * ```ts
 * import { coordinatedStorage, createSliceFetcher, fsStorage } from 'slice-fetch';
 * import { redisStorage } from 'slice-fetch/redis';
 * const cache = coordinatedStorage({
 *   coordinator: redisStorage({ url: 'redis://10.0.0.5:6379', prefix: 'edge:' }),
 *   bytes: fsStorage({ dir: '/var/cache/slice-fetch', maxBytes: 500 * 1024 ** 3 }),
 * });
 * const fetcher = createSliceFetcher({ cache });
 * ```
 */
export function coordinatedStorage(input: CoordinatedStorageOptions): CacheStorage {
  const { coordinator, bytes } = optionsObject(input, ['coordinator', 'bytes'], 'coordinatedStorage options');
  if (!hasMethods(coordinator, [...CACHE_STORAGE_METHODS, 'lock', 'unlock', 'generation']))
    throw optionError(
      'coordinator',
      'a shared store that locks and keeps purge generations (a redisStorage)',
      describeGiven(coordinator),
    );
  if (!hasMethods(bytes, CACHE_STORAGE_METHODS))
    throw optionError('bytes', 'a CacheStorage (an fsStorage)', describeGiven(bytes));
  // Checked above: a store with all three.
  const shared = coordinator as Required<Pick<CacheStorage, 'lock' | 'unlock' | 'generation'>>;
  const lock = shared.lock.bind(coordinator);
  const unlock = shared.unlock.bind(coordinator);
  const generation = shared.generation.bind(coordinator);
  const renew = coordinator.renew?.bind(coordinator);
  const onPurge = coordinator.onPurge?.bind(coordinator);
  const bytesHas = bytes.has?.bind(bytes);

  const store: CacheStorage = {
    inProcess: false,
    checksummed: bytes.checksummed === true,
    // Slices go to the byte store alone (metadata, never recycled memory, to the coordinator).
    copiesValues: bytes.copiesValues === true,
    maxBytes: bytes.maxBytes,
    lockMs: coordinator.lockMs,
    get(key: string, range?: ByteRange, options?: CacheGetOptions): Awaitable<CacheChunks | undefined> {
      if (options?.kind === 'metadata') return coordinator.get(key, range);
      return bytes.get(key, range, options);
    },
    set(key: string, value: CacheChunks, meta: CacheEntryMeta): Awaitable<void> {
      return meta.kind === 'metadata' ? coordinator.set(key, value, meta) : bytes.set(key, value, meta);
    },
    async delete(key: string): Promise<boolean> {
      const [slice, metadata] = await Promise.allSettled([bytes.delete(key), coordinator.delete(key)]);
      if (slice.status === 'rejected' && metadata.status === 'rejected') throw slice.reason;
      return isTrue(slice) || isTrue(metadata);
    },
    async purgeObject(objectKey: string): Promise<number> {
      // The generation first: from then on no node reads the old keys, whatever the file removal below finds.
      const shared = await coordinator.purgeObject(objectKey);
      return shared + (await bytes.purgeObject(objectKey));
    },
    generation,
    lock,
    unlock,
    async stats(): Promise<CacheStats> {
      const [own, shared] = await Promise.all([bytes.stats(), coordinator.stats()]);
      // The two hold different entries (slices here, metadata there): their sum is what the store holds.
      return { bytes: own.bytes + shared.bytes, entries: own.entries + shared.entries, tiers: [own, shared] };
    },
    async close(): Promise<void> {
      const results = await Promise.allSettled([bytes.close(), coordinator.close()]);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
  if (bytesHas !== undefined) store.has = (key) => bytesHas(key);
  if (renew !== undefined) store.renew = renew;
  if (onPurge !== undefined) store.onPurge = onPurge;
  return store;
}

// ---------------------------------------------------------------------------------------------------------

function isTrue(result: PromiseSettledResult<boolean>): boolean {
  return result.status === 'fulfilled' && result.value;
}
