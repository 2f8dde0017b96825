/**
 * The options of slice-fetch: one table of defaults, bounds and descriptions from which the zod schema, the
 * error sentences and {@link describeConfig} (the README reference) are all derived, so they never disagree
 * (R1, P1). Options are validated once, when a fetcher or handler is created; internals take only the
 * resolved {@link SliceFetchConfig}. The option types themselves are in config-types.ts.
 *
 * @module
 */
import * as z from 'zod/mini';
import type { ConfigOptionDoc, SliceFetchConfig } from './config-types.js';
import { SliceFetchError } from './errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** THE table: every option's default, bounds and description. Everything else is derived from it. */
const OPTIONS = {
  sliceSize: int(MiB, 64 * KiB, 64 * MiB, 'Bytes per slice; slices are aligned to multiples of it.'),
  concurrency: int(8, 1, 64, 'In-flight sub-requests per response (window = concurrency × sliceSize).'),
  originConnections: int(16, 1, 1024, 'In-flight sub-requests per origin, across all responses.'),
  maxBufferedBytes: int(
    128 * MiB,
    MiB,
    64 * GiB,
    'Slice bytes held in memory by all responses (and again by store writes in flight); ≥ sliceSize.',
  ),
  maxRanges: int(16, 1, 1000, 'Ranges served as multipart/byteranges; more get a full 200.'),
  maxObjectSize: int(Number.MAX_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER, 'Larger objects are refused.'),
  coalesce: oneOf(['cancel', 'complete'], 'cancel', 'What a shared fill does when its last waiter leaves.'),
  'retry.retries': int(3, 0, 20, 'Retries after the first attempt of a slice.'),
  'retry.baseDelayMs': int(100, 0, 60_000, 'Backoff cap of the first retry, doubled per retry.'),
  'retry.maxDelayMs': int(5000, 0, 600_000, 'Largest backoff cap; Retry-After may ask for more.'),
  'retry.deadlineMs': int(60_000, 100, 3_600_000, 'No retry of a slice starts later than this.'),
  'timeouts.headersMs': int(15_000, 100, 600_000, 'Wait for the origin response headers.'),
  'timeouts.bodyMs': int(30_000, 100, 600_000, 'Idle time allowed between two body chunks.'),
  'timeouts.cacheMs': int(2000, 1, 60_000, 'A slower cache operation counts as a miss.'),
  'timeouts.coalesceMs': int(30_000, 100, 600_000, "A waiter on another request's fill then fetches itself."),
  'timeouts.sliceMs': int(
    60_000,
    100,
    3_600_000,
    'One attempt of one slice (head and body) is abandoned after this.',
  ),
  'cachePolicy.defaultTtlMs': int(
    300_000,
    0,
    YEAR_MS,
    'Freshness when the origin sends no max-age/s-maxage.',
  ),
  'cachePolicy.maxTtlMs': int(7 * 24 * 3600 * 1000, 0, YEAR_MS, 'Freshness never exceeds this.'),
  'cachePolicy.honorCacheControl': bool(
    true,
    "Honour the origin's Cache-Control (no-store, private, max-age).",
  ),
  'cachePolicy.cacheAuthorized': bool(false, 'Cache responses to requests carrying Authorization or Cookie.'),
} as const;

type OptionPath = keyof typeof OPTIONS;

/**
 * The zod schema of {@link SliceFetchConfigInput} → {@link SliceFetchConfig}: strict objects (unknown keys
 * are errors), defaults applied, integer bounds enforced, `maxBufferedBytes ≥ sliceSize` checked. The YAML
 * loader reuses it; `z.safeExtend()` keeps the cross-field check. Prefer {@link parseConfig}, which words errors.
 *
 * @example
 * ```ts
 * const result = sliceFetchConfigSchema.safeParse({ sliceSize: 2 * 1024 * 1024 });
 * if (result.success) console.log(result.data.concurrency); // 8
 * ```
 */
export const sliceFetchConfigSchema = z
  .strictObject({
    sliceSize: intSchema('sliceSize'),
    concurrency: intSchema('concurrency'),
    originConnections: intSchema('originConnections'),
    maxBufferedBytes: intSchema('maxBufferedBytes'),
    maxRanges: intSchema('maxRanges'),
    maxObjectSize: intSchema('maxObjectSize'),
    coalesce: z._default(z.enum(OPTIONS.coalesce.values), OPTIONS.coalesce.default),
    // prefault, not default: the empty object is parsed, so the inner defaults apply
    retry: z.prefault(
      z.strictObject({
        retries: intSchema('retry.retries'),
        baseDelayMs: intSchema('retry.baseDelayMs'),
        maxDelayMs: intSchema('retry.maxDelayMs'),
        deadlineMs: intSchema('retry.deadlineMs'),
      }),
      {},
    ),
    timeouts: z.prefault(
      z.strictObject({
        headersMs: intSchema('timeouts.headersMs'),
        bodyMs: intSchema('timeouts.bodyMs'),
        cacheMs: intSchema('timeouts.cacheMs'),
        coalesceMs: intSchema('timeouts.coalesceMs'),
        sliceMs: intSchema('timeouts.sliceMs'),
      }),
      {},
    ),
    cachePolicy: z.prefault(
      z.strictObject({
        defaultTtlMs: intSchema('cachePolicy.defaultTtlMs'),
        maxTtlMs: intSchema('cachePolicy.maxTtlMs'),
        honorCacheControl: z._default(z.boolean(), OPTIONS['cachePolicy.honorCacheControl'].default),
        cacheAuthorized: z._default(z.boolean(), OPTIONS['cachePolicy.cacheAuthorized'].default),
      }),
      {},
    ),
  })
  .check(
    z.superRefine((value, ctx) => {
      // The check runs even when other fields failed; only compare two values that are valid on their own.
      const { sliceSize, maxBufferedBytes } = value;
      if (inBounds('sliceSize', sliceSize) && inBounds('maxBufferedBytes', maxBufferedBytes)) {
        if (maxBufferedBytes < sliceSize) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxBufferedBytes'],
            message: `Expected \`maxBufferedBytes\` to be at least \`sliceSize\` (${sliceSize}), got \`${maxBufferedBytes}\`.`,
          });
        }
      }
    }),
  );

/**
 * Validates options and fills in defaults. Throws `ERR_SLICE_CONFIG` naming every bad path, one sentence
 * each, with `details.paths` listing them. `undefined` means "all defaults".
 *
 * @example
 * ```ts
 * parseConfig({ sliceSize: 0 });
 * // SliceFetchError: Invalid slice-fetch configuration:
 * // Expected `sliceSize` to be an integer between 65536 and 67108864, got `0`.
 * ```
 */
export function parseConfig(input: unknown): SliceFetchConfig {
  const result = sliceFetchConfigSchema.safeParse(input === undefined ? {} : input);
  if (result.success) return deepFreeze(result.data);
  const paths: string[] = [];
  const sentences: string[] = [];
  for (const issue of result.error.issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...base, key].join('.');
        add(path, `Unknown option \`${path}\`.`);
      }
    } else if (issue.code === 'custom') {
      add(base.join('.'), issue.message);
    } else {
      add(base.join('.'), sentenceFor(base.join('.'), valueAt(input, base), issue.message));
    }
  }
  const message = `Invalid slice-fetch configuration:\n${sentences.join('\n')}`;
  throw new SliceFetchError('ERR_SLICE_CONFIG', message, { paths });

  function add(path: string, sentence: string): void {
    if (paths.includes(path)) return; // one sentence per bad path, the first issue says it best
    paths.push(path);
    sentences.push(sentence);
  }
}

/**
 * Every option with its type, default, bounds and description, in schema order — the source of the README's
 * configuration reference (a test compares them).
 *
 * @example
 * ```ts
 * for (const o of describeConfig()) console.log(`${o.path}: ${o.type} = ${String(o.default)}`);
 * ```
 */
export function describeConfig(): readonly ConfigOptionDoc[] {
  return DOCS;
}

/**
 * The configuration with every default.
 *
 * @example
 * ```ts
 * DEFAULT_CONFIG.sliceSize; // 1048576
 * ```
 */
export const DEFAULT_CONFIG: SliceFetchConfig = parseConfig({});

// ---------------------------------------------------------------------------------------------------------

interface IntOption {
  readonly kind: 'integer';
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly description: string;
}
interface BoolOption {
  readonly kind: 'boolean';
  readonly default: boolean;
  readonly description: string;
}
interface EnumOption<T extends string> {
  readonly kind: 'enum';
  readonly values: readonly [T, ...T[]];
  readonly default: T;
  readonly description: string;
}
type AnyOption = IntOption | BoolOption | EnumOption<string>;

function int(def: number, min: number, max: number, description: string): IntOption {
  return { kind: 'integer', default: def, min, max, description };
}
function bool(def: boolean, description: string): BoolOption {
  return { kind: 'boolean', default: def, description };
}
function oneOf<const T extends string>(
  values: readonly [T, ...T[]],
  def: T,
  description: string,
): EnumOption<T> {
  return { kind: 'enum', values, default: def, description };
}

function intSchema(path: OptionPath) {
  const o = OPTIONS[path] as IntOption;
  return z._default(z.int().check(z.minimum(o.min), z.maximum(o.max)), o.default);
}

function inBounds(path: OptionPath, value: unknown): value is number {
  const o = OPTIONS[path] as IntOption;
  return Number.isSafeInteger(value) && (value as number) >= o.min && (value as number) <= o.max;
}

function sentenceFor(path: string, value: unknown, fallback: string): string {
  const option = (OPTIONS as Readonly<Record<string, AnyOption>>)[path];
  if (option === undefined) {
    // A group (`retry`) or the whole input that is not an object.
    const what = path === '' ? 'the configuration' : `\`${path}\``;
    return isPlainObjectLike(value)
      ? `Invalid ${what}: ${fallback}.`
      : `Expected ${what} to be an object, got ${got(value)}.`;
  }
  switch (option.kind) {
    case 'integer':
      return `Expected \`${path}\` to be an integer between ${option.min} and ${option.max}, got ${got(value)}.`;
    case 'boolean':
      return `Expected \`${path}\` to be a boolean, got ${got(value)}.`;
    case 'enum':
      // A string is the right type here, so it is shown bare (`x`) unless quoting keeps the message on one line.
      return `Expected \`${path}\` to be one of ${option.values.map((v) => `\`${v}\``).join(', ')}, got ${
        typeof value === 'string' && PRINTABLE.test(value) ? `\`${value}\`` : got(value)
      }.`;
  }
}

/** The offending value in backticks; strings quoted so `"5"` is told apart from `5`. */
function got(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (typeof value === 'function' || typeof value === 'symbol') text = typeof value;
  else if (typeof value === 'object' && value !== null) text = safeJson(value);
  else text = String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\``;
}

/** Short printable ASCII. */
const PRINTABLE = /^[\x20-\x7e]{0,60}$/;

function safeJson(value: object): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? 'array' : 'object';
  }
}

function isPlainObjectLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(input: unknown, path: readonly string[]): unknown {
  let value = input;
  for (const key of path) {
    if (!isPlainObjectLike(value) || !Object.hasOwn(value as object, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null) deepFreeze(v);
  return Object.freeze(value);
}

const DOCS: readonly ConfigOptionDoc[] = Object.freeze(
  Object.entries(OPTIONS as Readonly<Record<string, AnyOption>>).map(([path, o]): ConfigOptionDoc => {
    if (o.kind === 'integer') {
      return Object.freeze({
        path,
        type: 'integer',
        default: o.default,
        min: o.min,
        max: o.max,
        description: o.description,
      });
    }
    const type = o.kind === 'boolean' ? 'boolean' : o.values.map((v) => `'${v}'`).join(' | ');
    return Object.freeze({ path, type, default: o.default, description: o.description });
  }),
);
