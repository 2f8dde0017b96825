/**
 * A Redis slice store (R16, R22): a fleet of proxies shares one slice cache, on one Redis server or a Redis
 * Cluster. Binary values, a TTL on every key, cluster-ready hash-tagged keys, per-object purge through an index
 * set (never `KEYS`/`SCAN`), and fail-open behaviour when Redis goes away, hangs or fills up. Loaded only
 * through the `slice-fetch/redis` subpath, so the root entry never pulls in a Redis client. Needs Redis ≥ 7.0
 * (`PEXPIRE … NX|GT`). Its parts: the link to one server (redis-client.ts) or a cluster (redis-cluster.ts),
 * the guard every call runs under (redis-guard.ts), occupancy (redis-stats.ts), where it keeps things
 * (redis-layout.ts) and its options (redis-options.ts).
 *
 * Layout: every object has an index set naming its keys, on the same hash tag as its entries, so the write
 * can be one `MULTI` (on one cluster node). The index's TTL is extended to the longest-lived entry
 * (`PEXPIRE NX` then `PEXPIRE GT`), so it outlives every entry it names and vanishes after them; `delete()`
 * leaves a stale name in it, which purge skips. Purge reads and drops the index in one `MULTI` (`SMEMBERS` +
 * `DEL`), then `UNLINK`s the names — counting only keys that still existed. Entry and index are written in one
 * `MULTI` too, so an entry is never visible unindexed.
 *
 * Failure (redis-guard.ts): every call is bounded by `timeoutMs`; timeouts in a row open a circuit breaker,
 * and while it is open the store answers without asking Redis — a read misses, a write is skipped, a claim is
 * granted — and probes again after `breakerCooldownMs`. Writes Redis refuses (`OOM` when full, …) are skipped
 * and claims granted, so the fill goes uncoordinated instead of failing; both are logged once per episode and
 * counted in `stats()`. A client the store owns fails fast while disconnected and reconnects by itself.
 *
 * Budget: Redis enforces the real budget (`maxmemory` with a `volatile-lru` policy — every key here has a
 * TTL); the store sets no byte cap of its own. `maxBytes`, when given, is a write-admission guard on top: an
 * entry larger than it is never stored, and writes are skipped while Redis's `used_memory` (sampled from
 * `INFO memory` at most once a second, off the write path) is at or above it — so give the cache its own
 * Redis when you set it.
 *
 * Stats (redis-stats.ts): `INFO memory` and `DBSIZE` of every master, kept for a second — O(1) per scrape —
 * plus the guard's counters (breaker state, timeouts, refusals); `statsSource: 'scan'` walks this prefix instead.
 *
 * Fill claims (R12, R22): `lock(key, ttl)` is `SET <prefix>{<tag>}#lock:<key> <token> NX PX ttl` — same hash
 * tag as the entry — `renew` a compare-and-extend script (`PEXPIRE` only while the claim holds this store's
 * random token) and `unlock` a compare-and-delete one, so fleets of proxies fetch each slice from the origin
 * once. Claims are short (`lockMs`, 5 s) and renewed by the engine while the fill makes progress: a claim
 * lapses by itself soon after its holder dies.
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
  createOwnClient,
  type RedisClientLike,
  type RedisLink,
  STRINGS,
  singleLink,
} from './redis-client.js';
import { clusterLink, createOwnCluster, isClusterClient } from './redis-cluster.js';
import { withGenerations } from './redis-generations.js';
import { createRedisGuard, type RedisGuardStats } from './redis-guard.js';
import { entryKey, indexKey, lockKey, toBuffer } from './redis-layout.js';
import { type RedisStorageOptions, type ResolvedOptions, resolveOptions } from './redis-options.js';
import { createOccupancySampler } from './redis-stats.js';

export type { BreakerState } from '../core/circuit-breaker.js';
export type { RedisClientLike, RedisMultiLike } from './redis-client.js';
export type { RedisClusterLike, RedisClusterMultiLike, RedisClusterNodeLike } from './redis-cluster.js';
export type { RedisGuardStats } from './redis-guard.js';
export type { RedisStorageOptions } from './redis-options.js';

/** What the Redis store's `stats()` reports: occupancy, and how its calls to Redis fared. */
export interface RedisStats extends Omit<CacheStats, 'breaker'>, RedisGuardStats {}

/** A {@link CacheStorage} backed by Redis or a Redis Cluster, with a pipelined multi-get. */
export interface RedisStorage extends CacheStorage {
  /** How long a fill claim lives unless renewed (the `lockMs` option). */
  readonly lockMs: number;
  /** Reads an entry, or a sub-range of it through `GETRANGE`; resolves `undefined` on a miss. */
  get(key: string, range?: ByteRange): Promise<CacheChunks | undefined>;
  /** Whether the entry exists (Redis drops it at its TTL), with one `EXISTS`. */
  has(key: string): Promise<boolean>;
  /** Reads several whole entries in one pipelined round trip, in order; `undefined` for each miss. */
  getMany(keys: readonly string[]): Promise<(CacheChunks | undefined)[]>;
  /** Claims the fill of `key` for `ttlMs` across every process on this Redis; `true` when claimed. */
  lock(key: string, ttlMs: number): Promise<boolean>;
  /** Extends this store's claim on `key` to `ttlMs` from now; `false` when it no longer holds it. */
  renew(key: string, ttlMs: number): Promise<boolean>;
  /** Drops this store's claim on `key` (never another process's). */
  unlock(key: string): Promise<void>;
  /** Occupancy (from `INFO`, or the walk of `statsSource: 'scan'`) and the guard's counters. */
  stats(): Promise<RedisStats>;
}

/**
 * Creates a Redis {@link CacheStorage}. With `url` (or nothing) it owns a node-redis client, with
 * `cluster: { rootNodes }` a node-redis cluster client, each configured to fail fast while disconnected and to
 * reconnect with capped exponential backoff; with `client` it uses yours (a `createClient()` or a
 * `createCluster()` one). Every call rejects within `timeoutMs` when Redis is down or hung — the engine then
 * fails open — and a circuit breaker stops asking a Redis that keeps timing out.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when an option is out of range.
 * @example
 * ```ts
 * import { createSliceFetcher, memoryStorage, tieredStorage } from 'slice-fetch';
 * import { redisStorage } from 'slice-fetch/redis';
 * const shared = redisStorage({ cluster: { rootNodes: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379'] } });
 * const fetcher = createSliceFetcher({ cache: tieredStorage([memoryStorage(), shared]) });
 * ```
 */
export function redisStorage(options?: RedisStorageOptions): RedisStorage {
  const o = resolveOptions(options);
  const link = linkOf(o);
  const { prefix, maxBytes, now, lockMs } = o;
  const maxTtlMs = o.ttlSeconds * 1000;
  const guard = createRedisGuard({
    link,
    timeoutMs: o.timeoutMs,
    failureThreshold: o.breakerFailures,
    cooldownMs: o.breakerCooldownMs,
    logger: o.logger,
    single: o.rootNodes === undefined && !(o.client !== undefined && isClusterClient(o.client)),
  });
  const occupancy = createOccupancySampler({ link, guard, prefix, source: o.statsSource });
  // Names this store's fill claims, so `renew` and `unlock` never touch another process's.
  const token = randomUUID();
  let lastObjectKey = '';
  let lastIndexKey = '';

  function indexKeyOf(objectKey: string): string {
    // Slices of one object are written one after another: remember the last hash instead of redoing it.
    if (objectKey !== lastObjectKey) {
      lastIndexKey = indexKey(prefix, objectKey);
      lastObjectKey = objectKey;
    }
    return lastIndexKey;
  }

  const store: RedisStorage = {
    lockMs,

    get(key, range) {
      const name = entryKey(prefix, key);
      return guard.run(
        'GET',
        async () => {
          const reply = await link.send(
            name,
            range === undefined ? ['GET', name] : ['GETRANGE', name, String(range.start), String(range.end)],
            BUFFERS,
          );
          if (!(reply instanceof Uint8Array)) return undefined;
          // GETRANGE answers "" for a missing key: an empty sub-range reads as a miss.
          return range !== undefined && reply.byteLength === 0 ? undefined : [reply];
        },
        { open: miss },
      );
    },

    has(key) {
      // One EXISTS per key: node-redis pipelines the calls made in one tick into one write.
      const name = entryKey(prefix, key);
      return guard.run('EXISTS', async () => Number(await link.send(name, ['EXISTS', name], STRINGS)) > 0, {
        open: () => false,
      });
    },

    getMany(keys) {
      return guard.run(
        'GET',
        async () => {
          const names = keys.map((key) => entryKey(prefix, key));
          const replies = await Promise.all(names.map((name) => link.send(name, ['GET', name], BUFFERS)));
          return replies.map((reply) => (reply instanceof Uint8Array ? [reply] : undefined));
        },
        { open: () => keys.map(miss) },
      );
    },

    async set(key: string, value: CacheChunks, meta: CacheEntryMeta): Promise<void> {
      const ttlMs = Math.min(meta.expiresAt - now(), maxTtlMs);
      if (!(ttlMs > 0)) return; // already expired (or NaN): storing it could only serve it late
      if (maxBytes !== undefined && (occupancy.usedMemory() >= maxBytes || chunksLength(value) > maxBytes))
        return;
      const px = String(Math.max(1, Math.floor(ttlMs)));
      const index = indexKeyOf(meta.objectKey);
      const name = entryKey(prefix, key);
      const bytes = toBuffer(value);
      await guard.run(
        'SET',
        () =>
          link.transaction(name, [
            ['SET', name, bytes, 'PX', px],
            ['SADD', index, key],
            ['PEXPIRE', index, px, 'NX'],
            ['PEXPIRE', index, px, 'GT'],
          ]),
        { open: skipped, refused: skipped },
      );
    },

    delete(key) {
      // UNLINK frees a big value off Redis's main thread.
      const name = entryKey(prefix, key);
      return guard.run('UNLINK', async () => Number(await link.send(name, ['UNLINK', name], STRINGS)) > 0, {
        open: () => false,
      });
    },

    async purgeObject(objectKey) {
      const index = indexKeyOf(objectKey);
      const refuse = (): never => {
        throw new SliceFetchError(
          'ERR_SLICE_CACHE',
          `Redis purge of ${objectKey} skipped: Redis is bypassed.`,
        );
      };
      // Read and drop the index atomically, so two purges never both count (or miss) one entry.
      const replies = await guard.run(
        'purge',
        () =>
          link.transaction(index, [
            ['SMEMBERS', index],
            ['DEL', index],
          ]),
        { open: refuse },
      );
      const keys: string[] = [];
      for (const member of asIterable(replies[0])) keys.push(entryKey(prefix, String(member)));
      if (keys.length === 0) return 0;
      const removed = await guard.run('purge', () => link.send(keys[0], ['UNLINK', ...keys], STRINGS), {
        open: refuse,
      });
      return Number(removed);
    },

    async stats(): Promise<RedisStats> {
      try {
        return { ...(await occupancy.read()), ...guard.stats() };
      } catch (error) {
        // While Redis is bypassed, the last numbers and the breaker's state are the answer (a scrape must not
        // wait for a timeout to learn that the breaker is open).
        const last = occupancy.last();
        if (guard.stats().breaker === 'closed') throw error;
        return { ...(last ?? { bytes: 0, entries: 0 }), ...guard.stats() };
      }
    },

    lock(key, ttlMs) {
      const name = lockKey(prefix, key);
      return guard.run(
        'lock',
        async () => {
          const reply = await link.send(name, ['SET', name, token, 'NX', 'PX', px(ttlMs)], STRINGS);
          return reply !== null && reply !== undefined; // `OK` when claimed, nil when another process holds it
        },
        // Bypassed or full: the claim is granted, and the fill goes uncoordinated rather than waiting.
        { open: granted, refused: granted },
      );
    },

    renew(key, ttlMs) {
      const name = lockKey(prefix, key);
      return guard.run(
        'renew',
        async () =>
          Number(await link.send(name, ['EVAL', RENEW_SCRIPT, '1', name, token, px(ttlMs)], STRINGS)) === 1,
        { open: () => false, refused: () => false },
      );
    },

    async unlock(key) {
      // Compare-and-delete: a claim that lapsed and was taken by another process is not ours to drop.
      const name = lockKey(prefix, key);
      await guard.run('unlock', () => link.send(name, ['EVAL', UNLOCK_SCRIPT, '1', name, token], STRINGS), {
        open: skipped,
        refused: skipped,
      });
    },

    async close() {
      await occupancy.settled();
      await link.close(o.timeoutMs);
    },
  };
  // Purge generations and notices (P27): redis-generations.ts.
  return withGenerations(store, { link, guard, prefix, maxTtlMs, onError: o.onError });
}

// ---------------------------------------------------------------------------------------------------------

/** Deletes the claim only when it still holds this store's token (the Redis docs' single-instance lock). */
const UNLOCK_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/** Extends the claim only while it still holds this store's token: 1 when extended, 0 when it is not ours. */
const RENEW_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/** The link the options name: a given client (one server's or a cluster's), a cluster, or one URL. */
function linkOf(o: ResolvedOptions): RedisLink {
  if (o.client !== undefined)
    return isClusterClient(o.client)
      ? clusterLink(o.client, undefined, o.onError)
      : singleLink(o.client as RedisClientLike, undefined);
  if (o.rootNodes !== undefined) {
    const own = createOwnCluster(o.rootNodes, o.onError);
    return clusterLink(own, own, o.onError);
  }
  const own = createOwnClient(o.url, o.onError);
  return singleLink(own, own);
}

function px(ms: number): string {
  return String(Math.max(1, Math.floor(ms)));
}

function miss(): undefined {
  return undefined;
}

function skipped(): undefined {
  return undefined;
}

function granted(): true {
  return true;
}
