/**
 * The character-level pieces both byte-range grammars (RFC 9110 §14) are read and written with: the `bytes`
 * unit check, OWS trimming, the digit scanner and its exact value, and the offset checks of the formatters.
 * The client's `Range` (range.ts) and the origin's `Content-Range` (content-range.ts) share them, so the part
 * that must be exact is written once. No regular expressions: a hostile header costs linear time. Offsets are
 * read digit by digit and never rounded: a value above 2^53 − 1 becomes `Infinity`.
 *
 * @module
 */
import { SliceFetchError } from './errors.js';

/** `' '` */
export const SPACE = 0x20;
/** `'-'` */
export const DASH = 0x2d;

/**
 * Whether `s` holds the range unit `bytes` at `i`, with at least one character after it (the caller checks
 * which). RFC 9110 §14.1 compares range units case-insensitively.
 */
export function isBytesUnit(s: string, i: number, end: number): boolean {
  // `| 0x20` lower-cases ASCII letters.
  return (
    end - i >= 6 &&
    (s.charCodeAt(i) | 0x20) === 0x62 &&
    (s.charCodeAt(i + 1) | 0x20) === 0x79 &&
    (s.charCodeAt(i + 2) | 0x20) === 0x74 &&
    (s.charCodeAt(i + 3) | 0x20) === 0x65 &&
    (s.charCodeAt(i + 4) | 0x20) === 0x73
  );
}

/** The index of the first non-digit at or after `i` (or `end`). */
export function scanDigits(s: string, i: number, end: number): number {
  let k = i;
  while (k < end) {
    const c = s.charCodeAt(k);
    if (c < ZERO || c > NINE) break;
    k++;
  }
  return k;
}

/** The value of the digits in `[from, to)`, exact up to 2^53 − 1 and `Infinity` above (never rounded). */
export function digitsValue(s: string, from: number, to: number): number {
  let value = 0;
  for (let k = from; k < to; k++) {
    const digit = s.charCodeAt(k) - ZERO;
    if (value > MAX_SAFE_TENTH || (value === MAX_SAFE_TENTH && digit > 1)) return Infinity;
    value = value * 10 + digit;
  }
  return value;
}

/** Compares two digit strings by value (leading zeros ignored): negative, zero or positive. */
export function compareDigits(s: string, a: number, aEnd: number, b: number, bEnd: number): number {
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

/** The index of the first non-OWS character at or after `i` (or `end`). */
export function trimStart(s: string, i: number, end: number): number {
  let k = i;
  while (k < end && isOws(s.charCodeAt(k))) k++;
  return k;
}

/** The index just after the last non-OWS character before `end` (or 0). */
export function trimEnd(s: string, end: number): number {
  let k = end;
  while (k > 0 && isOws(s.charCodeAt(k - 1))) k--;
  return k;
}

/**
 * Checks an inclusive range about to be written.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` unless both ends are non-negative safe integers and `start <= end`.
 */
export function checkRange(start: number, end: number): void {
  checkOffset('start', start);
  checkOffset('end', end);
  if (start > end) {
    throw new SliceFetchError('ERR_SLICE_RANGE', `Expected start <= end, got \`${start}-${end}\`.`, {
      range: `${start}-${end}`,
    });
  }
}

/**
 * Checks an offset or length about to be used or written.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` unless `value` is a non-negative safe integer.
 */
export function checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new SliceFetchError(
      'ERR_SLICE_RANGE',
      `Expected \`${name}\` to be a non-negative safe integer, got \`${value}\`.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------

/** MAX_SAFE_INTEGER = 900719925474099 × 10 + 1: checking before each multiply keeps every step exact. */
const MAX_SAFE_TENTH = 900719925474099;
const TAB = 0x09;
const ZERO = 0x30;
const NINE = 0x39;

/** OWS is spaces and horizontal tabs only (RFC 9110 §5.6.3). */
function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}
