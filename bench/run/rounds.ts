/**
 * The measured rounds of `npm run bench`: in each round, case 4's variants, then case 7's passes, then case 5's
 * servers, then every selected variant of cases 1–3 and 6, each in its own process.
 *
 * @module
 */
import { type BenchEnv, CASE6_IDS, VARIANTS } from '../cases/variants.js';
import { handlerColdRound } from '../handler-cold/round.js';
import { CASE7_IDS } from '../handler-cold/variants.js';
import { log } from '../log.js';
import { type Samples, samples } from '../report.js';
import { rangeRound } from '../small-ranges/round.js';
import type { RangeSamples } from '../small-ranges/targets.js';
import { storeRound } from '../stores/round.js';
import { CASE4_IDS, CASE4_PROXY_IDS } from '../stores/variants.js';
import type { CachePeers } from './cache-peers.js';
import type { BenchOptions } from './options.js';

/** What the rounds measured: samples by variant id (cases 1–4, 6 and 7), and case 5's by server id. */
export interface RoundResults {
  readonly results: Map<string, Samples>;
  readonly rangeResults: Map<string, RangeSamples>;
}

/**
 * Runs `options.runs` rounds of the selected cases and collects their samples, logging each measure.
 *
 * @example
 * ```ts
 * const { results, rangeResults } = await measureRounds(options, env, await startCachePeers(…));
 * ```
 */
export async function measureRounds(
  options: BenchOptions,
  env: BenchEnv,
  peers: CachePeers,
): Promise<RoundResults> {
  const { runs } = options;
  const { storeEnv, rangeServers, handlerColdEnv } = peers;
  const rangeResults = new Map<string, RangeSamples>();

  const variants = options.withCases123
    ? VARIANTS
    : options.withCase6
      ? VARIANTS.filter((v) => CASE6_IDS.includes(v.id))
      : [];
  const results = new Map<string, Samples>(
    [...variants.map((v) => v.id), ...CASE4_IDS, ...CASE4_PROXY_IDS, ...CASE7_IDS].map((id) => [
      id,
      samples(),
    ]),
  );
  const record = (
    id: string,
    m: { ms: number; rssKiB: number; cpuMs: number; arrayBuffersKiB: number; rusageRssKiB?: number },
    round: number,
  ): void => {
    const s = results.get(id) as Samples;
    s.ms.push(m.ms);
    s.rssKiB.push(m.rssKiB);
    s.cpuMs.push(m.cpuMs);
    s.arrayBuffersKiB.push(m.arrayBuffersKiB);
    log(
      `bench: round ${round}/${runs} ${id}: ${Math.round(m.ms)} ms, ${Math.round(m.rssKiB / 1024)} MiB RSS` +
        (m.rusageRssKiB === undefined ? '' : ` (maxRSS ${Math.round(m.rusageRssKiB / 1024)} MiB)`),
    );
  };
  // What each client process starts from: the kernel counts it in `maxRSS`, not in the `VmHWM` they report.
  log(`bench: runner RSS ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
  for (let round = 1; round <= runs; round++) {
    if (storeEnv !== undefined) for (const [id, m] of await storeRound(storeEnv, round)) record(id, m, round);
    if (handlerColdEnv !== undefined)
      for (const [id, m] of await handlerColdRound(handlerColdEnv, round)) record(id, m, round);
    if (rangeServers !== undefined) await rangeRound(rangeServers, round, rangeResults);
    for (const variant of variants) {
      record(variant.id, await variant.run(env), round);
    }
  }
  return { results, rangeResults };
}
