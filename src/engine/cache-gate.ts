/**
 * The engine's only door to the slice store, and where fail-open lives (R7, P25): every store call is
 * bounded by `timeouts.cacheMs`, every failure is counted and logged and becomes a miss, and a hit whose
 * length is not the slice's length is dropped and deleted instead of served.
 *
 * Slice writes to a store outside the process hold their chunks until the store has them, after the client
 * got the bytes. They count against a budget of their own meanwhile, `maxBufferedBytes` (P23): when a disk or a
 * Redis falls that far behind, further slices are served but not stored — reported as a failed `set` — instead
 * of piling up in memory.
 *
 * @module
 */
import { crc32 } from 'node:zlib';
import { type Chunks, chunksLength, sliceChunks } from '../core/chunks.js';
import type { Awaitable, CacheEntryMeta, CacheGetOptions, CacheStorage, RequestEventBase } from '../ports.js';
import type { ByteBudget } from './byte-budget.js';
import type { Telemetry } from './telemetry.js';

/** A fail-open view of a {@link CacheStorage}. */
export class CacheGate {
  readonly #store: CacheStorage | undefined;
  readonly #timeoutMs: number;
  readonly #telemetry: Telemetry;
  /** Whether slices carry and are checked against a CRC-32 trailer (stores neither in-process nor checksummed). */
  readonly #checked: boolean;
  /** The bytes of slice writes in flight to a store outside the process; `undefined`: not counted. */
  readonly #writes: ByteBudget | undefined;

  constructor(store: CacheStorage | undefined, timeoutMs: number, telemetry: Telemetry, writes: ByteBudget) {
    this.#store = store;
    this.#timeoutMs = timeoutMs;
    this.#telemetry = telemetry;
    this.#checked = store?.inProcess !== true && store?.checksummed !== true;
    // An in-process store keeps what it is given under its own byte budget; only other writes are in flight.
    this.#writes = store?.inProcess === true ? undefined : writes;
  }

  /** Whether a response of `bytes` may write its slices: not when it is larger than the store's budget. */
  admits(bytes: number): boolean {
    const limit = this.#store?.maxBytes;
    return this.#store !== undefined && (limit === undefined || bytes <= limit);
  }

  /** Whether a store is configured. */
  get enabled(): boolean {
    return this.#store !== undefined;
  }

  /** Whether a hit is the very memory the store holds (the store's budget already counts it). */
  get inProcess(): boolean {
    return this.#store?.inProcess === true;
  }

  /** Whether the store is done with a value once its `set` settles ({@link CacheStorage.copiesValues}). */
  get copiesValues(): boolean {
    return this.#store?.copiesValues === true;
  }

  /** Whether the store can tell presence without a read ({@link CacheStorage.has}). */
  get canTell(): boolean {
    return typeof this.#store?.has === 'function';
  }

  /**
   * Whether `key` is held, without reading it — synchronous when the store answers synchronously (memory, disk
   * index). Fail-open like every other call: a store that fails or cannot tell answers `false`.
   */
  has(key: string, event: RequestEventBase): boolean | Promise<boolean> {
    const store = this.#store;
    if (store?.has === undefined) return false;
    try {
      const result = store.has(key);
      if (!isPromise(result)) return result === true;
      return this.#bounded(result, 'has').then(
        (held) => held === true,
        (error: unknown) => {
          this.#telemetry.onCacheError({ ...event, operation: 'get', error });
          return false;
        },
      );
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'get', error });
      return false;
    }
  }

  /** Whether the store can claim fills across processes ({@link CacheStorage.lock}); nothing else pays for it. */
  get coordinates(): boolean {
    return typeof this.#store?.lock === 'function';
  }

  /**
   * Claims the fill of `key` across processes: `true` claimed, `false` another process holds it. Fail-open —
   * a store without the capability, an error or a timeout all answer `undefined`: fetch yourself, unclaimed
   * (a duplicate origin fetch is better than a stall, and a store that just failed is not asked again).
   */
  async lock(key: string, ttlMs: number, event: RequestEventBase): Promise<boolean | undefined> {
    const store = this.#store;
    if (store?.lock === undefined) return undefined;
    try {
      const result = store.lock(key, ttlMs);
      return (isPromise(result) ? await this.#bounded(result, 'lock') : result) !== false;
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'lock', error });
      return undefined;
    }
  }

  /** How long the store wants a fill claim to live unless renewed (`CacheStorage.lockMs`), if it says. */
  get lockMs(): number | undefined {
    return this.#store?.lockMs;
  }

  /**
   * Extends a claim taken with {@link CacheGate.lock} to `ttlMs` from now: `true` extended; `false` when it is
   * no longer ours, the store cannot renew, or it failed (fail-open: the claim then lapses by itself).
   */
  async renew(key: string, ttlMs: number, event: RequestEventBase): Promise<boolean> {
    const store = this.#store;
    if (store?.renew === undefined) return false;
    try {
      const result = store.renew(key, ttlMs);
      return (isPromise(result) ? await this.#bounded(result, 'renew') : result) === true;
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'lock', error });
      return false;
    }
  }

  /** Releases a claim taken with {@link CacheGate.lock}; never rejects. */
  async unlock(key: string, event: RequestEventBase): Promise<void> {
    try {
      const result = this.#store?.unlock?.(key);
      if (isPromise(result)) await this.#bounded(result, 'unlock');
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'unlock', error });
    }
  }

  /**
   * The entry of `expectedLength` bytes an in-process store holds, read synchronously — or `undefined` when the
   * store is elsewhere, answers later, misses or fails (then {@link CacheGate.get} is the way).
   */
  peek(key: string, expectedLength: number, event: RequestEventBase): Chunks | undefined {
    const store = this.#store;
    if (store?.inProcess !== true) return undefined;
    let chunks: Chunks | Promise<Chunks | undefined> | undefined;
    try {
      chunks = store.get(key);
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'get', error });
      return undefined;
    }
    if (chunks === undefined || isPromise(chunks)) return undefined;
    return Array.isArray(chunks) && chunksLength(chunks) === expectedLength ? chunks : undefined;
  }

  /**
   * Reads a whole entry (of `expectedLength` bytes, when given); resolves `undefined` on a miss or any failure.
   * `allocate` lends the store memory to read into (see `CacheGetOptions`).
   */
  async get(
    key: string,
    expectedLength: number | undefined,
    event: RequestEventBase,
    allocate?: (bytes: number) => Uint8Array,
  ): Promise<Chunks | undefined> {
    return this.#read(key, expectedLength, event, allocate === undefined ? undefined : { allocate });
  }

  /**
   * Reads an object's metadata entry, telling the store its kind (a coordinated store keeps metadata apart from
   * slices); like {@link get}, a failure is a miss.
   */
  getMetadata(key: string, event: RequestEventBase): Promise<Chunks | undefined> {
    return this.#read(key, undefined, event, METADATA_READ);
  }

  async #read(
    key: string,
    expectedLength: number | undefined,
    event: RequestEventBase,
    options: CacheGetOptions | undefined,
  ): Promise<Chunks | undefined> {
    const store = this.#store;
    if (store === undefined) return undefined;
    let chunks: Chunks | undefined;
    try {
      const result = options === undefined ? store.get(key) : store.get(key, undefined, options);
      chunks = isPromise(result) ? await this.#bounded(result, 'get') : result;
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'get', error });
      return undefined;
    }
    if (chunks === undefined) return undefined;
    const body = Array.isArray(chunks) ? this.#body(chunks, expectedLength) : undefined;
    if (body === undefined) {
      // A store that hands back other bytes than it was given is broken: never serve them, and evict the entry.
      this.#telemetry.onCacheError({
        ...event,
        operation: 'get',
        error: new Error(`cache entry ${key} failed its length or checksum check`),
      });
      void this.delete(key, event);
      return undefined;
    }
    return body;
  }

  /** The bytes of an entry read back, or `undefined` when its length (or checksum) is not what was stored. */
  #body(chunks: Chunks, expectedLength: number | undefined): Chunks | undefined {
    if (expectedLength === undefined) return chunks;
    if (this.#checked) return verified(chunks, expectedLength);
    return chunksLength(chunks) === expectedLength ? chunks : undefined;
  }

  /**
   * Writes an entry; resolves when written, failed, timed out or skipped because too many slice bytes are
   * already on their way to the store — never rejects. `done` is called once the store itself is done with
   * `value`: when its `set` settles, even after the timeout (or at once when the store is not called).
   */
  async set(
    key: string,
    value: Chunks,
    meta: CacheEntryMeta,
    event: RequestEventBase,
    done: () => void = noop,
  ): Promise<boolean> {
    const store = this.#store;
    if (store === undefined) {
      done();
      return false;
    }
    let reserved = 0;
    if (this.#writes !== undefined && meta.kind === 'slice') {
      reserved = this.#writes.tryAcquire(chunksLength(value));
      if (reserved === 0) {
        done();
        const error = new Error(
          `slice ${key} not stored: ${this.#writes.used} bytes of slices are still being written or waited for (maxBufferedBytes ${this.#writes.total})`,
        );
        this.#telemetry.onCacheError({ ...event, operation: 'set', error });
        return false;
      }
    }
    let result: Awaitable<void>;
    try {
      result = store.set(
        key,
        this.#checked && meta.kind === 'slice' ? [...value, trailer(value)] : value,
        meta,
      );
    } catch (error) {
      done();
      this.#writes?.release(reserved);
      this.#telemetry.onCacheError({ ...event, operation: 'set', error });
      return false;
    }
    if (!isPromise(result)) {
      done();
      this.#writes?.release(reserved);
      return true;
    }
    // One `then` call on the store's thenable (a lazy one would write twice); a throwing `then` is a failed write.
    const settled = Promise.resolve(result);
    settled.then(done, done);
    try {
      await this.#bounded(settled, 'set');
      return true;
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'set', error });
      return false;
    } finally {
      // At the store's answer or the timeout: a store that hangs must not hold the budget for good (P25).
      this.#writes?.release(reserved);
    }
  }

  /** Deletes an entry; never rejects. */
  async delete(key: string, event: RequestEventBase): Promise<void> {
    try {
      const result = this.#store?.delete(key);
      if (isPromise(result)) await this.#bounded(result, 'delete');
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'delete', error });
    }
  }

  /**
   * The object's purge generation (`CacheStorage.generation`): `''` when the store keeps none, `undefined`
   * when it failed or took too long (fail-open: the caller then uses keys nobody reads).
   */
  async generation(objectKey: string, event: RequestEventBase): Promise<string | undefined> {
    const store = this.#store;
    if (store?.generation === undefined) return '';
    try {
      const result = store.generation(objectKey);
      const generation = isPromise(result) ? await this.#bounded(result, 'generation') : result;
      return typeof generation === 'string' ? generation : undefined;
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'get', error });
      return undefined;
    }
  }

  /**
   * Subscribes to purges other processes made through the store (`CacheStorage.onPurge`); returns the
   * unsubscribe function (a no-op when the store cannot tell, or failed to subscribe).
   */
  onPurge(listener: (objectKey: string) => void): () => void {
    try {
      const stop = this.#store?.onPurge?.(listener);
      return typeof stop === 'function' ? stop : noop;
    } catch (error) {
      this.#telemetry.onCacheError({ requestId: 'purge', url: '', operation: 'purge', error });
      return noop;
    }
  }

  /** Purges every entry of an object; resolves the count (0 on failure). */
  async purgeObject(objectKey: string, event: RequestEventBase): Promise<number> {
    try {
      const result = this.#store?.purgeObject(objectKey) ?? 0;
      return isPromise(result) ? await this.#bounded(result, 'purge') : result;
    } catch (error) {
      this.#telemetry.onCacheError({ ...event, operation: 'purge', error });
      return 0;
    }
  }

  #bounded<T>(promise: Promise<T>, operation: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`cache ${operation} took longer than ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Slices are stored with an 8-byte trailer — CRC-32 of the body, then the magic `sfc1` — so a store that
 * returns the right number of wrong bytes is caught (P25). zlib's CRC-32 runs at ~5 GB/s here, a small cost
 * next to a network or disk read, and it is checked on every hit because such a store is outside the engine's
 * trust. In-process stores (`inProcess: true`) skip it: their hits are the very buffers the engine stored; so do
 * stores that checksum their own entries (`checksummed: true`, the disk store): one check per byte is enough.
 */
/** How the engine reads metadata entries. */
const METADATA_READ: CacheGetOptions = { kind: 'metadata' };
const TRAILER_BYTES = 8;
const MAGIC = 0x73666331; // 'sfc1'

function checksum(chunks: Chunks): number {
  let crc = 0;
  for (const chunk of chunks) crc = crc32(chunk, crc);
  return crc;
}

function trailer(chunks: Chunks): Uint8Array {
  const out = Buffer.allocUnsafe(TRAILER_BYTES);
  out.writeUInt32BE(checksum(chunks), 0);
  out.writeUInt32BE(MAGIC, 4);
  return out;
}

/** The body of a stored slice of `length` bytes when its trailer matches, else `undefined`. */
function verified(chunks: Chunks, length: number): Chunks | undefined {
  if (chunksLength(chunks) !== length + TRAILER_BYTES) return undefined;
  const tail = Buffer.concat(sliceChunks(chunks, length, length + TRAILER_BYTES - 1));
  if (tail.readUInt32BE(4) !== MAGIC) return undefined;
  const body = length === 0 ? [] : sliceChunks(chunks, 0, length - 1);
  return checksum(body) === tail.readUInt32BE(0) ? body : undefined;
}

function noop(): void {}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}
