/**
 * Case 5, "warm 4 KiB ranges": many small range requests for a warm 64 MiB object, answered by three servers in
 * the same run, each loaded by `wrk -t2 -c64 -d<seconds>` with bench/lua/ranges-4k.lua (uniformly random
 * offsets, 4096 bytes each):
 * - `createSliceHandler()` in a `node:http` server (bench/servers/handler-server.ts, bundled from `src/` like
 *   every other client of the bench), 1 MiB slices, 256 MiB memory store, in front of the origin nginx;
 * - nginx slice + proxy_cache (the case-4 cache nginx: `slice 1m`, keep-alive upstream), warm;
 * - bare `node:http` answering the 4 KiB from the object held in memory (bench/servers/bare-server.ts): the floor
 *   of any Node server.
 * Both caches are filled by one GET of the whole object first; every server must return the right bytes for a
 * set of random ranges before anything is timed (bench/small-ranges/servers.ts, verify.ts). The servers take
 * turns going first in each round (round.ts); the table and verdicts are in tables.ts.
 *
 * This module holds what those share: the ids, labels and shapes of case 5.
 *
 * @module
 */
import type { Clients } from '../processes.js';

/** The length of every range asked for. */
export const RANGE_BYTES = 4096;

/** Case-5 ids, in table order. */
export const CASE5_IDS = ['c5.handler', 'c5.nginx', 'c5.bare'] as const;
export type Case5Id = (typeof CASE5_IDS)[number];

/** Row labels of the case-5 table. */
export const RANGE_LABELS: Record<Case5Id, string> = {
  'c5.handler': '`createSliceHandler()` in `node:http` (256 MiB memory store, warm)',
  'c5.nginx': 'nginx slice + proxy_cache (warm)',
  'c5.bare': 'bare `node:http`, 4 KiB from memory (floor)',
};

/** What case 5 runs against. */
export interface RangeEnv {
  readonly clients: Clients;
  /** The origin nginx (files under `/fast/`). */
  readonly origin: string;
  /** The slice-cache nginx (files under `/sliced/`) and its master's pid. */
  readonly cache: string;
  readonly cachePid: number;
  readonly smallFile: string;
  /** The 64 MiB object's path on disk (for the bare server and the byte checks) and its SHA-256. */
  readonly smallPath: string;
  readonly smallSha: string;
  /** `wrk -d`, seconds. */
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
}

/** A server under test: its URL (base + path) and the pid whose CPU is counted. */
export interface RangeTarget {
  readonly url: string;
  readonly pid: () => number | undefined;
}

/** The running servers of case 5. */
export interface RangeServers {
  readonly env: RangeEnv;
  /** URL (base + path) and the pid whose CPU is counted, by id. */
  readonly targets: ReadonlyMap<Case5Id, RangeTarget>;
  stop(): Promise<void>;
}

/** Repeated measurements of one server. */
export interface RangeSamples {
  readonly rps: number[];
  readonly p50Us: number[];
  readonly p99Us: number[];
  /** Server CPU (user + system) per response, microseconds. */
  readonly cpuUsPerRequest: number[];
  /** Bytes read by wrk per response (headers and body). */
  readonly bytesPerResponse: number[];
  /** Socket errors and status ≥ 400 over all rounds. */
  errors: number;
}
