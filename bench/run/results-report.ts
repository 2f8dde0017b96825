/**
 * The Markdown report of `npm run bench`: the machine, every selected case's table and the verdicts.
 *
 * @module
 */
import { fetchBodyTable, resultTables } from '../cases/tables.js';
import { fetchBodyVerdicts, verdicts } from '../cases/verdicts.js';
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
  const { withCases123, withCase4, withCase5, withCase6 } = options;
  const list: Verdict[] = [
    ...(withCases123 ? verdicts(results) : withCase6 ? fetchBodyVerdicts(results) : []),
    ...(withCase4 ? storeVerdicts(results) : []),
    ...(rangeServers !== undefined ? rangeVerdicts(rangeResults) : []),
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
    '### Verdicts',
    '',
    verdictTable(list),
  ];
  return { lines, verdicts: list };
}
