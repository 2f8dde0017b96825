/**
 * The options of the Redis store, and their checks: every one is validated once, when the store is created.
 *
 * @module
 */
import { optionError, optionsObject } from '../core/errors.js';
import type { RedisClientLike } from './redis-client.js';

/** The names {@link RedisStorageOptions} has: any other key is a mistake, reported at once. */
const OPTION_NAMES = [
  'client',
  'url',
  'prefix',
  'ttlSeconds',
  'maxBytes',
  'timeoutMs',
  'statsSource',
  'onError',
  'now',
];

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
  /** Write-admission budget in bytes (see the `slice-fetch/redis` module notes). @default undefined — Redis's own `maxmemory` rules */
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

/** The options with every default applied. */
export interface ResolvedOptions {
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

/**
 * Checks the options and applies the defaults.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when an option is out of range.
 */
export function resolveOptions(input: RedisStorageOptions | undefined): ResolvedOptions {
  const options = optionsObject(input, OPTION_NAMES, 'redisStorage options');
  if (options.client !== undefined && options.url !== undefined) {
    throw optionError('client', 'either `client` or `url`', 'both');
  }
  if (options.url !== undefined && !/^rediss?:\/\/[^\s]+$/i.test(String(options.url)))
    throw optionError('url', 'a `redis://` or `rediss://` URL', options.url);
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
