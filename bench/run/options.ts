/**
 * The command-line flags of `npm run bench` (bench/run.ts), checked.
 *
 * @module
 */
import { parseArgs } from 'node:util';

/** The flags of `npm run bench`, checked, with the cases they select. */
export interface BenchOptions {
  /** `--runs`: rounds per case (medians are over them). */
  readonly runs: number;
  readonly profile: boolean;
  readonly json: string | undefined;
  readonly keep: boolean;
  /** `--range-seconds`: wrk's `-d` in case 5. */
  readonly rangeSeconds: number;
  readonly glibcTuned: boolean;
  readonly chartDir: string | undefined;
  readonly noChart: boolean;
  /** Cases 1–3 share their rounds: any of them in `--only` runs all three. */
  readonly withCases123: boolean;
  readonly withCase4: boolean;
  readonly withCase5: boolean;
  readonly withCase6: boolean;
  readonly withCase7: boolean;
  /** Case 8: the disk store at edge scale (`bench:disk` with a million entries). */
  readonly withCase8: boolean;
}

/**
 * Parses and checks `process.argv`; throws on an unknown flag or a bad value.
 *
 * @example
 * ```ts
 * const options = parseBenchOptions(); // npm run bench -- --only 5 --runs 1
 * ```
 */
export function parseBenchOptions(): BenchOptions {
  const { values: args } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      profile: { type: 'boolean', default: false },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      only: { type: 'string', default: '1,2,3,4,5,6,7,8' },
      'range-seconds': { type: 'string', default: '10' },
      'glibc-tuned': { type: 'boolean', default: false },
      'chart-dir': { type: 'string' },
      'no-chart': { type: 'boolean', default: false },
    },
  });
  const only = new Set(args.only.split(',').map((c) => c.trim()));
  if (only.size === 0 || [...only].some((c) => !['1', '2', '3', '4', '5', '6', '7', '8'].includes(c)))
    throw new Error(`Expected \`--only\` to list cases 1–8 (e.g. \`4\` or \`5,6\`), got \`${args.only}\`.`);
  const rangeSeconds = Number(args['range-seconds']);
  if (!Number.isInteger(rangeSeconds) || rangeSeconds < 1)
    throw new Error(
      `Expected \`--range-seconds\` to be a positive integer, got \`${args['range-seconds']}\`.`,
    );
  const runs = Number(args.runs);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`Expected \`--runs\` to be a positive integer, got \`${args.runs}\`.`);
  return {
    runs,
    profile: args.profile,
    json: args.json,
    keep: args.keep,
    rangeSeconds,
    glibcTuned: args['glibc-tuned'],
    chartDir: args['chart-dir'],
    noChart: args['no-chart'],
    withCases123: only.has('1') || only.has('2') || only.has('3'),
    withCase4: only.has('4'),
    withCase5: only.has('5'),
    withCase6: only.has('6'),
    withCase7: only.has('7'),
    withCase8: only.has('8'),
  };
}
