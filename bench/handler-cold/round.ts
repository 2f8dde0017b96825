/**
 * Case 7's passes: a cold 1 GiB GET by curl through a fresh `createSliceHandler()` server (with a store that
 * takes the object, and with case 5's 256 MiB store, which does not), and through the slice cache nginx on a key
 * it has never seen; each with the server's CPU and peak RSS from `/proc`. Also the byte check before the rounds.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LARGE_BYTES, type Measure, SLICE_SETTINGS, WARM_CACHE_BYTES } from '../cases/settings.js';
import { curlGet } from '../curl.js';
import { sha256Of } from '../digest.js';
import { nginxWorkerPid } from '../nginx.js';
import { cpuMsOrNaN } from '../proc-stats.js';
import { stopChild } from '../processes.js';
import type { HandlerServerSpec } from '../servers/handler-server.js';
import { HANDLER_CACHE_BYTES, startBundledServer } from '../small-ranges/servers.js';
import { settleDisk } from '../stores/round.js';
import { CASE7_IDS, type Case7Id, type HandlerColdEnv } from './variants.js';

/**
 * The handler's store in the measured row: a memory store big enough to take the 1 GiB object (1.5 GiB, case 2's
 * warm budget). The handler writes no slice of a response larger than its store's budget, so with case 5's
 * 256 MiB store (the `c7.handler.cold.small` row) a cold 1 GiB passes through unstored — not the fill nginx does.
 */
export const HANDLER_COLD_STORE_BYTES = WARM_CACHE_BYTES;

/**
 * One round of case 7: its three passes back to back, each after a `sync`, a different one first each round
 * (the order rotates, so each goes first, second and third once in three rounds).
 *
 * @example
 * ```ts
 * const m = await handlerColdRound(env, 1); // m.get('c7.handler.cold')?.ms
 * ```
 */
export async function handlerColdRound(env: HandlerColdEnv, round: number): Promise<Map<Case7Id, Measure>> {
  const passes: Record<Case7Id, () => Promise<Measure>> = {
    'c7.handler.cold': () => handlerColdPass(env, HANDLER_COLD_STORE_BYTES),
    'c7.handler.cold.small': () => handlerColdPass(env, HANDLER_CACHE_BYTES),
    'c7.nginx.cold': () => nginxColdPass(env, round),
  };
  const shift = (round - 1) % CASE7_IDS.length;
  const order = [...CASE7_IDS.slice(shift), ...CASE7_IDS.slice(0, shift)];
  const out = new Map<Case7Id, Measure>();
  for (const id of order) out.set(id, await passes[id]());
  return out;
}

/**
 * Before anything is timed: a fresh handler server must return the 64 MiB object with the right SHA-256 as a
 * `MISS`, then again as a `HIT`; the slice cache nginx likewise on a key of its own (cold, then warm).
 *
 * @example
 * ```ts
 * await verifyHandlerCold(env);
 * ```
 */
export async function verifyHandlerCold(env: HandlerColdEnv): Promise<void> {
  await withHandlerServer(env, HANDLER_CACHE_BYTES, async (_child, base) => {
    for (const want of ['MISS', 'HIT']) {
      const got = await sha256Of(`${base}/${env.smallFile}`);
      checkCase7(
        got.status === 200 && got.sha === env.smallSha && got.sliceCache === want,
        `handler, 64 MiB: status 200, the right SHA-256 and x-slice-cache ${want}`,
        got,
      );
    }
  });
  for (const temperature of ['cold', 'warm']) {
    const got = await sha256Of(`${env.cache}/sliced/${env.smallFile}?c7-verify`);
    checkCase7(
      got.status === 200 && got.sha === env.smallSha,
      `nginx slice cache, 64 MiB ${temperature}: status 200 and the right SHA-256`,
      got,
    );
  }
}

/**
 * Runs `use` against a fresh handler server (case 5's, bundled: 1 MiB slices, concurrency 8, an empty memory
 * store of `cacheBytes`, upstream the origin's `/fast/`), then stops it (SIGTERM: it closes the handler and
 * exits). `nodeArgs` go to its `node` (e.g. `--cpu-prof`).
 *
 * @example
 * ```ts
 * const status = await withHandlerServer(env, 256 * MiB, async (_child, base) => (await fetch(`${base}/obj`)).status);
 * ```
 */
export async function withHandlerServer<T>(
  env: HandlerColdEnv,
  cacheBytes: number,
  use: (child: ChildProcess, base: string) => Promise<T>,
  nodeArgs: readonly string[] = [],
): Promise<T> {
  const spec: HandlerServerSpec = { upstream: `${env.origin}/fast`, ...SLICE_SETTINGS, cacheBytes };
  const children: ChildProcess[] = [];
  try {
    const { child, port } = await startBundledServer(env.clients.handlerServer, spec, children, nodeArgs);
    return await use(child, `http://127.0.0.1:${port}`);
  } finally {
    await Promise.all(children.map((child) => stopChild(child, 10_000)));
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * One cold GET of the large object by curl through a fresh handler server with a memory store of `cacheBytes`;
 * its CPU and peak RSS from /proc. When the store can take the object, its first and last bytes must then be
 * store hits (untimed).
 */
function handlerColdPass(env: HandlerColdEnv, cacheBytes: number): Promise<Measure> {
  return withHandlerServer(env, cacheBytes, async (child, base) => {
    settleDisk();
    const pid = child.pid as number;
    const url = `${base}/${env.largeFile}`;
    const cpuBefore = cpuMsOrNaN(pid);
    const r = await curlGet(url);
    const cpu = cpuMsOrNaN(pid) - cpuBefore;
    const rssKiB = peakRssKiB(pid);
    checkCase7(
      r.status === 200 && r.bytes === LARGE_BYTES && r.sliceCache === 'MISS',
      'handler cold: status 200, every byte, x-slice-cache MISS',
      r,
    );
    if (cacheBytes >= LARGE_BYTES)
      for (const range of ['bytes=0-0', `bytes=${LARGE_BYTES - 1}-${LARGE_BYTES - 1}`]) {
        const hit = await curlGet(url, { range });
        checkCase7(
          hit.status === 206 && hit.bytes === 1 && hit.sliceCache === 'HIT',
          `handler after the cold pass: ${range} a store hit`,
          hit,
        );
      }
    return { ms: r.ms, cpuMs: cpu, rssKiB, arrayBuffersKiB: Number.NaN };
  });
}

/**
 * One cold GET of the large object by curl through the slice cache nginx, on a key it has never seen; CPU is its
 * worker's over the pass, peak RSS the worker's high-water mark since it started.
 */
async function nginxColdPass(env: HandlerColdEnv, round: number): Promise<Measure> {
  settleDisk();
  const worker = nginxWorkerPid(env.cachePid);
  const cpuBefore = cpuMsOrNaN(worker);
  // A query nginx has never seen is a new cache key (`$uri$is_args$args$slice_range`); the origin ignores it.
  const r = await curlGet(`${env.cache}/sliced/${env.largeFile}?c7-cold=${round}`);
  const cpu = cpuMsOrNaN(worker) - cpuBefore;
  checkCase7(r.status === 200 && r.bytes === LARGE_BYTES, 'nginx cold: status 200 and every byte', r);
  return {
    ms: r.ms,
    cpuMs: cpu,
    rssKiB: worker === undefined ? Number.NaN : peakRssKiB(worker),
    arrayBuffersKiB: Number.NaN,
  };
}

/** `VmHWM` of a process, KiB (`NaN` when it cannot be read). */
function peakRssKiB(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** Throws `case 7 check failed: <what>; got <got as JSON>` unless `ok`. */
function checkCase7(ok: boolean, what: string, got: unknown): void {
  if (!ok) throw new Error(`case 7 check failed: ${what}; got ${JSON.stringify(got)}`);
}
