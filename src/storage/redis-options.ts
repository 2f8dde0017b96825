/**
 * The options of the Redis store, and their checks: every one is validated once, when the store is created.
 *
 * @module
 */
import { optionError, optionsObject } from '../core/errors.js';
import type { Logger } from '../ports.js';
import type { RedisClientLike } from './redis-client.js';
import type { RedisClusterLike } from './redis-cluster.js';

/** The names {@link RedisStorageOptions} has: any other key is a mistake, reported at once. */
const OPTION_NAMES = [
  'client',
  'url',
  'cluster',
  'prefix',
  'ttlSeconds',
  'maxBytes',
  'timeoutMs',
  'statsSource',
  'lockMs',
  'breakerFailures',
  'breakerCooldownMs',
  'logger',
  'onError',
  'now',
];

/** Options of {@link redisStorage}. */
export interface RedisStorageOptions {
  /**
   * A connected node-redis 5 client to use: one server's (`createClient()`) or a cluster's (`createCluster()`).
   * The store never connects or closes it; give it `disableOfflineQueue: true` (a cluster: in `defaults`) so
   * commands fail fast while it reconnects. Exclusive with `url` and `cluster`.
   */
  client?: RedisClientLike | RedisClusterLike;
  /** URL of the Redis the store connects to itself (and closes on `close()`). @default 'redis://localhost:6379' */
  url?: string;
  /**
   * A Redis Cluster the store connects to itself (and closes on `close()`): `rootNodes` are the URLs of a few
   * of its nodes (any of them, masters or replicas); the rest of the cluster is discovered from them.
   * Exclusive with `url` and `client`.
   * @example { rootNodes: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379'] }
   */
  cluster?: {
    /** `redis://` or `rediss://` URLs of a few of the cluster's nodes; the rest are discovered. */
    readonly rootNodes: readonly string[];
  };
  /** Namespace prepended to every key; must not contain `{` or `}`. @default 'slice-fetch:' */
  prefix?: string;
  /** Upper bound on any key's TTL, in seconds: entries live until `expiresAt` or this long, whichever is first. @default 604800 (7 days) */
  ttlSeconds?: number;
  /** Write-admission budget in bytes (see the `slice-fetch/redis` module notes). @default undefined — Redis's own `maxmemory` rules */
  maxBytes?: number;
  /**
   * Bound on every operation, in milliseconds: past it the call rejects and the engine serves from the origin.
   * @default 2000 (the engine's own `timeouts.cacheMs`)
   */
  timeoutMs?: number;
  /**
   * Where `stats()` gets its numbers: `info` reads `INFO memory` and `DBSIZE` of every master (O(1) each, the
   * whole database, kept for a second); `scan` walks this prefix's keys (exact, O(keys) per call).
   * @default 'info'
   */
  statsSource?: 'scan' | 'info';
  /**
   * Lifetime of a fill claim in milliseconds. The holder renews it while its fill makes progress, so a process
   * that dies delays the others by at most this long.
   * @default 5000
   */
  lockMs?: number;
  /** Timeouts in a row that open the circuit breaker (see the `slice-fetch/redis` module notes). @default 3 */
  breakerFailures?: number;
  /** How long an open breaker bypasses Redis before one call probes it, in milliseconds. @default 5000 */
  breakerCooldownMs?: number;
  /** Where the store says, once per episode, that the breaker opened or that Redis refuses writes. @default none */
  logger?: Logger;
  /** Connection errors of a client the store created (each failed reconnect emits one). @default ignored */
  onError?: (error: unknown) => void;
  /** Clock used to turn `expiresAt` into a TTL, milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

/** The options with every default applied. */
export interface ResolvedOptions {
  readonly client: RedisClientLike | RedisClusterLike | undefined;
  readonly url: string;
  readonly rootNodes: readonly string[] | undefined;
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly maxBytes: number | undefined;
  readonly timeoutMs: number;
  readonly statsSource: 'scan' | 'info';
  readonly lockMs: number;
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  readonly logger: Logger | undefined;
  readonly onError: (error: unknown) => void;
  readonly now: () => number;
}

/**
 * Checks the options and applies the defaults.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when an option is out of range.
 */
export function resolveOptions(input: RedisStorageOptions | undefined): ResolvedOptions {
  const options = optionsObject(input, OPTION_NAMES, 'redisStorage options');
  const given = (['client', 'url', 'cluster'] as const).filter((name) => options[name] !== undefined);
  const [first, second] = given;
  if (second !== undefined) {
    const value = second === 'url' ? options.url : (options.cluster?.rootNodes ?? []).join(',');
    throw optionError(second, `unset when \`${first}\` is given`, value);
  }
  if (options.url !== undefined && !isRedisUrl(options.url))
    throw optionError('url', 'a `redis://` or `rediss://` URL', options.url);
  const rootNodes = options.cluster === undefined ? undefined : clusterNodes(options.cluster);
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
  const statsSource = options.statsSource ?? 'info';
  if (statsSource !== 'scan' && statsSource !== 'info') {
    throw optionError('statsSource', "'scan' or 'info'", statsSource);
  }
  const lockMs = positiveInteger('lockMs', options.lockMs, 5000);
  const breakerFailures = positiveInteger('breakerFailures', options.breakerFailures, 3);
  const breakerCooldownMs = positiveInteger('breakerCooldownMs', options.breakerCooldownMs, 5000);
  return {
    client: options.client,
    url: options.url ?? 'redis://localhost:6379',
    rootNodes,
    prefix,
    ttlSeconds,
    maxBytes,
    timeoutMs,
    statsSource,
    lockMs,
    breakerFailures,
    breakerCooldownMs,
    logger: options.logger,
    onError: options.onError ?? (() => undefined),
    now: options.now ?? Date.now,
  };
}

// ---------------------------------------------------------------------------------------------------------

function isRedisUrl(value: unknown): boolean {
  return typeof value === 'string' && /^rediss?:\/\/[^\s]+$/i.test(value);
}

function clusterNodes(cluster: unknown): readonly string[] {
  const rootNodes = (cluster as { rootNodes?: unknown } | null)?.rootNodes;
  if (!Array.isArray(rootNodes) || rootNodes.length === 0 || !rootNodes.every(isRedisUrl))
    throw optionError('cluster.rootNodes', 'a non-empty array of `redis://` or `rediss://` URLs', rootNodes);
  return [...rootNodes];
}

function positiveInteger(path: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) throw optionError(path, 'a positive integer', value);
  return resolved;
}
