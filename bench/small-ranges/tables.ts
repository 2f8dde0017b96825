/**
 * Case 5's Markdown table, its verdicts (the issue's floor against nginx, and no errors) and its ratios for the
 * chart.
 *
 * @module
 */
import { median, ratio, table, type Verdict } from '../report.js';
import { CASE5_IDS, RANGE_LABELS, type RangeEnv, type RangeSamples } from './targets.js';

/**
 * The case-5 table in Markdown.
 *
 * @example
 * ```ts
 * console.log(rangeTable(results, env));
 * ```
 */
export function rangeTable(results: ReadonlyMap<string, RangeSamples>, env: RangeEnv): string {
  const ours = median(results.get('c5.handler')?.rps ?? []);
  const rows = CASE5_IDS.map((id) => {
    const s = results.get(id);
    const r = s?.rps ?? [];
    return [
      RANGE_LABELS[id],
      `${Math.round(median(r))} (${Math.round(Math.min(...r))}–${Math.round(Math.max(...r))})`,
      ratio(ours / median(r)),
      `${latencyCell(median(s?.p50Us ?? []))} / ${latencyCell(median(s?.p99Us ?? []))}`,
      `${Math.round(median(s?.cpuUsPerRequest ?? []))} µs`,
      `${Math.round(median(s?.bytesPerResponse ?? []))} B`,
      String(s?.errors ?? 'n/a'),
    ];
  });
  return [
    '### Case 5 — warm 4 KiB ranges of a 64 MiB object: requests per second',
    '',
    `\`wrk -t${env.threads} -c${env.connections} -d${env.seconds}s\` per server and round, \`Range: bytes=a-(a+4095)\` at`,
    'uniformly random offsets (bench/lua/ranges-4k.lua), both caches filled first. Server CPU per request is',
    "the server process's (nginx: the cache's worker) user + system time over the run ÷ responses. wrk, the",
    'server and its origin share the machine.',
    '',
    table(
      [
        'server',
        'req/s: median (min–max)',
        'slice-fetch ÷ this (req/s)',
        'latency p50 / p99',
        'server CPU per request',
        'bytes per response',
        'errors',
      ],
      rows,
    ),
    '',
    `slice-fetch \`createSliceHandler()\` ÷ nginx: **${ratio(ours / median(results.get('c5.nginx')?.rps ?? []))}**; ÷ bare ` +
      `\`node:http\`: **${ratio(ours / median(results.get('c5.bare')?.rps ?? []))}**.`,
  ].join('\n');
}

/** The floor for case 5: `createSliceHandler()` req/s ÷ nginx slice + proxy_cache req/s. */
export const CASE5_FLOOR = 0.5;

/**
 * Case 5's verdicts: `createSliceHandler()` at least {@link CASE5_FLOOR} × nginx's requests per second (the
 * issue's floor), and no socket error or status ≥ 400 from any server (every response must be a 206).
 *
 * @example
 * ```ts
 * rangeVerdicts(results).every((v) => v.met);
 * ```
 */
export function rangeVerdicts(results: ReadonlyMap<string, RangeSamples>): Verdict[] {
  const vsNginx = rangeRatio(results, 'c5.nginx');
  return [
    {
      target: `5. \`createSliceHandler()\` warm 4 KiB ranges: req/s ≥ ${CASE5_FLOOR} × nginx slice + proxy_cache`,
      measured: ratio(vsNginx),
      met: vsNginx >= CASE5_FLOOR,
    },
    ...CASE5_IDS.map((id) => {
      const errors = results.get(id)?.errors ?? Number.NaN;
      return {
        target: `5. ${RANGE_LABELS[id]}: no socket error or status ≥ 400 under load`,
        measured: String(errors),
        met: errors === 0,
      };
    }),
  ];
}

/** The requests-per-second ratio of `createSliceHandler()` to `peer` (for the chart). */
export function rangeRatio(results: ReadonlyMap<string, RangeSamples>, peer: 'c5.nginx' | 'c5.bare'): number {
  return median(results.get('c5.handler')?.rps ?? []) / median(results.get(peer)?.rps ?? []);
}

// ---------------------------------------------------------------------------------------------------------

/** Microseconds as `1.23 ms`, or `n/a`. */
function latencyCell(us: number): string {
  return Number.isFinite(us) ? `${(us / 1000).toFixed(2)} ms` : 'n/a';
}
