/**
 * Case 7, "cold 1 GiB through the handler": `createSliceHandler()` in a `node:http` server (case 5's
 * bench/servers/handler-server.ts: 1 MiB slices, concurrency 8, a memory store, in front of the origin's
 * `/fast/`), a fresh process per pass so its store is empty, against the case-4 nginx slice + proxy_cache on a key
 * it has never seen (`?c7-cold=<round>`, so every slice misses and is written to its disk cache). The measured
 * handler row has a 1.5 GiB store, which takes the object as nginx's cache does; a second row has case 5's
 * 256 MiB store, which the handler does not write a 1 GiB response into (its slices pass through unstored). All
 * are read by `curl -o /dev/null`; time is curl's `time_total`. The passes of a round run back to back, each
 * after a `sync`, a different one first each round (bench/handler-cold/round.ts); the table and verdict are in
 * tables.ts.
 *
 * This module holds what those share: the ids, labels and environment of case 7.
 *
 * @module
 */
import type { Clients } from '../processes.js';

/** Case-7 ids, in table order. */
export const CASE7_IDS = ['c7.handler.cold', 'c7.handler.cold.small', 'c7.nginx.cold'] as const;
export type Case7Id = (typeof CASE7_IDS)[number];

/** Row labels of the case-7 table. */
export const HANDLER_COLD_LABELS: Record<Case7Id, string> = {
  'c7.handler.cold':
    '`createSliceHandler()` in `node:http`, cold (fresh process, empty 1.5 GiB memory store: fills it)',
  'c7.handler.cold.small':
    "the same with case 5's 256 MiB store (object larger than the store: passes through unstored)",
  'c7.nginx.cold': 'nginx slice + proxy_cache, cold (a key never seen, writes to disk)',
};

/** What case 7 runs against. */
export interface HandlerColdEnv {
  readonly clients: Clients;
  /** The origin nginx (files under `/fast/`). */
  readonly origin: string;
  /** The slice-cache nginx (files under `/sliced/`) and its master's pid (its worker's CPU is counted). */
  readonly cache: string;
  readonly cachePid: number;
  readonly smallFile: string;
  readonly largeFile: string;
  /** SHA-256 of the 64 MiB object (the byte check before the rounds). */
  readonly smallSha: string;
}
