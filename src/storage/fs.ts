/**
 * A disk slice store: one file per entry under a two-level fan-out (`dir/ab/cd/<key>`), each file a small
 * checksummed header and the body, written atomically (temp file + rename), read with positional reads, kept
 * within a byte budget by a compact in-memory index (sampled LRU) rebuilt from the headers at start.
 *
 * The pieces: `fs-format.ts` is the file format (encoding and checks, no I/O), `fs-io.ts` the file I/O,
 * `fs-read.ts` reading one entry, `fs-index.ts` the index and `fs-scan.ts` the start-up scan; this module
 * wires them into the store.
 *
 * A file that fails any check is a miss and is removed: the store never serves bytes it cannot vouch for, and
 * a broken file is never worse than a miss (R7, P13, P25). Keys are checked against the core's key shape
 * before they touch a path (R15). Sharing `dir` between processes is safe: writes land by rename(2), a file
 * that vanished is a miss, and each process evicts among the entries it knows.
 *
 * Purges reach every process sharing `dir` (P27): a purge moves the object to a new generation
 * (`fs-generations.ts`), so no process reads its old keys again, and removes every file of the object — all
 * of them share one directory, so listing it finds the files other processes wrote too.
 *
 * @module
 */
import { dirname, join } from 'node:path';
import { type Chunks, chunksLength } from '../core/chunks.js';
import { isSliceFetchError, SliceFetchError } from '../core/errors.js';
import { objectKeyPrefix } from '../core/keys.js';
import type {
  ByteRange,
  CacheEntryMeta,
  CacheGetOptions,
  CacheStats,
  CacheStorage,
  Logger,
} from '../ports.js';
import { assertRange, blockCrcs, encodeHeader, entryPath } from './fs-format.js';
import { FsGenerations } from './fs-generations.js';
import { FsIndex, indexEntryOf } from './fs-index.js';
import {
  closeQuietly,
  errorCode,
  listEntriesOf,
  makeDir,
  noop,
  openForRead,
  unlinkIfPresent,
  writeAtomically,
} from './fs-io.js';
import { type FsStorageOptions, resolveFsOptions } from './fs-options.js';
import { readEntry } from './fs-read.js';
import { IndexLoader } from './fs-scan.js';

export type { FsStorageOptions } from './fs-options.js';

/** A disk {@link CacheStorage}, with a promise for its start-up index scan. */
export interface FsStorage extends CacheStorage {
  /**
   * Settles when the start-up scan of `dir` has rebuilt the index; rejects (with `ERR_SLICE_CACHE`) when
   * `dir` cannot be created or listed. Awaiting it is optional: no method waits for the scan. `get` and `set`
   * work without the index; `has` of a key the scan has not reached reads that file's header; what `delete`,
   * `purgeObject` and eviction remove meanwhile the scan never adopts again; eviction keeps the entries known
   * so far within `maxBytes` and catches up as the scan finds more; `stats()` counts the entries found so far.
   */
  readonly ready: Promise<void>;
}

/**
 * Creates a disk {@link CacheStorage}. Returns synchronously; the index of existing files is rebuilt in the
 * background (see {@link FsStorage.ready}). Every method throws a `SliceFetchError` (`ERR_SLICE_CACHE`, the
 * Node error as `cause`) on an I/O failure such as `ENOSPC`, `EACCES` or `EIO`; the engine fails open on it.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `dir` is empty or `maxBytes` is not a positive integer.
 * @example
 * ```ts
 * import { createSliceFetcher, fsStorage } from 'slice-fetch';
 * const cache = fsStorage({ dir: '/var/cache/slices', maxBytes: 20 * 1024 ** 3 });
 * const fetcher = createSliceFetcher({ cache });
 * ```
 */
export function fsStorage(input: FsStorageOptions): FsStorage {
  const { dir, maxBytes, now, logger } = resolveFsOptions(input);
  return new FsStore(dir, maxBytes, now, logger);
}

// ---------------------------------------------------------------------------------------------------------

class FsStore implements FsStorage {
  readonly ready: Promise<void>;
  readonly maxBytes: number;
  /** Every read is checked against the per-block CRC-32s and the key in the header (see the module comment). */
  readonly checksummed = true;
  /** `set` has written every byte when it settles, and keeps no reference to them. */
  readonly copiesValues = true;
  readonly #dir: string;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #index = new FsIndex();
  readonly #loader: IndexLoader;
  readonly #generations: FsGenerations;
  /** Leaf directories known to exist. */
  readonly #dirs = new Set<string>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Never rejects: methods wait on it, then surface their own I/O errors. */
  readonly #scanned: Promise<void>;
  #closed = false;

  constructor(dir: string, maxBytes: number, now: () => number, logger: Logger | undefined) {
    this.#dir = dir;
    this.maxBytes = maxBytes;
    this.#now = now;
    this.#logger = logger;
    this.#generations = new FsGenerations(dir, logger);
    this.#loader = new IndexLoader(dir, this.#index, {
      now,
      logger,
      maxBytes,
      closed: () => this.#closed,
      overBudget: () => void this.#track(this.#evict('')),
    });
    this.ready = this.#scan();
    this.ready.catch(() => {}); // a caller who never awaits `ready` must not see an unhandled rejection
    this.#scanned = this.ready.catch((error: unknown) => {
      this.#logger?.warn({ dir, error }, 'fsStorage could not scan its directory');
    });
  }

  async get(key: string, range?: ByteRange, options?: CacheGetOptions): Promise<Chunks | undefined> {
    this.#assertOpen();
    const path = entryPath(this.#dir, key);
    if (range !== undefined) assertRange(range);
    let fd: number | undefined;
    try {
      fd = await openForRead(path);
      if (fd === undefined) {
        this.#index.forget(key); // gone (another process may have evicted it): a miss
        return undefined;
      }
      const allocate = options?.allocate ?? Buffer.allocUnsafeSlow;
      const read = await readEntry(fd, key, range, allocate, this.#index.get(key), this.#now);
      if (read.kind === 'foreign') return undefined;
      // Expired, or corrupt (a reason given): removed, and a miss.
      if (read.kind === 'drop') return await this.#drop(key, path, read.reason);
      this.#index.remember(key, indexEntryOf(read.header));
      return read.chunks;
    } catch (error) {
      throw this.#fail('read', key, error);
    } finally {
      if (fd !== undefined) closeQuietly(fd);
    }
  }

  /**
   * Whether the index holds `key` unexpired. No disk I/O once the start-up scan is done (so a file removed by
   * another process still counts); while it runs, a key it has not reached costs one synchronous header read.
   */
  has(key: string): boolean {
    this.#assertOpen();
    this.#loader.loadKey(key);
    const entry = this.#index.get(key);
    return entry !== undefined && entry.expiresAt > this.#now();
  }

  async set(key: string, value: Chunks, meta: CacheEntryMeta): Promise<void> {
    this.#assertOpen();
    const path = entryPath(this.#dir, key);
    await this.#track(this.#write(key, path, value, meta));
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    const path = entryPath(this.#dir, key);
    this.#forget(key);
    return this.#unlink(path, key, 'delete');
  }

  /** The object's purge generation, from its generation file (`''` when it was never purged). */
  async generation(objectKey: string): Promise<string> {
    this.#assertOpen();
    try {
      return await this.#generations.read(objectKey);
    } catch (error) {
      throw this.#fail('read the generation of', objectKeyPrefix(objectKey), error);
    }
  }

  /** Purges made by other processes sharing `dir`, noticed by watching its generation files. */
  onPurge(listener: (objectKey: string) => void): () => void {
    this.#assertOpen();
    return this.#generations.watch((objectKey) => {
      // Their files are gone (or going): forget them, and the start-up scan must not adopt them either.
      const prefix = objectKeyPrefix(objectKey);
      this.#loader.purging(prefix);
      for (const key of this.#index.keysOf(prefix)) this.#index.forget(key);
      listener(objectKey);
    });
  }

  /**
   * Moves the object to a new generation, then removes every file of it in `dir`, whichever process wrote it;
   * resolves how many files were removed.
   */
  async purgeObject(objectKey: string): Promise<number> {
    this.#assertOpen();
    const prefix = objectKeyPrefix(objectKey);
    this.#loader.purging(prefix);
    try {
      await this.#generations.bump(objectKey);
    } catch (error) {
      throw this.#fail('bump the generation of', prefix, error);
    }
    const keys = new Set(this.#index.keysOf(prefix));
    for (const key of keys) this.#index.forget(key);
    const folder = dirname(entryPath(this.#dir, `${prefix}.meta`));
    for (const key of await listEntriesOf(folder, prefix).catch((error: unknown) => {
      throw this.#fail('list', folder, error);
    }))
      keys.add(key);
    const removed = await Promise.all(
      [...keys].map((key) => this.#unlink(entryPath(this.#dir, key), key, 'purge')),
    );
    return removed.filter(Boolean).length;
  }

  /** What the index holds: while the start-up scan runs, the entries it has found so far. */
  stats(): CacheStats {
    this.#assertOpen();
    return { bytes: this.#index.bytes, entries: this.#index.size };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#generations.close();
    // Let the scan stop and in-flight writes finish (or fail), so no temp file or descriptor outlives close.
    await this.#scanned;
    await Promise.allSettled([...this.#pending]);
    this.#index.clear();
  }

  async #write(key: string, path: string, value: Chunks, meta: CacheEntryMeta): Promise<void> {
    const length = chunksLength(value);
    const header = encodeHeader(key, meta, length, this.#now(), blockCrcs(value));
    if (length > this.maxBytes || meta.expiresAt <= this.#now()) {
      // Larger than the whole budget (keeping it would evict everything) or expired already: not worth a
      // write. Any older value under the key goes, so it cannot be served in the new one's place.
      this.#forget(key);
      await this.#unlink(path, key, 'delete');
      return;
    }
    const leaf = join(path, '..');
    try {
      if (!this.#dirs.has(leaf)) await this.#mkdir(leaf);
      // The retry's mkdir covers someone removing the directory since we made it.
      await writeAtomically(path, [header, ...value], () => this.#mkdir(leaf));
    } catch (error) {
      throw this.#fail('write', key, error);
    }
    this.#index.remember(key, {
      bytes: length,
      fileBytes: header.length + length,
      expiresAt: meta.expiresAt,
    });
    await this.#evict(key);
  }

  /** Drops `key` from the index, for good: the start-up scan will not adopt its file again either. */
  #forget(key: string): void {
    this.#loader.removing(key);
    this.#index.forget(key);
  }

  /** Keeps `work` in the set `close()` waits for. */
  async #track(work: Promise<unknown>): Promise<void> {
    this.#pending.add(work);
    try {
      await work;
    } finally {
      this.#pending.delete(work);
    }
  }

  /** Deletes least recently used entries until the budget holds; `keep` (the entry just written) stays. */
  async #evict(keep: string): Promise<void> {
    await Promise.all(
      this.#index.evict(this.maxBytes, keep).map((key) => {
        this.#loader.removing(key);
        return this.#unlink(entryPath(this.#dir, key), key, 'evict').catch((error: unknown) => {
          // The write succeeded; a file that cannot be evicted only costs disk space, so warn, don't throw.
          this.#logger?.warn({ key, error }, 'fsStorage could not evict an entry');
        });
      }),
    );
  }

  /** Unlinks a file; `false` when it was already gone (another process may have evicted it). */
  async #unlink(path: string, key: string, operation: string): Promise<boolean> {
    try {
      return await unlinkIfPresent(path);
    } catch (error) {
      throw this.#fail(operation, key, error);
    }
  }

  /** Removes an expired file, or a corrupt one (`reason` given, and logged); the read is a miss either way. */
  async #drop(key: string, path: string, reason?: string): Promise<undefined> {
    this.#forget(key);
    if (reason !== undefined)
      this.#logger?.warn({ key, path, reason }, 'fsStorage removed a corrupt cache file');
    await this.#unlink(path, key, 'delete').catch(noop); // best effort: the read is a miss anyway
    return undefined;
  }

  async #mkdir(leaf: string): Promise<void> {
    await makeDir(leaf);
    this.#dirs.add(leaf);
  }

  /** Rebuilds the index from the headers of the files under `dir` (see `fs-scan.ts`). */
  async #scan(): Promise<void> {
    const started = performance.now();
    await makeDir(this.#dir).catch((error: unknown) => {
      throw this.#fail('create', this.#dir, error);
    });
    const complete = await this.#loader.loadAll().catch((error: unknown) => {
      throw this.#fail('list', this.#dir, error);
    });
    if (!complete) return; // closed mid-scan: evict nothing
    await this.#evict('');
    const { size: entries, bytes } = this.#index;
    const ms = Math.round(performance.now() - started);
    this.#logger?.debug({ dir: this.#dir, entries, bytes, ms }, 'fsStorage index rebuilt');
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new SliceFetchError('ERR_SLICE_CACHE', `fsStorage(${this.#dir}) was used after close().`);
  }

  #fail(operation: string, key: string, error: unknown): SliceFetchError {
    if (isSliceFetchError(error)) return error;
    const code = errorCode(error);
    const message = error instanceof Error ? error.message : String(error);
    return new SliceFetchError(
      'ERR_SLICE_CACHE',
      `fsStorage could not ${operation} ${key} in ${this.#dir}${code === '' ? '' : ` (${code})`}: ${message}`,
      { cause: error },
    );
  }
}
