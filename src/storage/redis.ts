/**
 * A Redis slice store (R16): a fleet of proxies shares one slice cache. Binary values, a TTL on every
 * key, cluster-ready hash-tagged keys, per-object purge through an index set (never `KEYS`/`SCAN`), and
 * fail-open behaviour when Redis goes away or hangs. Loaded only through the `slice-fetch/redis` subpath, so the root
 * entry never pulls in a Redis client. Needs Redis ≥ 7.0 (`PEXPIRE … NX|GT`). The client it talks through
 * is redis-client.ts, where it keeps things redis-layout.ts, its options redis-options.ts.
 *
 * Layout: every object has an index set naming its keys, on the same hash tag as its entries, so the write
 * can be one `MULTI`. The index's TTL is extended to the longest-lived entry (`PEXPIRE NX` then
 * `PEXPIRE GT`), so it outlives every entry it names and vanishes after them; `delete()` leaves a stale name
 * in it, which purge skips. Purge reads and drops the index in one `MULTI` (`SMEMBERS` + `DEL`), then
 * `UNLINK`s the names — counting only keys that still existed. Entry and index are written in one `MULTI`
 * too, so an entry is never visible unindexed.
 *
 * Failure: every call checks `isReady` first (node-redis queues a `MULTI` even offline) and is bounded by
 * `timeoutMs` (a hung server keeps the socket open); a client the store owns fails fast while disconnected
 * and reconnects by itself.
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
 * @module
 */
import { randomUUID } from 'node:crypto';
import { chunksLength } from '../core/chunks.js';
import { SliceFetchError } from '../core/errors.js';
import type { ByteRange, CacheChunks, CacheEntryMeta, CacheStats, CacheStorage } from '../ports.js';
import {
  asIterable,
  BUFFERS,
  bounded,
  createOwnClient,
  type RedisClientLike,
  STRINGS,
  usedMemoryOf,
} from './redis-client.js';
import { entryKey, entryPattern, indexKey, lockKey, toBuffer } from './redis-layout.js';
import { type RedisStorageOptions, resolveOptions } from './redis-options.js';

export type { RedisClientLike, RedisMultiLike } from './redis-client.js';
export type { RedisStorageOptions } from './redis-options.js';

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
export function redisStorage(options?: RedisStorageOptions): RedisStorage {
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
      lastIndexKey = indexKey(prefix, objectKey);
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
      const match = entryPattern(prefix);
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

const SAMPLE_INTERVAL_MS = 1000;
/** Deletes the claim only when it still holds this store's token (the Redis docs' single-instance lock). */
const UNLOCK_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
