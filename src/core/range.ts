/**
 * Byte ranges (RFC 9110 §14): the client's `Range` parsed into specs and resolved against an object size
 * into sorted, coalesced intervals (R10); the `Content-Range` values a proxy sends (P19, P20); and a strict
 * parser for an origin's `Content-Range` (R8). One pass over the characters, no regular expressions, so a
 * hostile header costs linear time. Offsets are parsed digit by digit and never rounded: a value above
 * 2^53 − 1 becomes `Infinity`, which resolves exactly (a first-pos past any size, a last-pos to the end).
 *
 * Over 400 lines on purpose: the client grammar, the origin grammar and the formatters share one digit
 * scanner and one unit check, and splitting the file would duplicate exactly the part that must be exact.
 *
 * @module
 */
import { SliceFetchError } from './errors.js';

/** An inclusive byte interval `[start, end]` of an object. */
export interface ByteRange {
  /** First byte offset. */
  readonly start: number;
  /** Last byte offset, inclusive. */
  readonly end: number;
}

/** One range-spec as written by the client (RFC 9110 §14.1.1). Offsets above 2^53 − 1 are `Infinity`. */
export type RangeSpec = { readonly first: number; readonly last?: number } | { readonly suffix: number };

/** A client `Range` field, parsed but not yet resolved against a size. */
export type ParsedRange =
  | { readonly type: 'absent' }
  | { readonly type: 'ignored'; readonly reason: string }
  | { readonly type: 'specs'; readonly specs: readonly RangeSpec[] };

/** Options of {@link parseRange}. */
export interface ParseRangeOptions {
  /**
   * Longest field value parsed, in characters; a longer one is ignored (the client gets a full 200), which
   * bounds the work a hostile header can cause (R15).
   * @default 8192 ({@link MAX_RANGE_FIELD_LENGTH})
   */
  readonly maxLength?: number;
}

/** A client `Range` resolved against the object size. */
export type ResolvedRange =
  | { readonly type: 'absent' }
  | { readonly type: 'ignored'; readonly reason: string }
  | { readonly type: 'satisfiable'; readonly ranges: readonly ByteRange[] }
  | { readonly type: 'unsatisfiable' };

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

/** An origin's `Content-Range`, parsed strictly. */
export type ContentRange =
  | { readonly kind: 'range'; readonly start: number; readonly end: number; readonly size: number }
  | { readonly kind: 'unsatisfied'; readonly size: number }
  | { readonly kind: 'invalid'; readonly reason: string };

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
 * and on a 0-byte object every spec is. Satisfiable ranges come back sorted with overlapping and adjacent
 * ones merged; more than `maxRanges` of them is `ignored`. `absent` and `ignored` pass through.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` when `size` or a spec offset is not a non-negative integer.
 * @example
 * ```ts
 * resolveRange(parseRange('bytes=500-,0-99,90-199'), 1000);
 * // { type: 'satisfiable', ranges: [{ start: 0, end: 199 }, { start: 500, end: 999 }] }
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
 * Formats the `Content-Range` of a 206 part (RFC 9110 §14.4).
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` unless `0 <= start <= end < size`, all safe integers.
 * @example
 * ```ts
 * formatContentRange({ start: 0, end: 99 }, 1000); // 'bytes 0-99/1000'
 * ```
 */
export function formatContentRange(range: ByteRange, size: number): string {
  checkRange(range.start, range.end);
  checkOffset('size', size);
  if (range.end >= size) {
    throw new SliceFetchError(
      'ERR_SLICE_RANGE',
      `Expected a range inside an object of ${size} bytes, got \`${range.start}-${range.end}\`.`,
      { range: `${range.start}-${range.end}` },
    );
  }
  return `bytes ${range.start}-${range.end}/${size}`;
}

/**
 * Formats the `Content-Range` of a 416 (RFC 9110 §15.5.17).
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` unless `size` is a non-negative safe integer.
 * @example
 * ```ts
 * formatUnsatisfiedRange(1000); // 'bytes *\/1000'
 * ```
 */
export function formatUnsatisfiedRange(size: number): string {
  checkOffset('size', size);
  return `bytes */${size}`;
}

/**
 * Parses an origin's `Content-Range` strictly (RFC 9110 §14.4): exactly one value, unit `bytes` (any case),
 * one space, `first-last/complete-length` in digits with `first <= last < complete-length`, or `*\/length`
 * (`unsatisfied`; callers decide whether it is acceptable). An unknown length (`/*`), an offset above
 * 2^53 − 1, or any other character is `invalid`: no byte of such a response can be placed safely.
 *
 * @example
 * ```ts
 * parseContentRange('bytes 0-99/1000'); // { kind: 'range', start: 0, end: 99, size: 1000 }
 * parseContentRange('bytes 0-99/*'); // { kind: 'invalid', reason: 'unknown complete length (*)' }
 * ```
 */
export function parseContentRange(value: string | readonly string[] | undefined): ContentRange {
  if (value === undefined) return invalid('missing');
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value.length === 1) text = value[0] as string;
  else return invalid(value.length === 0 ? 'missing' : 'more than one Content-Range value');
  const end = trimEnd(text, text.length);
  let i = trimStart(text, 0, end);
  if (!isBytesUnit(text, i, end) || text.charCodeAt(i + 5) !== SPACE) return invalid('expected "bytes "');
  i += 6;
  if (text.charCodeAt(i) === STAR) {
    const to = scanDigits(text, i + 2, end);
    if (text.charCodeAt(i + 1) !== SLASH || to === i + 2 || to !== end) return MALFORMED_CONTENT_RANGE;
    const size = digitsValue(text, i + 2, to);
    return size === Infinity ? TOO_LARGE : { kind: 'unsatisfied', size };
  }
  const firstEnd = scanDigits(text, i, end);
  const lastEnd = scanDigits(text, firstEnd + 1, end);
  const sizeEnd = scanDigits(text, lastEnd + 1, end);
  const hasRange = firstEnd > i && text.charCodeAt(firstEnd) === DASH && lastEnd > firstEnd + 1;
  if (!hasRange || text.charCodeAt(lastEnd) !== SLASH) return MALFORMED_CONTENT_RANGE;
  if (sizeEnd === lastEnd + 1 || sizeEnd !== end) {
    // R3: `/*` is a valid header, but without a total the object cannot be sliced.
    const unknown = text.charCodeAt(lastEnd + 1) === STAR && lastEnd + 2 === end;
    return unknown ? invalid('unknown complete length (*)') : MALFORMED_CONTENT_RANGE;
  }
  const start = digitsValue(text, i, firstEnd);
  const last = digitsValue(text, firstEnd + 1, lastEnd);
  const size = digitsValue(text, lastEnd + 1, end);
  if (start === Infinity || last === Infinity || size === Infinity) return TOO_LARGE;
  if (start > last) return invalid('first-pos is above last-pos');
  if (last >= size) return invalid('last-pos is not below the complete length');
  return { kind: 'range', start, end: last, size };
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
/** MAX_SAFE_INTEGER = 900719925474099 × 10 + 1: checking before each multiply keeps every step exact. */
const MAX_SAFE_TENTH = 900719925474099;
const TAB = 0x09;
const SPACE = 0x20;
const STAR = 0x2a;
const COMMA = 0x2c;
const DASH = 0x2d;
const SLASH = 0x2f;
const ZERO = 0x30;
const NINE = 0x39;
const EQUALS = 0x3d;
const MALFORMED = -1;
const INVERTED = -2;

const ABSENT: ParsedRange = Object.freeze({ type: 'absent' });
const UNSATISFIABLE: ResolvedRange = Object.freeze({ type: 'unsatisfiable' });
const MALFORMED_CONTENT_RANGE: ContentRange = Object.freeze({ kind: 'invalid', reason: 'malformed' });
const TOO_LARGE: ContentRange = Object.freeze({ kind: 'invalid', reason: 'offset above 2^53 - 1' });

function ignored(reason: string): { readonly type: 'ignored'; readonly reason: string } {
  return { type: 'ignored', reason };
}

function invalid(reason: string): ContentRange {
  return { kind: 'invalid', reason };
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
  ranges.sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  let current = ranges[0] as ByteRange;
  for (let k = 1; k < ranges.length; k++) {
    const next = ranges[k] as ByteRange;
    if (next.start <= current.end + 1) {
      if (next.end > current.end) current = { start: current.start, end: next.end };
    } else {
      out.push(current);
      current = next;
    }
  }
  out.push(current);
  return out;
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

function checkRange(start: number, end: number): void {
  checkOffset('start', start);
  checkOffset('end', end);
  if (start > end) {
    throw new SliceFetchError('ERR_SLICE_RANGE', `Expected start <= end, got \`${start}-${end}\`.`, {
      range: `${start}-${end}`,
    });
  }
}

function checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SliceFetchError(
      'ERR_SLICE_RANGE',
      `Expected \`${name}\` to be a non-negative safe integer, got \`${value}\`.`,
    );
  }
}

/** Spec offsets may also be `Infinity`: that is how {@link parseRange} writes a value above 2^53 − 1. */
function checkSpecOffset(name: string, value: number): void {
  if (value !== Infinity) checkOffset(name, value);
}

function isBytesUnit(s: string, i: number, end: number): boolean {
  // `| 0x20` lower-cases ASCII letters; RFC 9110 §14.1 compares range units case-insensitively.
  return (
    end - i >= 6 &&
    (s.charCodeAt(i) | 0x20) === 0x62 &&
    (s.charCodeAt(i + 1) | 0x20) === 0x79 &&
    (s.charCodeAt(i + 2) | 0x20) === 0x74 &&
    (s.charCodeAt(i + 3) | 0x20) === 0x65 &&
    (s.charCodeAt(i + 4) | 0x20) === 0x73
  );
}

function scanDigits(s: string, i: number, end: number): number {
  let k = i;
  while (k < end) {
    const c = s.charCodeAt(k);
    if (c < ZERO || c > NINE) break;
    k++;
  }
  return k;
}

/** The value of the digits in `[from, to)`, exact up to 2^53 − 1 and `Infinity` above (never rounded). */
function digitsValue(s: string, from: number, to: number): number {
  let value = 0;
  for (let k = from; k < to; k++) {
    const digit = s.charCodeAt(k) - ZERO;
    if (value > MAX_SAFE_TENTH || (value === MAX_SAFE_TENTH && digit > 1)) return Infinity;
    value = value * 10 + digit;
  }
  return value;
}

/** Compares two digit strings by value (leading zeros ignored): negative, zero or positive. */
function compareDigits(s: string, a: number, aEnd: number, b: number, bEnd: number): number {
  let i = a;
  let j = b;
  while (i < aEnd - 1 && s.charCodeAt(i) === ZERO) i++;
  while (j < bEnd - 1 && s.charCodeAt(j) === ZERO) j++;
  if (aEnd - i !== bEnd - j) return aEnd - i - (bEnd - j);
  for (; i < aEnd; i++, j++) {
    const d = s.charCodeAt(i) - s.charCodeAt(j);
    if (d !== 0) return d;
  }
  return 0;
}

function trimStart(s: string, i: number, end: number): number {
  let k = i;
  while (k < end && isOws(s.charCodeAt(k))) k++;
  return k;
}

function trimEnd(s: string, end: number): number {
  let k = end;
  while (k > 0 && isOws(s.charCodeAt(k - 1))) k--;
  return k;
}

/** OWS is spaces and horizontal tabs only (RFC 9110 §5.6.3). */
function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}
