/**
 * The command-line flags of `npm run bench:soak` (bench/soak.ts), checked, and the per-round numbers they give.
 *
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../paths.js';

/**
 * Parses and checks `process.argv`; throws on an unknown flag or a bad value. `args` is the flags as given (with
 * defaults), which the JSON output records.
 *
 * @example
 * ```ts
 * const options = parseSoakOptions(); // npm run bench:soak -- --rounds 3 --requests 5000
 * ```
 */
export function parseSoakOptions() {
  const { values: args } = parseArgs({
    options: {
      rounds: { type: 'string', default: '10' },
      requests: { type: 'string', default: '100000' },
      connections: { type: 'string', default: '32' },
      threads: { type: 'string', default: '2' },
      'cache-size': { type: 'string', default: '256MiB' },
      'flat-mb': { type: 'string', default: '4' },
      'round-timeout': { type: 'string', default: '1800' },
      'head-share': { type: 'string', default: '0.1' },
      'cold-share': { type: 'string', default: '0.01' },
      'cold-keys': { type: 'string', default: '500' },
      'cold-object': { type: 'string' },
      'heap-snapshots': { type: 'boolean', default: false },
      proxy: { type: 'string', default: join(REPO_ROOT, 'dist', 'cli', 'slice-proxy.js') },
      build: { type: 'boolean', default: false },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const positiveInt = (name: keyof typeof args): number => {
    const value = Number(args[name]);
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`Expected \`--${name}\` to be a positive integer, got \`${String(args[name])}\`.`);
    return value;
  };
  const rounds = positiveInt('rounds');
  const requestsPerRound = positiveInt('requests');
  const connections = positiveInt('connections');
  const threads = positiveInt('threads');
  const roundTimeout = positiveInt('round-timeout');
  const flatMB = Number(args['flat-mb']);
  if (!(flatMB > 0))
    throw new Error(`Expected \`--flat-mb\` to be a positive number, got \`${args['flat-mb']}\`.`);
  if (connections < threads) throw new Error('Expected `--connections` to be at least `--threads`.');
  const headShare = Number(args['head-share']);
  if (!(headShare >= 0 && headShare < 1))
    throw new Error(`Expected \`--head-share\` to be in [0, 1), got \`${args['head-share']}\`.`);
  const coldShare = Number(args['cold-share']);
  if (!(coldShare >= 0 && coldShare <= 1))
    throw new Error(`Expected \`--cold-share\` to be in [0, 1], got \`${args['cold-share']}\`.`);
  const coldKeys = Number(args['cold-keys']);
  if (!Number.isInteger(coldKeys) || coldKeys < 0)
    throw new Error(`Expected \`--cold-keys\` to be a non-negative integer, got \`${args['cold-keys']}\`.`);
  return {
    args,
    rounds,
    requestsPerRound,
    connections,
    threads,
    roundTimeout,
    flatMB,
    headShare,
    /** Per round: HEADs sent by this process (wrk cannot, wg/wrk#198), the rest by wrk. */
    headsPerRound: Math.round(requestsPerRound * headShare),
    coldShare,
    coldKeys,
  };
}

/** The checked flags of the soak. */
export type SoakOptions = ReturnType<typeof parseSoakOptions>;
