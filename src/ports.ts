/**
 * The ports: the small interfaces the engine is written against and the adapters implement —
 * {@link CacheStorage} (memory, disk, Redis, tiered, or yours), {@link Transport} (undici by default),
 * {@link Metrics} (typed event hooks) and {@link Logger} (pino-compatible); the last two, with the events the
 * hooks receive, live in `ports-telemetry.ts`.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import type { SliceFetchError } from './core/errors.js';
import type { HeaderRecord } from './core/headers.js';
import type { ByteRange } from './core/range.js';

export type {
  LogFn,
  Logger,
  Metrics,
  RequestEventBase,
  RequestOutcome,
  SliceEvent,
} from './ports-telemetry.js';
export type { ByteRange, HeaderRecord };

/** A value that may be returned synchronously (a resident memory hit) or as a promise. */
export type Awaitable<T> = T | Promise<T>;

/**
 * Cached bytes: the chunks of one slice exactly as they came from the origin, never concatenated
 * (copying 1 MiB per slice costs more than the network on loopback). Their lengths add up to the entry's size.
 */
export type CacheChunks = readonly Uint8Array[];

/**
 * How a read may get its memory. Stores that copy an entry into fresh memory (a disk read) may take it from
 * `allocate`; stores that hand back chunks they hold (memory, a Redis reply) ignore it.
 *
 * @example
 * ```ts
 * const body = options?.allocate?.(length) ?? Buffer.allocUnsafe(length);
 * ```
 */
export interface CacheGetOptions {
  /**
   * A buffer of exactly `bytes` bytes for the store to read into. The memory goes to the caller with the
   * chunks returned, and the caller reuses it once it has consumed them: a store must not keep it, share it
   * or return it again (a memory tier promoting a lower tier's read must copy it, or not pass it down).
   */
  readonly allocate?: (bytes: number) => Uint8Array;
  /**
   * What the entry holds, when the caller knows it (see {@link CacheEntryMeta.kind}): the engine says
   * `'metadata'` when it reads an object's metadata. A store made of stores for different kinds (the
   * coordinated store keeps metadata in Redis and slices on disk) routes by it; other stores ignore it.
   */
  readonly kind?: 'slice' | 'metadata';
}

/** What a store is told about an entry when it is written. */
export interface CacheEntryMeta {
  /** `slice` for object bytes, `metadata` for the object's learnt metadata (a small JSON document). */
  readonly kind: 'slice' | 'metadata';
  /** The normalised object key the entry belongs to; {@link CacheStorage.purgeObject} removes by it. */
  readonly objectKey: string;
  /** The object's validator (strong ETag, else Last-Modified, else size) the bytes belong to. */
  readonly validator: string;
  /** The slice's byte range within the object (for `metadata`, the whole object). */
  readonly range: ByteRange;
  /** The object's total size in bytes. */
  readonly size: number;
  /** Absolute expiry, milliseconds since the epoch; the store must not return the entry after it. */
  readonly expiresAt: number;
}

/** A snapshot of a store's occupancy. */
export interface CacheStats {
  /** Bytes of values held. */
  readonly bytes: number;
  /** Entries held. */
  readonly entries: number;
  /** Per-tier stats, for stores made of other stores. */
  readonly tiers?: readonly CacheStats[];
  /**
   * The state of the store's circuit breaker, for stores that have one (Redis): `open` while it answers without
   * asking the server, `half-open` while one probe is out.
   */
  readonly breaker?: 'closed' | 'half-open' | 'open';
}

/**
 * A slice store. Keys are fixed-length hashes made by the core (safe as file names and Redis keys); values
 * are binary. Every method may throw or reject: the engine treats any failure as a miss and serves from the
 * origin (fail-open), so a store never has to hide its errors.
 *
 * Implementations must: keep every stored byte intact; never return an entry past its `expiresAt`; respect
 * a byte budget; and make `purgeObject(objectKey)` remove every entry whose meta named that object, in
 * every version (and, with `generation`, move the object to a new generation). Run
 * `runCacheStorageConformance()` against a new store.
 *
 * @example
 * ```ts
 * const store: CacheStorage = memoryStorage({ maxBytes: 256 * 1024 * 1024 });
 * const fetcher = createSliceFetcher({ cache: store });
 * ```
 */
export interface CacheStorage {
  /**
   * `true` when `get` hands back the very chunks `set` was given, in this process (the memory store). The engine
   * then skips the CRC-32 it otherwise stores with every slice and checks on every hit — a checksum of bytes that
   * never left the process would only cost time (it dominated the warm path in the benchmarks).
   */
  readonly inProcess?: boolean;
  /**
   * `true` when the store checks every entry it returns against a checksum stored with it, and returns an entry
   * only for the key it was written under — a corrupt or mismatched entry is a miss, never bytes (fsStorage's
   * per-block CRC-32s and the key in each file's header). The engine then skips its own CRC-32 trailer, which
   * would only check the same bytes a second time on every write and every hit.
   */
  readonly checksummed?: boolean;
  /**
   * `true` when `set` is done with the chunks it is given once its promise settles: every byte written or
   * copied, no reference kept (fsStorage; not a memory store, which keeps them, nor a client that may still
   * queue them after a timeout). The engine may then fetch a slice it stores into recycled memory and reuse that
   * memory once both the response and the store write are done with it, instead of one fresh buffer per slice.
   */
  readonly copiesValues?: boolean;
  /**
   * The store's byte budget, when it has one of its own. A single response larger than this would only flush
   * the store and leave its own tail behind, so the engine does not write such a response's slices (scan
   * resistance); smaller ranges of the same object are cached as usual.
   */
  readonly maxBytes?: number;
  /**
   * Reads an entry, or the sub-range `range` of it (offsets relative to the entry's first byte, inclusive).
   * Resolves `undefined` on a miss or an expired entry. See {@link CacheGetOptions} for `options.allocate`.
   */
  get(key: string, range?: ByteRange, options?: CacheGetOptions): Awaitable<CacheChunks | undefined>;
  /**
   * Whether an entry is held and unexpired, without reading it. The engine asks before it sends a response
   * head, so that `x-slice-cache` can say HIT, MISS or PARTIAL for all the slices a response will need; it
   * must be cheap (an index lookup; Redis pipelines one `EXISTS` per key). A `true` is a promise of nothing:
   * a later `get` may still miss. Stores that omit it make that header a guess (see the README).
   *
   * @example
   * ```ts
   * if (await store.has?.(key)) console.log('cached');
   * ```
   */
  has?(key: string): Awaitable<boolean>;
  /** Writes an entry. The store may keep the chunks as they are: the engine never mutates them afterwards. */
  set(key: string, value: CacheChunks, meta: CacheEntryMeta): Awaitable<void>;
  /** Removes one entry; resolves `true` when something was removed. */
  delete(key: string): Awaitable<boolean>;
  /**
   * Removes every entry of one object, in every version; resolves how many were removed. A store with
   * {@link CacheStorage.generation} also moves the object to a new generation first, so an entry it cannot
   * find (evicted from an index, written by another process meanwhile) is never read again either, and tells
   * the other processes sharing it ({@link CacheStorage.onPurge}).
   */
  purgeObject(objectKey: string): Awaitable<number>;
  /**
   * The object's current purge generation (R19, P27): an opaque string the engine mixes into every key of the
   * object (its slices and its metadata), so that keys of a purged generation are never read again — whatever
   * eviction did to the store's own bookkeeping, and whichever process wrote them. `''` means "never purged"
   * and leaves the keys as they were before generations existed. {@link CacheStorage.purgeObject} must move the
   * object to a generation it never had before (a random token: a generation the store forgot and starts
   * afresh can then never bring old keys back).
   *
   * The engine asks when it loads or learns an object's metadata, never per warm request: the metadata it keeps
   * in memory carries the generation. Stores shared by several processes (disk, Redis) implement it; a store
   * that omits it has generation `''` for every object, and its keys are those of earlier versions.
   *
   * @example
   * ```ts
   * const generation = (await store.generation?.(objectKey)) ?? '';
   * const key = sliceKey({ objectKey, validator, sliceSize, index, generation });
   * ```
   */
  generation?(objectKey: string): Awaitable<string>;
  /**
   * Subscribes to purges made through OTHER processes sharing this store (a Redis channel, a watched
   * directory) and returns the unsubscribe function. The engine then forgets what it holds in
   * memory of that object (metadata, fills, the generation) and fences its fills, as for a purge of its own;
   * a tiered store also drops the object from its memory tiers. Delivery is best effort and may be late
   * (about a second): when the engine next loads the object's metadata it reads the generation again anyway.
   *
   * @example
   * ```ts
   * const stop = store.onPurge?.((objectKey) => console.log('purged elsewhere:', objectKey));
   * stop?.();
   * ```
   */
  onPurge?(listener: (objectKey: string) => void): () => void;
  /** Occupancy snapshot. */
  stats(): Awaitable<CacheStats>;
  /** Releases files, sockets and timers. */
  close(): Awaitable<void>;
  /**
   * How long a fill claim should live unless its holder renews it, in milliseconds (R22): the engine claims
   * for this long (at most `timeouts.coalesceMs`) and, when the store can {@link CacheStorage.renew}, renews the
   * claim while its fill makes progress. Short, so a holder that dies delays the others by at most this long.
   * A store that omits it gets claims of `min(timeouts.coalesceMs, 30 s)`.
   */
  readonly lockMs?: number;
  /**
   * Claims the right to fill `key` for `ttlMs` across every process sharing this store (R12, R16):
   * resolves `true` when this process got the claim and should fetch the slice, `false` when another process
   * holds it — the engine then polls `get` for that process's value, and fetches itself when the value does
   * not arrive within `timeouts.coalesceMs`. The claim lapses by itself after `ttlMs`, so a crashed holder
   * never blocks anyone for longer. Stores that are process-local omit it (the in-process single-flight
   * already shares fetches there); a store that throws here is treated as granting the claim, and a store
   * that cannot coordinate right now (full, bypassed) should resolve `true`: the fill then goes uncoordinated.
   *
   * @example
   * ```ts
   * if (await store.lock?.(key, 5_000)) {
   *   try { await store.set(key, await fetchIt(), meta); } finally { await store.unlock?.(key); }
   * }
   * ```
   */
  lock?(key: string, ttlMs: number): Awaitable<boolean>;
  /**
   * Extends this process's claim on `key` to `ttlMs` from now, only if it still holds it (a compare-and-extend:
   * a claim that lapsed and was taken by another process is left alone). Resolves `true` when extended,
   * `false` when the claim is no longer this process's. The engine calls it about every third of the lifetime
   * while the fill receives bytes, and stops at the first `false` or failure — a fill that stalls lets its
   * claim lapse, and another process takes over.
   *
   * @example
   * ```ts
   * const timer = setInterval(() => void store.renew?.(key, 5_000), 1_500);
   * ```
   */
  renew?(key: string, ttlMs: number): Awaitable<boolean>;
  /**
   * Gives up a claim taken with {@link CacheStorage.lock} once the value is written (or the fetch failed), so
   * waiting processes read the value or claim the fill themselves at once instead of after the TTL. Releases
   * only this store's own claim.
   *
   * @example
   * ```ts
   * await store.unlock?.(key);
   * ```
   */
  unlock?(key: string): Awaitable<void>;
}

/** One request handed to a {@link Transport}. */
export interface TransportRequest {
  /** Absolute URL. */
  readonly url: string;
  /** `GET` for slices and pass-through, `HEAD` for an optional metadata probe. */
  readonly method: 'GET' | 'HEAD';
  /** Request headers, lower-case names (includes `range` for a slice). */
  readonly headers: Readonly<Record<string, string>>;
  /** Aborts the request and its body. */
  readonly signal: AbortSignal;
}

/** The answer of a {@link Transport}: status, headers and a streaming body. */
export interface TransportResponse {
  /** HTTP status. */
  readonly status: number;
  /** Lower-case response headers. */
  readonly headers: HeaderRecord;
  /** The body as a Node stream of bytes; destroy it to release the connection early. */
  readonly body: Readable;
}

/** The head of a response read by {@link Transport.requestInto}. */
export interface TransportHead {
  /** HTTP status (a final one: 1xx heads are skipped). */
  readonly status: number;
  /** Lower-case response headers. */
  readonly headers: HeaderRecord;
}

/**
 * Where {@link Transport.requestInto} puts a body.
 *
 * @example
 * ```ts
 * const target: BodyTarget = { head: ({ status }) => Buffer.allocUnsafe(status === 206 ? 1024 : 0) };
 * ```
 */
export interface BodyTarget {
  /**
   * The head arrived: return the memory the whole body must fit in (the transport copies each body byte into it
   * and fails with `ERR_SLICE_INVALID_RESPONSE` when more arrive), or throw to refuse the response — the
   * transport then drops it and rejects with what was thrown.
   */
  head(head: TransportHead): Uint8Array;
  /** Body bytes written so far, after each chunk. */
  progress?(received: number): void;
}

/**
 * Sends one HTTP request. Rejections should be {@link SliceFetchError}s with code `ERR_SLICE_NETWORK`,
 * `ERR_SLICE_TIMEOUT` or `ERR_SLICE_ABORTED` so the retry policy can classify them; anything else is treated
 * as a network error. Wrappers compose as `(next: Transport) => Transport`.
 *
 * @example
 * ```ts
 * const logging = (next: Transport): Transport => ({
 *   request: (req) => { console.log(req.method, req.url, req.headers.range); return next.request(req); },
 * });
 * ```
 */
export interface Transport {
  /** Sends the request; resolves once the response headers arrived. */
  request(request: TransportRequest): Promise<TransportResponse>;
  /**
   * Optional: sends a `GET` and copies its body into the memory `target.head` returns; resolves the bytes written
   * when the response ended. The engine uses it for every slice but an object's first (one buffer per slice, or
   * recycled memory; no garbage per socket read); without it, slices are read from `request`'s body stream.
   * Rejects as `request` does, or with what `head` threw. The undici transport's is not enumerable, so a wrapper
   * that spreads it (`{ ...next, request: wrapped }`) sends every slice through its own `request`.
   *
   * @example
   * ```ts
   * const bytes = await transport.requestInto?.(req, { head: () => Buffer.allocUnsafe(1 << 20) });
   * ```
   */
  requestInto?(request: TransportRequest, target: BodyTarget): Promise<number>;
  /** Closes pooled connections. */
  close?(): Promise<void>;
}
