/**
 * One round of case 5: each server under wrk in turn, with its CPU over the run.
 *
 * @module
 */
import { SMALL_BYTES } from '../cases/settings.js';
import { log } from '../log.js';
import { cpuMsOrNaN } from '../proc-stats.js';
import { rps, runWrk, socketErrors, type WrkResult } from '../wrk.js';
import { CASE5_IDS, RANGE_BYTES, type RangeEnv, type RangeSamples, type RangeServers } from './targets.js';

/**
 * One round: each server under wrk in turn (a different one first each round), recorded into `results`.
 *
 * @example
 * ```ts
 * await rangeRound(servers, round, results);
 * ```
 */
export async function rangeRound(
  servers: RangeServers,
  round: number,
  results: Map<string, RangeSamples>,
): Promise<void> {
  const ids = [...CASE5_IDS];
  const order = [...ids.slice((round - 1) % ids.length), ...ids.slice(0, (round - 1) % ids.length)];
  for (const id of order) {
    const target = servers.targets.get(id);
    if (target === undefined) continue;
    const pid = target.pid();
    const cpuBefore = pid === undefined ? Number.NaN : cpuMsOrNaN(pid);
    const r = await runRangeWrk(servers.env, target.url, servers.env.seconds);
    const cpu = pid === undefined ? Number.NaN : cpuMsOrNaN(pid) - cpuBefore;
    let s = results.get(id);
    if (s === undefined) {
      s = { rps: [], p50Us: [], p99Us: [], cpuUsPerRequest: [], bytesPerResponse: [], errors: 0 };
      results.set(id, s);
    }
    s.rps.push(rps(r));
    s.p50Us.push(r.latencyUs.p50);
    s.p99Us.push(r.latencyUs.p99);
    s.cpuUsPerRequest.push((cpu * 1000) / r.requests);
    s.bytesPerResponse.push(r.bytes / r.requests);
    s.errors += socketErrors(r) + r.errors.status;
    log(
      `bench: round ${round} ${id}: ${Math.round(rps(r))} req/s, p99 ${(r.latencyUs.p99 / 1000).toFixed(1)} ms, ` +
        `${Math.round((cpu * 1000) / r.requests)} µs CPU/request`,
    );
  }
}

/**
 * `wrk` with bench/lua/ranges-4k.lua against `url` for `seconds`: 4 KiB ranges at random offsets of the object.
 *
 * @example
 * ```ts
 * const r = await runRangeWrk(env, 'http://127.0.0.1:8080/obj-64m', 2);
 * ```
 */
export function runRangeWrk(env: RangeEnv, url: string, seconds: number): Promise<WrkResult> {
  const { origin, pathname } = new URL(url);
  return runWrk({
    url: `${origin}/`,
    script: 'ranges-4k.lua',
    args: [pathname, String(SMALL_BYTES), String(RANGE_BYTES)],
    threads: env.threads,
    connections: env.connections,
    seconds,
  });
}
