/**
 * Case 7's Markdown table and its verdict (the issue's floor: the handler at 2.5× nginx's cold throughput).
 *
 * @module
 */
import { bestMs, medianMs, ratio, type Samples, table, type Verdict } from '../report.js';
import { versusRow } from '../stores/tables.js';
import { CASE7_IDS, HANDLER_COLD_LABELS } from './variants.js';

/** The floor: `createSliceHandler()` cold ÷ nginx slice + proxy_cache cold, throughput. */
export const HANDLER_COLD_FLOOR = 2.5;

/**
 * The case-7 table in Markdown.
 *
 * @example
 * ```ts
 * console.log(handlerColdTable(results));
 * ```
 */
export function handlerColdTable(results: ReadonlyMap<string, Samples>): string {
  const rows = CASE7_IDS.map((id) => versusRow(results, HANDLER_COLD_LABELS[id], id, 'c7.nginx.cold'));
  return [
    '### Case 7 — cold 1 GiB through `createSliceHandler()` vs nginx slice + proxy_cache cold, each read by curl',
    '',
    "`createSliceHandler()` in `node:http` (case 5's server: 1 MiB slices, concurrency 8, `highWaterMark: 1 MiB`),",
    "upstream the origin's `/fast/`, a fresh process per pass (every response a `MISS`), with `memoryStorage({",
    'maxBytes: 1.5 GiB })`, which takes the object (its first and last bytes are store hits afterwards, checked), and',
    "with case 5's 256 MiB, which does not (the handler stores no slice of a response larger than its store). nginx:",
    "case 4's slice cache on a key it has never seen (`?c7-cold=<round>`, every slice written to its disk cache). All",
    "read by `curl -o /dev/null`, back to back after a `sync`, a different one first each round; time is curl's",
    "`time_total`. CPU is the server's over the transfer (nginx: the cache's worker; the origin's is not counted);",
    "peak RSS is the handler process's `VmHWM`, and for nginx its worker's since it started. The verdict is on the",
    "first row (a cold fill, like nginx's).",
    '',
    table(
      [
        'server',
        'time: median (min–max)',
        'throughput',
        'throughput ÷ nginx cold',
        'best ÷ best',
        'server CPU',
        'server peak RSS',
      ],
      rows,
    ),
  ].join('\n');
}

/**
 * Case 7's verdict: the handler's cold throughput, filling a store that takes the object, at least
 * {@link HANDLER_COLD_FLOOR} × nginx's.
 *
 * @example
 * ```ts
 * handlerColdVerdicts(results).every((v) => v.met);
 * ```
 */
export function handlerColdVerdicts(results: ReadonlyMap<string, Samples>): Verdict[] {
  const median = medianMs(results, 'c7.nginx.cold') / medianMs(results, 'c7.handler.cold');
  const best = bestMs(results, 'c7.nginx.cold') / bestMs(results, 'c7.handler.cold');
  return [
    {
      target: `7. \`createSliceHandler()\` cold 1 GiB: throughput ≥ ${HANDLER_COLD_FLOOR} × nginx slice + proxy_cache cold (both read by curl)`,
      measured: `${ratio(median)} (best ÷ best ${ratio(best)})`,
      met: median >= HANDLER_COLD_FLOOR,
    },
  ];
}

/**
 * The handler's cold throughput ÷ nginx's (for the chart).
 *
 * @example
 * ```ts
 * handlerColdRatio(results); // 2.7
 * ```
 */
export function handlerColdRatio(results: ReadonlyMap<string, Samples>): number {
  return medianMs(results, 'c7.nginx.cold') / medianMs(results, 'c7.handler.cold');
}
