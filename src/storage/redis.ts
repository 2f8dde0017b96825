/**
 * A Redis slice store (R16): a fleet of proxies shares one slice cache. Binary values, a TTL on every
 * key, cluster-ready hash-tagged keys, per-object purge through an index set (never `KEYS`/`SCAN`), and
 * fail-open behaviour when Redis goes away or hangs. Loaded only through the `slice-fetch/redis` subpath, so the root
 * entry never pulls in a Redis client. Needs Redis ≥ 7.0 (`PEXPIRE … NX|GT`).
 *
 * Why node-redis 5 and not ioredis: node-redis writes a `Buffer` argument to the socket as is (its encoder
 * emits `[header, buffer, …]` and the socket writes them corked), while ioredis builds every command into
 * one new buffer — a second copy of each 1 MiB slice. node-redis also maps bulk replies to `Buffer` with
 * `RESP_TYPES.BLOB_STRING` (no base64, no UTF-8 round trip), pipelines every command issued in one tick
 * into one write by itself, has `disableOfflineQueue` for fail-fast while disconnected, and is the client
 * Redis maintains.
 *
 * Layout: an entry lives at `<prefix>{<tag>}:<key>` where `<tag>` is the key's part before the first `.`
 * (the 32-hex object prefix of the core's keys), and every object has an index set
 * `<prefix>{<objectKeyPrefix(objectKey)>}#index` naming its keys. For the core's keys both tags are the
 * same, so a Redis Cluster keeps an object's slices and its index on one slot and the write can be one
 * `MULTI`. The index's TTL is extended to the longest-lived entry (`PEXPIRE NX` then `PEXPIRE GT`), so it
 * outlives every entry it names and vanishes after them; `delete()` leaves a stale name in it, which purge
 * skips. Purge reads and drops the index in one `MULTI` (`SMEMBERS` + `DEL`), then `UNLINK`s the names —
 * counting only keys that still existed. Entry and index are written in one `MULTI` too, so an entry is
 * never visible unindexed.
 *
 * Failure: an owned client has `disableOfflineQueue` (calls reject at once while disconnected) and
 * reconnects forever with capped exponential backoff. Every call also checks `isReady` first (node-redis
 * queues a `MULTI` even offline) and is bounded by `timeoutMs` (a hung server keeps the socket open).
 *
 * Budget: Redis enforces the real budget (`maxmemory` with a `volatile-lru` policy — every key here has a
 * TTL). `maxBytes`, when given, is a write-admission guard on top: an entry larger than it is never stored,
 * and writes are skipped while Redis's `used_memory` (sampled from `INFO memory` at most once a second, off
 * the write path) is at or above it — so give the cache its own Redis when you set it.
 *
 * Stats: by default `stats()` walks the namespace — `SCAN MATCH <prefix>{*}:* TYPE string` in batches, then
 * pipelined `STRLEN`s — so bytes and entries are exact for this prefix (index sets excluded), at O(keys in
 * the database) per call: fine for a metrics scrape, not for every request. `statsSource: 'info'` answers in
 * O(1) from `INFO memory` (`used_memory`) and `DBSIZE` instead, which describe the whole database.
 *
 * Fill claims (R16, R12): `lock(key, ttl)` is `SET <prefix>{<tag>}#lock:<key> <token> NX PX ttl` — same hash
 * tag as the entry — and `unlock` a compare-and-delete script on this store's random token, so fleets of
 * proxies fetch each slice from the origin once; a claim lapses by itself when its holder dies.
 *
 * Chunks: node-redis takes one `Buffer` per argument, so a multi-chunk slice is joined with one
 * `Buffer.concat` before `SET`. `SET` + `APPEND`s in a `MULTI` would avoid that copy but cost one command
 * and one server-side copy per chunk and lose Redis's zero-copy path for big arguments; the write is off
 * the response path, where ~0.1 ms per MiB is cheap. A single chunk is sent as a view, without a copy.
 *
 * Over 400 lines on purpose: one adapter whose layout, budget and failure rules need saying where they live;
 * the code itself is about half of it.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { createClient, RESP_TYPES, type RedisArgument } from 'redis';
import { chunksLength } from '../core/chunks.js';
import { optionError, SliceFetchError } from '../core/errors.js';
import { objectKeyPrefix } from '../core/keys.js';
import type { ByteRange, CacheChunks, CacheEntryMeta, CacheStats, CacheStorage } from '../ports.js';

/** The part of a node-redis 5 client (or a `.withTypeMapping()` proxy of one) the store uses. */
export interface RedisClientLike {
  /** Whether the connection is up and the handshake done. */
  readonly isReady: boolean;
  /** Sends one raw command; commands sent in one tick are pipelined. */
  sendCommand(args: readonly RedisArgument[], options?: { typeMapping?: object }): Promise<unknown>;
  /** Starts a `MULTI` transaction. */
  multi(): RedisMultiLike;
}

/** The part of a node-redis 5 `MULTI` builder the store uses. */
export interface RedisMultiLike {
  /** Queues one raw command. */
  addCommand(args: readonly RedisArgument[]): RedisMultiLike;
  /** Sends the transaction; resolves the replies in order. */
  exec(): Promise<readonly unknown[]>;
}

/** Options of {@link redisStorage}. */
export interface RedisStorageOptions {
  /**
   * A connected node-redis 5 client to use. The store never connects or closes it; give it
   * `disableOfflineQueue: true` so commands fail fast while it reconnects. Exclusive with `url`.
   */
  client?: RedisClientLike;
  /** URL of the Redis the store connects to itself (and closes on `close()`). @default 'redis://localhost:6379' */
  url?: string;
  /** Namespace prepended to every key; must not contain `{` or `}`. @default 'slice-fetch:' */
  prefix?: string;
  /** Upper bound on any key's TTL, in seconds: entries live until `expiresAt` or this long, whichever is first. @default 604800 (7 days) */
  ttlSeconds?: number;
  /** Write-admission budget in bytes (see the module notes). @default undefined — Redis's own `maxmemory` rules */
  maxBytes?: number;
  /**
   * Bound on every operation, in milliseconds: past it the call rejects and the engine serves from the origin.
   * @default 2000 (the engine's own `timeouts.cacheMs`)
   */
  timeoutMs?: number;
  /**
   * Where `stats()` gets its numbers: `scan` walks this prefix's keys (exact, O(keys)); `info` reads
   * `INFO memory` and `DBSIZE` (O(1), the whole database).
   * @default 'scan'
   */
  statsSource?: 'scan' | 'info';
  /** Connection errors of a client the store created (each failed reconnect emits one). @default ignored */
  onError?: (error: unknown) => void;
  /** Clock used to turn `expiresAt` into a TTL, milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

/** A {@link CacheStorage} backed by Redis, with a pipelined multi-get. */
export interface RedisStorage extends CacheStorage {
  /** Reads an entry, or a sub-range of it through `GETRANGE`; resolves `undefined` on a miss. */
  get(key: string, range?: ByteRange): Promise<CacheChunks | undefined>;
  /** Whether the entry exists (Redis drops it at its TTL), with one `EXISTS`. */
  has(key: string): Promise<boolean>;
  /** Reads several whole entries in one pipelined round trip, in order; `undefined` for each miss. */
  getMany(keys: readonly string[]): Promise<(CacheChunks | undefined)[]>;
  /** Claims the fill of `key` for `ttlMs` across every process on this Redis; `true` when claimed. */
  lock(key: string, ttlMs: number): Promise<boolean>;
  /** Drops this store's claim on `key` (never another process's). */
  unlock(key: string): Promise<void>;
}

/**
 * Creates a Redis {@link CacheStorage}. With `url` (or nothing) it owns a node-redis client configured to
 * fail fast while disconnected and to reconnect with capped exponential backoff; with `client` it uses
 * yours. Every call rejects within `timeoutMs` when Redis is down or hung — the engine then fails open.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when an option is out of range.
 * @example
 * ```ts
 * import { createSliceFetcher, memoryStorage, tieredStorage } from 'slice-fetch';
 * import { redisStorage } from 'slice-fetch/redis';
 * const cache = tieredStorage([memoryStorage(), redisStorage({ url: 'redis://cache:6379', prefix: 'cdn:' })]);
 * const fetcher = createSliceFetcher({ cache });
 * ```
 */
export function redisStorage(options: RedisStorageOptions = {}): RedisStorage {
  const o = resolveOptions(options);
  const own = o.client === undefined ? createOwnClient(o.url, o.onError) : undefined;
  const client: RedisClientLike = own ?? (o.client as RedisClientLike);
  const { prefix, timeoutMs, maxBytes, now, statsSource } = o;
  const maxTtlMs = o.ttlSeconds * 1000;

  // Until a client we created first connects (or fails to), calls wait for it instead of missing.
  let starting: Promise<void> | undefined =
    own === undefined
      ? undefined
      : new Promise<void>((resolve) => {
          const settle = (): void => {
            own.off('ready', settle).off('error', settle);
            starting = undefined;
            resolve();
          };
          own.on('ready', settle).on('error', settle);
          own.connect().catch(() => undefined); // keeps retrying by itself; failures reach `onError`
        });

  let usedMemory = 0;
  let sampledAt = Number.NEGATIVE_INFINITY;
  let sampling: Promise<void> | undefined;
  // Names this store's fill claims, so `unlock` never drops another process's.
  const token = randomUUID();
  let lastObjectKey = '';
  let lastIndexKey = '';

  function call<T>(what: string, command: () => Promise<T>): Promise<T> {
    const gate = starting;
    const run = (): Promise<T> => {
      if (!client.isReady)
        throw new SliceFetchError('ERR_SLICE_CACHE', `Redis ${what} failed: not connected.`);
      return command();
    };
    return bounded(gate === undefined ? Promise.resolve().then(run) : gate.then(run), timeoutMs, what);
  }

  function indexKeyOf(objectKey: string): string {
    // Slices of one object are written one after another: remember the last hash instead of redoing it.
    if (objectKey !== lastObjectKey) {
      lastIndexKey = `${prefix}{${objectKeyPrefix(objectKey)}}#index`;
      lastObjectKey = objectKey;
    }
    return lastIndexKey;
  }

  function sampleMemory(): void {
    if (sampling !== undefined || now() - sampledAt < SAMPLE_INTERVAL_MS) return;
    sampledAt = now();
    sampling = call('INFO', () => client.sendCommand(['INFO', 'memory'], STRINGS))
      .then((info) => {
        usedMemory = usedMemoryOf(info);
      })
      .catch(() => undefined)
      .finally(() => {
        sampling = undefined;
      });
  }

  return {
    async get(key, range) {
      const reply = await call('GET', () =>
        client.sendCommand(
          range === undefined
            ? ['GET', entryKey(prefix, key)]
            : ['GETRANGE', entryKey(prefix, key), String(range.start), String(range.end)],
          BUFFERS,
        ),
      );
      if (!(reply instanceof Uint8Array)) return undefined;
      // GETRANGE answers "" for a missing key: an empty sub-range reads as a miss.
      return range !== undefined && reply.byteLength === 0 ? undefined : [reply];
    },

    async has(key) {
      // One EXISTS per key: node-redis pipelines the calls made in one tick into one write.
      const reply = await call('EXISTS', () =>
        client.sendCommand(['EXISTS', entryKey(prefix, key)], STRINGS),
      );
      return Number(reply) > 0;
    },

    async getMany(keys) {
      const replies = await call('GET', () =>
        Promise.all(keys.map((key) => client.sendCommand(['GET', entryKey(prefix, key)], BUFFERS))),
      );
      return replies.map((reply) => (reply instanceof Uint8Array ? [reply] : undefined));
    },

    async set(key: string, value: CacheChunks, meta: CacheEntryMeta): Promise<void> {
      const ttlMs = Math.min(meta.expiresAt - now(), maxTtlMs);
      if (!(ttlMs > 0)) return; // already expired (or NaN): storing it could only serve it late
      if (maxBytes !== undefined) {
        sampleMemory();
        if (usedMemory >= maxBytes || chunksLength(value) > maxBytes) return;
      }
      const px = String(Math.max(1, Math.floor(ttlMs)));
      const index = indexKeyOf(meta.objectKey);
      const bytes = toBuffer(value);
      await call('SET', () =>
        client
          .multi()
          .addCommand(['SET', entryKey(prefix, key), bytes, 'PX', px])
          .addCommand(['SADD', index, key])
          .addCommand(['PEXPIRE', index, px, 'NX'])
          .addCommand(['PEXPIRE', index, px, 'GT'])
          .exec(),
      );
    },

    async delete(key) {
      // UNLINK frees a big value off Redis's main thread.
      const removed = await call('UNLINK', () =>
        client.sendCommand(['UNLINK', entryKey(prefix, key)], STRINGS),
      );
      return Number(removed) > 0;
    },

    async purgeObject(objectKey) {
      const index = indexKeyOf(objectKey);
      // Read and drop the index atomically, so two purges never both count (or miss) one entry.
      const replies = await call('purge', () =>
        client.multi().addCommand(['SMEMBERS', index]).addCommand(['DEL', index]).exec(),
      );
      const keys: string[] = [];
      for (const member of asIterable(replies[0])) keys.push(entryKey(prefix, String(member)));
      if (keys.length === 0) return 0;
      const removed = await call('purge', () => client.sendCommand(['UNLINK', ...keys], STRINGS));
      return Number(removed);
    },

    async stats(): Promise<CacheStats> {
      if (statsSource === 'info') {
        const [info, size] = await call('stats', () =>
          Promise.all([
            client.sendCommand(['INFO', 'memory'], STRINGS),
            client.sendCommand(['DBSIZE'], STRINGS),
          ]),
        );
        usedMemory = usedMemoryOf(info);
        sampledAt = now();
        return { bytes: usedMemory, entries: Number(size) };
      }
      // SCAN may return a key twice if Redis resizes its table meanwhile; deduplicating would hold every
      // name in memory, so a walk racing heavy writes can over-count slightly.
      const match = `${escapeGlob(prefix)}{*}:*`;
      let cursor = '0';
      let bytes = 0;
      let entries = 0;
      do {
        const reply = await call('SCAN', () =>
          client.sendCommand(['SCAN', cursor, 'MATCH', match, 'COUNT', '1000', 'TYPE', 'string'], STRINGS),
        );
        const [next, names] = reply as [unknown, unknown];
        cursor = String(next);
        const batch = [...asIterable(names)].map(String);
        if (batch.length === 0) continue;
        const lengths = await call('STRLEN', () =>
          Promise.all(batch.map((name) => client.sendCommand(['STRLEN', name], STRINGS))),
        );
        for (const length of lengths) bytes += Number(length);
        entries += batch.length;
      } while (cursor !== '0');
      return { bytes, entries };
    },

    async lock(key, ttlMs) {
      const px = String(Math.max(1, Math.floor(ttlMs)));
      const reply = await call('lock', () =>
        client.sendCommand(['SET', lockKey(prefix, key), token, 'NX', 'PX', px], STRINGS),
      );
      return reply !== null && reply !== undefined; // `OK` when claimed, nil when another process holds it
    },

    async unlock(key) {
      // Compare-and-delete: a claim that lapsed and was taken by another process is not ours to drop.
      await call('unlock', () =>
        client.sendCommand(['EVAL', UNLOCK_SCRIPT, '1', lockKey(prefix, key), token], STRINGS),
      );
    },

    async close() {
      await sampling;
      if (own === undefined || !own.isOpen) return;
      if (!own.isReady) {
        own.destroy(); // stops the reconnect loop; nothing is in flight on a dead connection
        return;
      }
      // `close()` waits for in-flight replies; a hung server must not hold shutdown, so unref and move on.
      await bounded(own.close(), timeoutMs, 'close').catch(() => own.unref());
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

type OwnClient = ReturnType<typeof createClient>;

interface ResolvedOptions {
  readonly client: RedisClientLike | undefined;
  readonly url: string;
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly maxBytes: number | undefined;
  readonly timeoutMs: number;
  readonly statsSource: 'scan' | 'info';
  readonly onError: (error: unknown) => void;
  readonly now: () => number;
}

const SAMPLE_INTERVAL_MS = 1000;
const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };
/** An empty mapping overrides a caller's client-wide one, so replies we parse are plain strings and numbers. */
const STRINGS = { typeMapping: {} };
const EMPTY = Buffer.alloc(0);
const USED_MEMORY = /^used_memory:(\d+)/m;
/** Deletes the claim only when it still holds this store's token (the Redis docs' single-instance lock). */
const UNLOCK_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

function resolveOptions(options: RedisStorageOptions): ResolvedOptions {
  if (options.client !== undefined && options.url !== undefined) {
    throw optionError('client', 'either `client` or `url`', 'both');
  }
  const prefix = options.prefix ?? 'slice-fetch:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw optionError('prefix', 'a string without `{` or `}`', prefix);
  }
  const ttlSeconds = options.ttlSeconds ?? 7 * 24 * 3600;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw optionError('ttlSeconds', 'a positive integer', ttlSeconds);
  }
  const { maxBytes } = options;
  if (maxBytes !== undefined && (!Number.isSafeInteger(maxBytes) || maxBytes < 1)) {
    throw optionError('maxBytes', 'a positive integer', maxBytes);
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw optionError('timeoutMs', 'a positive integer', timeoutMs);
  }
  const statsSource = options.statsSource ?? 'scan';
  if (statsSource !== 'scan' && statsSource !== 'info') {
    throw optionError('statsSource', "'scan' or 'info'", statsSource);
  }
  return {
    client: options.client,
    url: options.url ?? 'redis://localhost:6379',
    prefix,
    ttlSeconds,
    maxBytes,
    timeoutMs,
    statsSource,
    onError: options.onError ?? (() => undefined),
    now: options.now ?? Date.now,
  };
}

function createOwnClient(url: string, onError: (error: unknown) => void): OwnClient {
  const client = createClient({
    url,
    // Fail fast while disconnected instead of queueing: the engine would rather go to the origin now.
    disableOfflineQueue: true,
    socket: {
      // Capped exponential backoff with jitter, forever: the store heals by itself when Redis returns.
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100),
    },
  });
  client.on('error', onError); // an EventEmitter 'error' without a listener would crash the process
  return client;
}

/** `<prefix>{<part before the first '.'>}:<key>` — the braces are the Redis Cluster hash tag. */
function entryKey(prefix: string, key: string): string {
  const dot = key.indexOf('.');
  return `${prefix}{${dot === -1 ? key : key.slice(0, dot)}}:${key}`;
}

/**
 * `<prefix>{<tag>}#lock:<key>` — the entry's hash tag (same slot), and a shape the stats walk's
 * `<prefix>{*}:*` pattern never matches, so claims are not counted as entries.
 */
function lockKey(prefix: string, key: string): string {
  const dot = key.indexOf('.');
  return `${prefix}{${dot === -1 ? key : key.slice(0, dot)}}#lock:${key}`;
}

function toBuffer(chunks: CacheChunks): Buffer {
  if (chunks.length === 1) {
    const chunk = chunks[0] as Uint8Array;
    return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  return chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
}

function usedMemoryOf(info: unknown): number {
  const match = USED_MEMORY.exec(String(info));
  return match === null ? 0 : Number(match[1]);
}

/** Escapes Redis glob characters, so a prefix like `a*` matches itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function asIterable(reply: unknown): Iterable<unknown> {
  // RESP2 answers SMEMBERS with an array, RESP3 with a set (an array unless the client maps it to a Set).
  return reply !== null && typeof reply === 'object' && Symbol.iterator in reply
    ? (reply as Iterable<unknown>)
    : [];
}

/** Settles like `promise`, or rejects with `ERR_SLICE_CACHE` after `ms`; failures are wrapped the same way. */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SliceFetchError('ERR_SLICE_CACHE', `Redis did not answer ${what} within ${ms} ms.`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(
          error instanceof SliceFetchError
            ? error
            : new SliceFetchError('ERR_SLICE_CACHE', `Redis ${what} failed: ${messageOf(error)}`, {
                cause: error,
              }),
        );
      },
    );
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
