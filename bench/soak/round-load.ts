/**
 * The load of one soak round: wrk with bench/lua/soak-mix.lua for its share of the requests and, side by side,
 * the HEADs sent by this process.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import type { Pool } from 'undici';
import { runWrk, type WrkResult } from '../wrk.js';
import { type HeadResult, sendHeads } from './heads.js';
import { OBJECTS, SLICE_SIZE } from './objects.js';
import type { SoakOptions } from './options.js';

/** What a round's load did. */
export interface RoundLoad {
  readonly wrk: WrkResult;
  readonly heads: HeadResult;
  /** Wall time of the round (wrk and the HEADs, which run side by side), ms. */
  readonly wallMs: number;
}

/** Where a round's load goes. */
export interface RoundTarget {
  /** The proxy, `http://127.0.0.1:<port>`. */
  readonly base: string;
  /** Keep-alive connections for the HEADs. */
  readonly headPool: Pool;
  /** The object the cold keys ask for (`--cold-object`), or `-` for the script's default. */
  readonly coldObject: string;
  /** Told of the running wrk (so it can be killed on Ctrl-C), then of `undefined` once it is done. */
  readonly trackWrk: (child: ChildProcess | undefined) => void;
}

/**
 * Sends one round's requests: `requests − heads` by wrk (a quota per thread) and the HEADs beside them.
 *
 * @example
 * ```ts
 * const { wrk, heads, wallMs } = await loadRound(options, { base, headPool, coldObject: '-', trackWrk });
 * ```
 */
export async function loadRound(options: SoakOptions, target: RoundTarget): Promise<RoundLoad> {
  const { requestsPerRound, headsPerRound, threads } = options;
  const quota = Math.ceil((requestsPerRound - headsPerRound) / threads);
  const objectArgs = OBJECTS.map((o) => `${o.name}:${o.size}`);
  const roundStart = performance.now();
  const headsDone = sendHeads(target.headPool, headsPerRound);
  const wrk = await runWrk({
    url: `${target.base}/`,
    script: 'soak-mix.lua',
    args: [
      String(quota),
      String(SLICE_SIZE),
      String(options.coldShare),
      String(options.coldKeys),
      target.coldObject,
      ...objectArgs,
    ],
    threads,
    connections: options.connections,
    seconds: options.roundTimeout,
    untilThreadsDone: true,
    onSpawn: (child) => target.trackWrk(child),
  });
  target.trackWrk(undefined);
  const heads = await headsDone;
  return { wrk, heads, wallMs: performance.now() - roundStart };
}
