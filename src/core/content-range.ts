/**
 * The `Content-Range` field (RFC 9110 §14.4): the values a proxy sends with a 206 part or a 416 (P19, P20),
 * and a strict parser for an origin's (R8) — a response whose bytes cannot be placed exactly is `invalid`.
 * One pass over the characters with the shared scanner of range-syntax.ts, no regular expressions.
 *
 * @module
 */
import { SliceFetchError } from './errors.js';
import type { ByteRange } from './range.js';
import {
  checkOffset,
  checkRange,
  DASH,
  digitsValue,
  isBytesUnit,
  SPACE,
  scanDigits,
  trimEnd,
  trimStart,
} from './range-syntax.js';

/** An origin's `Content-Range`, parsed strictly. */
export type ContentRange =
  | {
      /** `bytes first-last/size`. */
      readonly kind: 'range';
      /** First byte. */
      readonly start: number;
      /** Last byte, inclusive. */
      readonly end: number;
      /** The representation's total length. */
      readonly size: number;
    }
  | {
      /** `bytes *\/size` (a 416). */
      readonly kind: 'unsatisfied';
      /** The representation's total length. */
      readonly size: number;
    }
  | {
      /** Anything else. */
      readonly kind: 'invalid';
      /** What is wrong with it. */
      readonly reason: string;
    };

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

// ---------------------------------------------------------------------------------------------------------

const STAR = 0x2a;
const SLASH = 0x2f;

const MALFORMED_CONTENT_RANGE: ContentRange = Object.freeze({ kind: 'invalid', reason: 'malformed' });
const TOO_LARGE: ContentRange = Object.freeze({ kind: 'invalid', reason: 'offset above 2^53 - 1' });

function invalid(reason: string): ContentRange {
  return { kind: 'invalid', reason };
}
