/**
 * The command-line flags of `npm run bench:disk` (bench/disk-scale.ts), checked.
 *
 * @module
 */
import { parseArgs } from 'node:util';

/** The flags of `npm run bench:disk`. */
export interface DiskScaleOptions {
  /** `--entries`: files in the store. */
  readonly entries: number;
  /** `--slice-bytes`: body bytes of every entry. */
  readonly sliceBytes: number;
  /** `--per-object`: entries per object (one metadata entry and the rest slices); 1 = one object per entry. */
  readonly perObject: number;
  /** `--samples`: timed `get`s after `ready`. */
  readonly samples: number;
  /** `--keep-dir`: fill (and keep) this directory instead of a temp dir that is removed at the end. */
  readonly keepDir: string | undefined;
  /** `--heap-snapshots`: V8 heap snapshots before and after, in the work dir (use with `--keep-dir`). */
  readonly heapSnapshots: boolean;
}

/**
 * Parses and checks `process.argv`; throws on an unknown flag or a bad value.
 *
 * @example
 * ```ts
 * const options = parseDiskScaleOptions(); // npm run bench:disk -- --entries 200000
 * ```
 */
export function parseDiskScaleOptions(): DiskScaleOptions {
  const { values: args } = parseArgs({
    options: {
      entries: { type: 'string', default: '200000' },
      'slice-bytes': { type: 'string', default: '1024' },
      'per-object': { type: 'string', default: '8' },
      samples: { type: 'string', default: '2000' },
      'keep-dir': { type: 'string' },
      'heap-snapshots': { type: 'boolean', default: false },
    },
  });
  return {
    entries: positiveInteger('--entries', args.entries),
    sliceBytes: positiveInteger('--slice-bytes', args['slice-bytes']),
    perObject: positiveInteger('--per-object', args['per-object']),
    samples: positiveInteger('--samples', args.samples),
    keepDir: args['keep-dir'],
    heapSnapshots: args['heap-snapshots'],
  };
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`Expected \`${flag}\` to be a positive integer, got \`${text}\`.`);
  return value;
}
