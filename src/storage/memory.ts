/**
 * The default slice store: an in-process LRU bounded by bytes (lru-cache with `maxSize`), holding each
 * slice's chunks by reference — a hit costs no copy.
 *
 * Purge generations (P27) live in a small in-process map: nothing else shares this store, and a purge removes
 * every entry of the object at once, so a generation here only has to change on purge. A generation the map
 * forgets (it is bounded) goes back to `''`, whose entries that purge removed.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { type Chunks, chunksLength, sliceChunks } from '../core/chunks.js';
import { optionError, optionsObject } from '../core/errors.js';
import type { ByteRange, CacheEntryMeta, CacheStats, CacheStorage } from '../ports.js';

/** Options of {@link memoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * Byte budget of the values held; the least recently used entries are evicted beyond it.
   * @default 268435456 (256 MiB)
   */
  maxBytes?: number;
  /** Clock for expiry checks, milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

/**
 * Creates an in-memory {@link CacheStorage} with an LRU byte budget. Entries past their `expiresAt` are
 * never returned.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `maxBytes` is not a positive integer.
 * @example
 * ```ts
 * import { createSliceFetcher, memoryStorage } from 'slice-fetch';
 * const fetcher = createSliceFetcher({ cache: memoryStorage({ maxBytes: 512 * 1024 * 1024 }) });
 * ```
 */
export function memoryStorage(input?: MemoryStorageOptions): CacheStorage {
  const options = optionsObject(input, ['maxBytes', 'now'], 'memoryStorage options');
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw optionError('maxBytes', 'a positive integer', maxBytes);
  }
  const now = options.now ?? Date.now;
  const lru = new LRUCache<string, Entry>({ maxSize: maxBytes });
  /** Generations of purged objects; an object never purged (or forgotten here) is in generation `''`. */
  const generations = new LRUCache<string, string>({ max: MAX_GENERATIONS });

  return {
    inProcess: true,
    maxBytes,
    get(key: string, range?: ByteRange): Chunks | undefined {
      const entry = lru.get(key);
      if (entry === undefined) return undefined;
      if (entry.meta.expiresAt <= now()) {
        lru.delete(key);
        return undefined;
      }
      return range === undefined ? entry.chunks : sliceChunks(entry.chunks, range.start, range.end);
    },
    has(key: string): boolean {
      // `peek` leaves the LRU order alone: asking is not using.
      const entry = lru.peek(key);
      if (entry === undefined) return false;
      if (entry.meta.expiresAt <= now()) {
        lru.delete(key);
        return false;
      }
      return true;
    },
    set(key: string, value: Chunks, meta: CacheEntryMeta): void {
      // lru-cache needs a positive size; an empty slice is charged one byte.
      const size = Math.max(chunksLength(value), 1);
      if (size > maxBytes) return; // larger than the whole budget: caching it would evict everything for nothing
      lru.set(key, { chunks: value, meta }, { size });
    },
    delete(key: string): boolean {
      return lru.delete(key);
    },
    generation(objectKey: string): string {
      return generations.get(objectKey) ?? '';
    },
    purgeObject(objectKey: string): number {
      generations.set(objectKey, randomBytes(8).toString('hex'));
      let removed = 0;
      for (const [key, entry] of lru.entries()) {
        if (entry.meta.objectKey === objectKey && lru.delete(key)) removed++;
      }
      return removed;
    },
    stats(): CacheStats {
      // `calculatedSize` follows lru-cache's own evictions, so no bookkeeping of ours can drift.
      return { bytes: lru.calculatedSize, entries: lru.size };
    },
    close(): void {
      lru.clear();
      generations.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** Purged objects whose generation is remembered (about 100 bytes each). */
const MAX_GENERATIONS = 65_536;

interface Entry {
  readonly chunks: Chunks;
  readonly meta: CacheEntryMeta;
}
