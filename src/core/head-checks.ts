/**
 * What validating a slice response head takes (R8): the head and the slice it answers, the checks of its
 * framing fields (`Content-Encoding`, `Content-Length`) and the errors a failed check becomes — one sentence
 * shape, naming the slice, the field, what was expected and what came. Shared by the reference slice's
 * classification (reference-slice.ts) and every later slice's validation (validate.ts).
 *
 * @module
 */
import { SliceFetchError, type SliceFetchErrorCode } from './errors.js';
import { type HeaderRecord, headerValue, type SingleHeader, singleHeader } from './headers.js';
import type { ByteRange } from './range.js';
import { isRetryableStatus, parseRetryAfter } from './retry.js';

/** The status and headers of an origin response, before its body. */
export interface ResponseHead {
  /** HTTP status code. */
  readonly status: number;
  /** Headers, lower-case names. */
  readonly headers: HeaderRecord;
}

/** Names the slice in error messages and details. */
export interface SliceContext {
  /** The object URL. */
  readonly url: string;
  /** The slice index. */
  readonly index: number;
}

/**
 * The error of a status other than 206: `ERR_SLICE_INVALID_RESPONSE` (retryable) for another 2xx — `Range` was
 * ignored for this one request — else `ERR_SLICE_ORIGIN_STATUS`, retryable for 5xx/429/408 with
 * `retryAfterMs` from `Retry-After`.
 */
export function statusError(
  head: ResponseHead,
  requested: ByteRange,
  context: SliceContext,
  nowMs: number,
): SliceFetchError {
  const { status } = head;
  const retryable = isRetryableStatus(status);
  // Another 2xx means Range was ignored for this one request (a middlebox?); asking again may get a 206.
  const code: SliceFetchErrorCode =
    status >= 200 && status < 300 ? 'ERR_SLICE_INVALID_RESPONSE' : 'ERR_SLICE_ORIGIN_STATUS';
  return new SliceFetchError(code, `${slicePrefix(context)}: expected status 206, got ${status}`, {
    ...baseDetails(context, requested),
    expected: '206',
    actual: String(status),
    originStatus: status,
    retryAfterMs: retryable ? parseRetryAfter(head.headers['retry-after'], nowMs) : undefined,
    retryable: retryable || code === 'ERR_SLICE_INVALID_RESPONSE',
  });
}

/** The error "Slice i of url: expected <what> `<expected>`, got `<actual>`", with the same in its details. */
export function sliceError(
  code: SliceFetchErrorCode,
  context: SliceContext,
  requested: ByteRange,
  what: string,
  expected: string,
  actual: string,
): SliceFetchError {
  const message = `${slicePrefix(context)}: expected ${what} \`${expected}\`, got \`${actual}\``;
  return new SliceFetchError(code, message, { ...baseDetails(context, requested), expected, actual });
}

/** {@link sliceError} for a `Content-Range` other than `bytes <start>-<end>/<size>`. */
export function rangeError(
  code: SliceFetchErrorCode,
  context: SliceContext,
  requested: ByteRange,
  end: number,
  size: number,
  actual: string,
): SliceFetchError {
  // Built by hand: formatContentRange throws on the impossible ranges this message may have to describe.
  const expected = `bytes ${requested.start}-${end}/${size}`;
  return sliceError(code, context, requested, 'Content-Range', expected, actual);
}

/** A single-valued header as an error message shows it: its value, `none`, or its repeated values. */
export function shownHeader(header: SingleHeader): string {
  if (header.state === 'present') return header.value;
  return header.state === 'absent' ? 'none' : header.values.join('`, `');
}

/** `Slice <index> of <url>`: how every error message about a slice begins. */
export function slicePrefix(context: SliceContext): string {
  return `Slice ${context.index} of ${context.url}`;
}

/** The `Content-Encoding` when it names any coding other than `identity` (RFC 9110 §8.4), else undefined. */
export function encodingOf(headers: HeaderRecord): string | undefined {
  const value = headerValue(headers, 'content-encoding');
  if (value === undefined) return undefined;
  for (const coding of value.split(',')) {
    const c = coding.trim().toLowerCase();
    if (c !== '' && c !== 'identity') return value;
  }
  return undefined;
}

/**
 * The `Transfer-Encoding` when it names any coding other than `chunked` (RFC 9112 §6.1: the HTTP client undoes
 * only `chunked`, so any other coding would reach the slice as the body's bytes), else undefined.
 */
export function transferCodingOf(headers: HeaderRecord): string | undefined {
  const value = headerValue(headers, 'transfer-encoding');
  if (value === undefined) return undefined;
  for (const coding of value.split(',')) {
    const c = coding.trim().toLowerCase();
    if (c !== '' && c !== 'chunked') return value;
  }
  return undefined;
}

/** The offending `Content-Length` text when present and not `expected`; identical repeats are one value (§8.6). */
export function contentLengthMismatch(headers: HeaderRecord, expected: number): string | undefined {
  const cl = singleHeader(headers, 'content-length');
  if (cl.state === 'absent') return undefined;
  const values = cl.state === 'present' ? [cl.value] : cl.values;
  for (const v of values) {
    const t = v.trim();
    if (!DIGITS.test(t) || Number(t) !== expected) return values.join(', ');
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------

const DIGITS = /^\d+$/;

function baseDetails(context: SliceContext, requested: ByteRange) {
  return { url: context.url, slice: context.index, range: `${requested.start}-${requested.end}` };
}
