/**
 * The client's `Range` field (RFC 9110 §14.1): parsed into specs, resolved against an object size into
 * sorted, coalesced intervals (R10), and formatted for the sub-requests a fetcher sends. One pass over the
 * characters with the shared scanner of range-syntax.ts, no regular expressions, so a hostile header costs
 * linear time. Offsets are parsed digit by digit and never rounded: a value above 2^53 − 1 becomes
 * `Infinity`, which resolves exactly (a first-pos past any size, a last-pos to the end). The origin's
 * `Content-Range` is content-range.ts.
 *
 * @module
 */
import { SliceFetchError } from './errors.js';
import {
  checkOffset,
  checkRange,
  compareDigits,
  DASH,
  digitsValue,
  isBytesUnit,
  scanDigits,
  trimEnd,
  trimStart,
} from './range-syntax.js';

/** An inclusive byte interval `[start, end]` of an object. */
export interface ByteRange {
  /** First byte offset. */
  readonly start: number;
  /** Last byte offset, inclusive. */
  readonly end: number;
}

/** One range-spec as written by the client (RFC 9110 §14.1.1). Offsets above 2^53 − 1 are `Infinity`. */
export type RangeSpec =
  | {
      /** First byte (`a` of `a-b` or `a-`). */
      readonly first: number;
      /** Last byte, inclusive; absent for `a-` (to the end). */
      readonly last?: number;
    }
  | {
      /** `n` of `-n`: the last n bytes. */
      readonly suffix: number;
    };

/** A client `Range` field, parsed but not yet resolved against a size. */
export type ParsedRange =
  | {
      /** No `Range` field. */
      readonly type: 'absent';
    }
  | {
      /** A field RFC 9110 §14.2 lets a server ignore: the whole representation is served. */
      readonly type: 'ignored';
      /** Why it was ignored. */
      readonly reason: string;
    }
  | {
      /** A valid range set. */
      readonly type: 'specs';
      /** Its range-specs, in the order written. */
      readonly specs: readonly RangeSpec[];
    };

/** Options of {@link parseRange}. */
export interface ParseRangeOptions {
  /**
   * Longest field value parsed, in characters; a longer one is ignored (the client gets a full 200), which
   * bounds the work a hostile header can cause (R15).
   * @default 8192 (8 KiB: the cap the engine and the handler answer 400 above)
   */
  readonly maxLength?: number;
}

/** A client `Range` resolved against the object size. */
export type ResolvedRange =
  | {
      /** No `Range` field: the whole representation. */
      readonly type: 'absent';
    }
  | {
      /** Ignored (malformed, or more ranges than allowed): the whole representation. */
      readonly type: 'ignored';
      /** Why it was ignored. */
      readonly reason: string;
    }
  | {
      /** At least one range lies in the representation: a 206. */
      readonly type: 'satisfiable';
      /** The ranges to send, merged, in the order asked. */
      readonly ranges: readonly ByteRange[];
    }
  | {
      /** No range lies in it: a 416. */
      readonly type: 'unsatisfiable';
    };

/** Options of {@link resolveRange}. */
export interface ResolveRangeOptions {
  /**
   * Most ranges served after coalescing; a request for more is ignored (full 200), RFC 9110 §14.2.
   * @default 16
   */
  readonly maxRanges?: number;
}

/**
 * The longest `Range` field value slice-fetch reads, in characters: the engine answers a longer one with
 * `ERR_SLICE_RANGE` (400) and so does the handler, whichever door it came through. 8 KiB is the line length
 * nginx accepts by default; no sane client sends more.
 */
export const MAX_RANGE_FIELD_LENGTH = 8192;

/**
 * Parses a client `Range` field (RFC 9110 §14.1.1): unit `bytes` (any case), no whitespace around `=`,
 * list whitespace and empty elements around commas (§5.6.1.2). Anything else — another unit, a sign, an
 * inverted `17-13`, two `Range` fields, a field longer than `maxLength` — is `ignored`: §14.2 lets a server
 * serve the whole representation instead.
 *
 * @example
 * ```ts
 * parseRange('bytes=0-99,200-,-5');
 * // { type: 'specs', specs: [{ first: 0, last: 99 }, { first: 200 }, { suffix: 5 }] }
 * parseRange('bytes=17-13'); // { type: 'ignored', reason: 'last-pos is below first-pos at offset 6' }
 * ```
 */
export function parseRange(
  header: string | readonly string[] | undefined | null,
  options?: ParseRangeOptions,
): ParsedRange {
  if (header === undefined || header === null) return ABSENT;
  let value: string;
  if (typeof header === 'string') value = header;
  else if (header.length === 0) return ABSENT;
  else if (header.length > 1) return ignored('more than one Range field');
  else value = header[0] as string;
  const maxLength = options?.maxLength ?? DEFAULT_MAX_LENGTH;
  if (value.length > maxLength) return ignored(`Range field longer than ${maxLength} characters`);
  // RFC 9110 §5.5: whitespace around a field value is not part of it.
  const end = trimEnd(value, value.length);
  const start = trimStart(value, 0, end);
  if (!isBytesUnit(value, start, end) || value.charCodeAt(start + 5) !== EQUALS) {
    return ignored('range unit is not "bytes=" (RFC 9110 §14.1.1)');
  }
  return parseRangeSet(value, start + 6, end);
}

/**
 * Resolves parsed specs against an object of `size` bytes (RFC 9110 §14.1.2): ends past the end clamp,
 * `a-` runs to the end, `-n` is the last n bytes, a first-pos at or past the end and `-0` are unsatisfiable,
 * and on a 0-byte object every spec is. Overlapping and adjacent ranges are merged; the satisfiable ranges come
 * back in the order they were asked for (a merged one where its first member stood, RFC 9110 §15.3.7.2); more
 * than `maxRanges` of them is `ignored`. `absent` and `ignored` pass through.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` when `size` or a spec offset is not a non-negative integer.
 * @example
 * ```ts
 * resolveRange(parseRange('bytes=500-,0-99,90-199'), 1000);
 * // { type: 'satisfiable', ranges: [{ start: 500, end: 999 }, { start: 0, end: 199 }] }
 * ```
 */
export function resolveRange(
  parsed: ParsedRange,
  size: number,
  options?: ResolveRangeOptions,
): ResolvedRange {
  checkOffset('size', size);
  if (parsed.type !== 'specs') return parsed;
  const ranges: ByteRange[] = [];
  for (const spec of parsed.specs) {
    const range = resolveSpec(spec, size);
    if (range !== undefined) ranges.push(range);
  }
  if (ranges.length === 0) return UNSATISFIABLE;
  const merged = ranges.length === 1 ? ranges : coalesce(ranges);
  const maxRanges = options?.maxRanges ?? DEFAULT_MAX_RANGES;
  if (merged.length > maxRanges) {
    return ignored(`${merged.length} ranges after coalescing exceed the cap of ${maxRanges} (maxRanges)`);
  }
  return { type: 'satisfiable', ranges: merged };
}

/**
 * {@link parseRange} then {@link resolveRange}.
 *
 * @example
 * ```ts
 * resolveRangeHeader('bytes=-500', 10_000); // { type: 'satisfiable', ranges: [{ start: 9500, end: 9999 }] }
 * resolveRangeHeader('bytes=10000-', 10_000); // { type: 'unsatisfiable' }
 * ```
 */
export function resolveRangeHeader(
  header: string | readonly string[] | undefined | null,
  size: number,
  options?: ParseRangeOptions & ResolveRangeOptions,
): ResolvedRange {
  return resolveRange(parseRange(header, options), size, options);
}

/**
 * Formats specs or byte ranges as a `Range` field value.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` for an empty list, an offset that is not a non-negative safe
 * integer (so `Infinity` is never written), or an inverted range.
 * @example
 * ```ts
 * formatRange([{ first: 0, last: 99 }, { first: 200 }, { suffix: 5 }]); // 'bytes=0-99,200-,-5'
 * formatRange([{ start: 0, end: 1_048_575 }]); // 'bytes=0-1048575'
 * ```
 */
export function formatRange(specs: readonly (RangeSpec | ByteRange)[]): string {
  if (specs.length === 0)
    throw new SliceFetchError('ERR_SLICE_RANGE', 'Expected at least one range, got none.');
  let out = 'bytes=';
  for (let k = 0; k < specs.length; k++) {
    if (k > 0) out += ',';
    out += formatSpec(specs[k] as RangeSpec | ByteRange);
  }
  return out;
}

/**
 * The number of bytes in an inclusive range.
 *
 * @example
 * ```ts
 * rangeLength({ start: 0, end: 99 }); // 100
 * ```
 */
export function rangeLength(range: ByteRange): number {
  return range.end - range.start + 1;
}

// ---------------------------------------------------------------------------------------------------------

const DEFAULT_MAX_LENGTH = MAX_RANGE_FIELD_LENGTH;
const DEFAULT_MAX_RANGES = 16;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const MALFORMED = -1;
const INVERTED = -2;

const ABSENT: ParsedRange = Object.freeze({ type: 'absent' });
const UNSATISFIABLE: ResolvedRange = Object.freeze({ type: 'unsatisfiable' });

function ignored(reason: string): { readonly type: 'ignored'; readonly reason: string } {
  return { type: 'ignored', reason };
}

/** `range-set` with the recipient's list rule (RFC 9110 §5.6.1.2): `*( "," OWS ) spec *( OWS "," [ OWS spec ] )`. */
function parseRangeSet(s: string, from: number, end: number): ParsedRange {
  const specs: RangeSpec[] = [];
  let i = from;
  while (s.charCodeAt(i) === COMMA && i < end) i = trimStart(s, i + 1, end);
  for (;;) {
    const next = parseSpec(s, i, end, specs);
    if (next === INVERTED) return ignored(`last-pos is below first-pos at offset ${i}`);
    if (next === MALFORMED) return ignored(`malformed range-spec at offset ${i}`);
    i = trimStart(s, next, end);
    if (i === end) return { type: 'specs', specs };
    if (s.charCodeAt(i) !== COMMA) return ignored(`expected "," at offset ${i}`);
    do i = trimStart(s, i + 1, end);
    while (s.charCodeAt(i) === COMMA && i < end);
    if (i === end) return { type: 'specs', specs };
  }
}

/** One `int-range` or `suffix-range` at `i`; pushes it and returns the index after it, or a failure code. */
function parseSpec(s: string, i: number, end: number, specs: RangeSpec[]): number {
  if (s.charCodeAt(i) === DASH && i < end) {
    const to = scanDigits(s, i + 1, end);
    if (to === i + 1) return MALFORMED;
    specs.push({ suffix: digitsValue(s, i + 1, to) });
    return to;
  }
  const firstEnd = scanDigits(s, i, end);
  if (firstEnd === i || firstEnd === end || s.charCodeAt(firstEnd) !== DASH) return MALFORMED;
  const first = digitsValue(s, i, firstEnd);
  const lastEnd = scanDigits(s, firstEnd + 1, end);
  if (lastEnd === firstEnd + 1) {
    specs.push({ first });
    return lastEnd;
  }
  const last = digitsValue(s, firstEnd + 1, lastEnd);
  // RFC 9110 §14.1.1: an int-range with last-pos below first-pos is invalid, and so is the whole field.
  // Two offsets past 2^53 − 1 are both Infinity, so those are compared as digit strings.
  if (last < first || (last === Infinity && compareDigits(s, i, firstEnd, firstEnd + 1, lastEnd) > 0)) {
    return INVERTED;
  }
  specs.push({ first, last });
  return lastEnd;
}

function resolveSpec(spec: RangeSpec, size: number): ByteRange | undefined {
  if ('suffix' in spec) {
    checkSpecOffset('suffix', spec.suffix);
    // §14.1.2: a suffix longer than the representation selects all of it; `-0` selects nothing.
    if (spec.suffix === 0 || size === 0) return undefined;
    return { start: spec.suffix >= size ? 0 : size - spec.suffix, end: size - 1 };
  }
  checkSpecOffset('first', spec.first);
  if (spec.last !== undefined) {
    checkSpecOffset('last', spec.last);
    if (spec.last < spec.first) {
      throw new SliceFetchError(
        'ERR_SLICE_RANGE',
        `Expected last >= first, got \`${spec.first}-${spec.last}\`.`,
      );
    }
  }
  // RFC 9110 §14.1.1 calls a suffix range satisfiable on a 0-byte representation, but no Content-Range can
  // describe zero bytes, so size 0 is unsatisfiable for every spec (the first-pos check covers int-ranges).
  if (spec.first >= size) return undefined;
  const end = spec.last === undefined || spec.last >= size ? size - 1 : spec.last;
  return { start: spec.first, end };
}

/** Sorts in place and merges overlapping or adjacent ranges (RFC 9110 §14.2 lets a server coalesce). */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  // Merge by start, remembering where each merged range first appeared in the request.
  const order = ranges.map((range, at) => ({ range, at })).sort((a, b) => a.range.start - b.range.start);
  const merged: { range: ByteRange; at: number }[] = [];
  let current = order[0] as { range: ByteRange; at: number };
  for (let k = 1; k < order.length; k++) {
    const next = order[k] as { range: ByteRange; at: number };
    if (next.range.start <= current.range.end + 1) {
      const end = Math.max(current.range.end, next.range.end);
      current = { range: { start: current.range.start, end }, at: Math.min(current.at, next.at) };
    } else {
      merged.push(current);
      current = next;
    }
  }
  merged.push(current);
  // RFC 9110 §15.3.7.2: parts come in the order their ranges were asked for.
  return merged.sort((a, b) => a.at - b.at).map((entry) => entry.range);
}

function formatSpec(spec: RangeSpec | ByteRange): string {
  if ('start' in spec) {
    checkRange(spec.start, spec.end);
    return `${spec.start}-${spec.end}`;
  }
  if ('suffix' in spec) {
    checkOffset('suffix', spec.suffix);
    return `-${spec.suffix}`;
  }
  if (spec.last === undefined) {
    checkOffset('first', spec.first);
    return `${spec.first}-`;
  }
  checkRange(spec.first, spec.last);
  return `${spec.first}-${spec.last}`;
}

/** Spec offsets may also be `Infinity`: that is how {@link parseRange} writes a value above 2^53 − 1. */
function checkSpecOffset(name: string, value: number): void {
  if (value !== Infinity) checkOffset(name, value);
}
