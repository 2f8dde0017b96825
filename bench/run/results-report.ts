/**
 * The Markdown report of `npm run bench`: the machine, every selected case's table and the verdicts (in case
 * order: 1–3, 4, 5, 6, 7).
 *
 * @module
 */
import { fetchBodyTable, resultTables } from '../cases/tables.js';
import { fetchBodyVerdicts, verdicts } from '../cases/verdicts.js';
import { handlerColdTable, handlerColdVerdicts } from '../handler-cold/tables.js';
import { machine, wrkVersion } from '../machine.js';
import { TUNED_MALLOC_ENV } from '../processes.js';
import { type Samples, type Verdict, verdictTable } from '../report.js';
import { rangeTable, rangeVerdicts } from '../small-ranges/tables.js';
import type { RangeSamples, RangeServers } from '../small-ranges/targets.js';
import { storeProxyTable, storeTable, storeVerdicts } from '../stores/tables.js';
import type { BenchOptions } from './options.js';

/**
 * The report's lines (up to the verdict table) and the verdicts of the cases run.
 *
 * @example
 * ```ts
 * const { lines, verdicts } = await resultsReport(options, results, rangeResults, rangeServers);
 * ```
 */
export async function resultsReport(
  options: BenchOptions,
  results: ReadonlyMap<string, Samples>,
  rangeResults: ReadonlyMap<string, RangeSamples>,
  rangeServers: RangeServers | undefined,
): Promise<{ lines: string[]; verdicts: Verdict[] }> {
  const { withCases123, withCase4, withCase5, withCase6, withCase7 } = options;
  const list: Verdict[] = [
    ...(withCases123 ? verdicts(results) : []),
    ...(withCase4 ? storeVerdicts(results) : []),
    ...(rangeServers !== undefined ? rangeVerdicts(rangeResults) : []),
    // Case 6's rows are measured by cases 1–3 too (case 2's `fetch()` rows): their verdict comes with them.
    ...(withCase6 || withCases123 ? fetchBodyVerdicts(results) : []),
    ...(withCase7 ? handlerColdVerdicts(results) : []),
  ];
  const lines = [
    `## Results (median of ${options.runs} runs)`,
    '',
    await machine(withCase5 ? [['wrk', await wrkVersion()]] : []),
    '',
    options.glibcTuned
      ? `Every Node client ran with ${Object.entries(TUNED_MALLOC_ENV)
          .map(([name, value]) => `\`${name}=${value}\``)
          .join(' ')} (\`--glibc-tuned\`); aria2c and nginx ran as usual.\n`
      : 'Every client ran with its allocator defaults (see `--glibc-tuned`).\n',
    ...(withCases123 ? [resultTables(results), ''] : []),
    ...(withCase4 ? [storeTable(results), '', storeProxyTable(results), ''] : []),
    ...(rangeServers !== undefined ? [rangeTable(rangeResults, rangeServers.env), ''] : []),
    ...(withCase6 ? [fetchBodyTable(results), ''] : []),
    ...(withCase7 ? [handlerColdTable(results), ''] : []),
    '### Verdicts',
    '',
    verdictTable(list),
  ];
  return { lines, verdicts: list };
}
