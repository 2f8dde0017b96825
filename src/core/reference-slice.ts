/**
 * The first (reference) slice of a request (R8, R3, R14): its response decides how the whole request is
 * served ({@link classifyReference}) — sliced, passed through unsliced, empty, unsatisfiable, the origin's
 * own status, or asked again — and, when sliced, yields the facts ({@link extractFacts}) every later slice
 * must match exactly (validate.ts), so no body ever mixes two versions of an object (R11).
 *
 * @module
 */
import { parseContentRange } from './content-range.js';
import type { SliceFetchError, SliceFetchErrorCode } from './errors.js';
import {
  contentLengthMismatch,
  encodingOf,
  type ResponseHead,
  type SliceContext,
  shownHeader,
  sliceError,
  statusError,
} from './head-checks.js';
import { type HeaderRecord, headerValue, singleHeader } from './headers.js';
import type { ByteRange } from './range.js';
import { isRetryableStatus } from './retry.js';

/** What the reference slice taught about the object; every later slice must agree. */
export interface ReferenceFacts {
  /** Total length, from the reference's `Content-Range`. */
  readonly size: number;
  /** The `ETag` exactly as sent (weak or strong), if any. */
  readonly etag?: string | undefined;
  /** The `Last-Modified` exactly as sent, if any. */
  readonly lastModified?: string | undefined;
}

/** How the reference response says the whole request is to be served. */
export type ReferenceVerdict =
  /** A valid 206: slice the object; `range` is what this 206 carries. */
  | { readonly kind: 'sliced'; readonly facts: ReferenceFacts; readonly range: ByteRange }
  /** R14: stream the object through unsliced (origin ignored Range, gave no total, or encoded the body). */
  | { readonly kind: 'pass'; readonly reason: 'range-ignored' | 'unknown-length' | 'encoded' }
  /** 416 with `bytes *\/0`: a zero-length object. */
  | { readonly kind: 'empty' }
  /** 416 with `bytes *\/N`, N > 0: the requested start is at or past the end. */
  | { readonly kind: 'unsatisfiable'; readonly size: number }
  /** A status a retry would not change (3xx, 4xx except 408/429, 204…): the client gets it unchanged (P15). */
  | { readonly kind: 'origin-status'; readonly status: number }
  /** 5xx/429/408, or a 206/416 that breaks the rules: retry under the policy. */
  | { readonly kind: 'retry'; readonly error: SliceFetchError };

/**
 * Classifies the response to the first (reference) slice request, which decides how the whole request is
 * served. `sliced` needs a 206 with one valid `Content-Range` whose start is the requested start and whose end
 * is min(requested end, total − 1), a matching `Content-Length` if any, and no `Content-Encoding`.
 *
 * @example
 * ```ts
 * const verdict = classifyReference(head, { start: 0, end: 1048575 }, { url, index: 0 }, Date.now());
 * if (verdict.kind === 'sliced') console.log(verdict.facts.size);
 * ```
 */
export function classifyReference(
  head: ResponseHead,
  requested: ByteRange,
  context: SliceContext,
  nowMs: number,
): ReferenceVerdict {
  const { status, headers } = head;
  if (status === 200) return PASS_RANGE_IGNORED;
  const cr = singleHeader(headers, 'content-range');
  if (status === 416) {
    const parsed = cr.state === 'present' ? parseContentRange(cr.value) : undefined;
    if (parsed?.kind !== 'unsatisfied') return retry('ERR_SLICE_CONTENT_RANGE', 'bytes */<length>');
    if (parsed.size === 0) return EMPTY;
    // A 416 for a start inside the object contradicts itself (RFC 9110 §15.5.17): ask again.
    if (requested.start < parsed.size) {
      const actual = `416 with Content-Range bytes */${parsed.size}`;
      return {
        kind: 'retry',
        error: sliceError('ERR_SLICE_INVALID_RESPONSE', context, requested, 'status', '206', actual),
      };
    }
    return { kind: 'unsatisfiable', size: parsed.size };
  }
  if (status !== 206) {
    if (!isRetryableStatus(status)) return { kind: 'origin-status', status };
    return { kind: 'retry', error: statusError(head, requested, context, nowMs) };
  }
  // Content-Range of an encoded 206 counts encoded bytes (RFC 9110 §14.4): not slicable as the object's bytes.
  if (encodingOf(headers) !== undefined) return PASS_ENCODED;
  if (cr.state === 'present' && UNKNOWN_LENGTH.test(cr.value)) return PASS_UNKNOWN_LENGTH;
  const parsed = cr.state === 'present' ? parseContentRange(cr.value) : undefined;
  const wanted = `bytes ${requested.start}-${requested.end}/<length>`;
  if (parsed?.kind !== 'range') return retry('ERR_SLICE_CONTENT_RANGE', wanted);
  const end = Math.min(requested.end, parsed.size - 1);
  if (parsed.start !== requested.start || parsed.end !== end) {
    return retry('ERR_SLICE_INVALID_RESPONSE', `bytes ${requested.start}-${end}/${parsed.size}`);
  }
  const length = contentLengthMismatch(headers, end - requested.start + 1);
  if (length !== undefined) {
    const error = sliceError(
      'ERR_SLICE_INVALID_RESPONSE',
      context,
      requested,
      'Content-Length',
      String(end - requested.start + 1),
      length,
    );
    return { kind: 'retry', error };
  }
  return { kind: 'sliced', facts: extractFacts(headers, parsed.size), range: { start: parsed.start, end } };

  function retry(code: SliceFetchErrorCode, expected: string): ReferenceVerdict {
    const actual = cr.state === 'present' ? cr.value : shownHeader(cr);
    return { kind: 'retry', error: sliceError(code, context, requested, 'Content-Range', expected, actual) };
  }
}

/**
 * The facts later slices are checked against, read from the reference response's headers.
 *
 * @example
 * ```ts
 * extractFacts({ etag: '"v1"', 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' }, 5000000);
 * // { size: 5000000, etag: '"v1"', lastModified: 'Sun, 06 Nov 1994 08:49:37 GMT' }
 * ```
 */
export function extractFacts(headers: HeaderRecord, size: number): ReferenceFacts {
  return { size, etag: headerValue(headers, 'etag'), lastModified: headerValue(headers, 'last-modified') };
}

// ---------------------------------------------------------------------------------------------------------

const PASS_RANGE_IGNORED: ReferenceVerdict = { kind: 'pass', reason: 'range-ignored' };
const PASS_UNKNOWN_LENGTH: ReferenceVerdict = { kind: 'pass', reason: 'unknown-length' };
const PASS_ENCODED: ReferenceVerdict = { kind: 'pass', reason: 'encoded' };
const EMPTY: ReferenceVerdict = { kind: 'empty' };

/** `bytes first-last/*` (RFC 9110 §14.4): a range of an object whose length the origin does not know. */
const UNKNOWN_LENGTH = /^[ \t]*bytes \d+-\d+\/\*[ \t]*$/i;
