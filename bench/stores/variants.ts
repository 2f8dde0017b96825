/**
 * Case 4, persistent stores: what it runs against, its variant ids and their labels. slice-fetch's `fsStorage`
 * and `redisStorage` in-process, and `slice-proxy --cache fs`, each against nginx slice + proxy_cache, cold and
 * warm (the rounds in bench/stores/round.ts, the tables in bench/stores/tables.ts).
 *
 * @module
 */
import type { Clients } from '../processes.js';
import { MiB } from '../units.js';

/** The disk store's budget: twice the object, so nothing of it is evicted. */
export const FS_STORE_BYTES = 2048 * MiB;

/** What case 4 runs against. */
export interface StoreEnv {
  readonly clients: Clients;
  /** The origin nginx (files under `/fast/`). */
  readonly origin: string;
  /** The slice-cache nginx (files under `/sliced/`). */
  readonly cache: string;
  readonly smallFile: string;
  readonly largeFile: string;
  /** Scratch directory for the disk stores (same disk as nginx's cache). */
  readonly scratch: string;
  /** `redis://127.0.0.1:<port>` */
  readonly redisUrl: string;
}

/** Case-4 variant ids, in table order. */
export const CASE4_IDS = [
  'c4.fs.warm',
  'c4.redis.warm',
  'c4.nginx.warm',
  'c4.fs.cold',
  'c4.nginx.cold',
] as const;

/** Case-4 proxy-against-proxy ids (both proxies read by curl), in table order. */
export const CASE4_PROXY_IDS = ['c4p.fs.warm', 'c4p.nginx.warm', 'c4p.fs.cold', 'c4p.nginx.cold'] as const;

/** Row labels of the proxy-against-proxy table. */
export const PROXY_LABELS: Record<(typeof CASE4_PROXY_IDS)[number], string> = {
  'c4p.fs.warm': '`slice-proxy --cache fs`, warm, new process',
  'c4p.nginx.warm': 'nginx slice + proxy_cache, warm',
  'c4p.fs.cold': '`slice-proxy --cache fs`, cold (empty dir, writes to disk)',
  'c4p.nginx.cold': 'nginx slice + proxy_cache, cold (empty key, writes to disk)',
};

/** Row labels of the in-process table. */
export const STORE_LABELS: Record<(typeof CASE4_IDS)[number], string> = {
  'c4.fs.warm': 'slice-fetch `fsStorage`, warm, new process',
  'c4.redis.warm': 'slice-fetch `redisStorage`, warm, new process',
  'c4.nginx.warm': 'nginx slice + proxy_cache, warm (undici GET through it)',
  'c4.fs.cold': 'slice-fetch `fsStorage`, cold (empty dir, writes to disk)',
  'c4.nginx.cold': 'nginx slice + proxy_cache, cold (empty key, writes to disk)',
};
