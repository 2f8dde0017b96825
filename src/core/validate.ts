/**
 * Slice validation (R8, R3, R14): decides from a response head whether the bytes that follow may be cached
 * and sent. The first (reference) slice's answer decides how a whole request is served
 * ({@link classifyReference}); every later slice must match the reference's facts exactly
 * ({@link validateSlice}), so no body ever mixes two versions of an object (R11).
 *
 * @module
 */
import { SliceFetchError, type SliceFetchErrorCode } from './errors.js';
import { type HeaderRecord, headerValue, type SingleHeader, singleHeader } from './headers.js';
import { type ByteRange, parseContentRange } from './range.js';
import { isRetryableStatus, parseRetryAfter } from './retry.js';

/** What the reference slice taught about the object; every later slice must agree. */
export interface ReferenceFacts {
  /** Total length, from the reference's `Content-Range`. */
  readonly size: number;
  /** The `ETag` exactly as sent (weak or strong), if any. */
  readonly etag?: string | undefined;
  /** The `Last-Modified` exactly as sent, if any. */
  readonly lastModified?: string | undefined;
}

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
 * Validates a (non-reference) slice response head against the requested aligned range and the reference's facts.
 * Returns `undefined` when valid, else the reason as a {@link SliceFetchError}:
 *
 * - 5xx/429/408 → `ERR_SLICE_ORIGIN_STATUS`, retryable, with `retryAfterMs` from `Retry-After`.
 * - another 2xx (the origin stopped honouring `Range` for this request) → `ERR_SLICE_INVALID_RESPONSE`, retryable.
 * - 416 whose `bytes *\/N` differs from the reference size (the object shrank) → `ERR_SLICE_VERSION_CHANGED`.
 * - 412 to a slice request sent with a precondition (`conditional`: `If-Match` with the reference's strong
 *   ETag, or `If-Unmodified-Since` with its Last-Modified) → `ERR_SLICE_VERSION_CHANGED`: the origin itself
 *   says the object changed.
 * - any other status (3xx, 4xx) → `ERR_SLICE_ORIGIN_STATUS`, not retryable: the object is gone or forbidden now.
 * - `Content-Range` missing, repeated or malformed → `ERR_SLICE_CONTENT_RANGE`, retryable.
 * - a different total → `ERR_SLICE_VERSION_CHANGED`, not retryable: the bytes cannot be the reference's.
 * - a different `ETag` or `Last-Modified` → `ERR_SLICE_VERSION_CHANGED` marked **retryable**: a suspect, not
 *   yet a proven change — a middlebox may have mangled a header. The caller asks again and treats the same
 *   difference seen twice as confirmed ({@link suspectSignature}). With `conditional`, a validator missing on
 *   either side is no difference at all: the origin evaluated the precondition against the version it served.
 * - wrong start/end, a `Content-Encoding`, a wrong `Content-Length` → `ERR_SLICE_INVALID_RESPONSE`, retryable.
 *
 * The body length is checked by whoever reads the body; this sees only the head.
 *
 * @example
 * ```ts
 * const error = validateSlice(head, { start: 3145728, end: 4194303 }, facts, { url, index: 3 }, Date.now());
 * // error?.message: "Slice 3 of https://x/y: expected Content-Range `bytes 3145728-4194303/5000000`, got `bytes 0-1048575/5000000`"
 * ```
 */
export function validateSlice(
  head: ResponseHead,
  requested: ByteRange,
  reference: ReferenceFacts,
  context: SliceContext,
  nowMs: number,
  conditional = false,
): SliceFetchError | undefined {
  const { status, headers } = head;
  if (status !== 206) {
    if (status === 412 && conditional) {
      const error = sliceError('ERR_SLICE_VERSION_CHANGED', context, requested, 'status', '206', '412');
      return new SliceFetchError(
        'ERR_SLICE_VERSION_CHANGED',
        `${prefix(context)}: the origin answered 412 to the precondition on the reference's validator: the object changed`,
        { ...error.details, originStatus: 412 },
      );
    }
    if (status === 416) {
      const cr = parseContentRange(headers['content-range']);
      if (cr.kind === 'unsatisfied' && cr.size !== reference.size) {
        const [expected, actual] = [String(reference.size), String(cr.size)];
        return sliceError('ERR_SLICE_VERSION_CHANGED', context, requested, 'object length', expected, actual);
      }
      // Same length, yet "unsatisfiable" for a start inside it: a confused origin or middlebox, ask again.
      if (cr.kind === 'unsatisfied') {
        const actual = `416 with Content-Range bytes */${cr.size}`;
        return sliceError('ERR_SLICE_INVALID_RESPONSE', context, requested, 'status', '206', actual);
      }
    }
    return statusError(head, requested, context, nowMs);
  }
  // Module-level helpers only below: this runs once per slice, so no closures are allocated on the happy path.
  const { size } = reference;
  const end = Math.min(requested.end, size - 1);
  const cr = singleHeader(headers, 'content-range');
  if (cr.state !== 'present') {
    return rangeError('ERR_SLICE_CONTENT_RANGE', context, requested, end, size, shownHeader(cr));
  }
  const parsed = parseContentRange(cr.value);
  if (parsed.kind !== 'range')
    return rangeError('ERR_SLICE_CONTENT_RANGE', context, requested, end, size, cr.value);
  if (parsed.size !== size)
    return rangeError('ERR_SLICE_VERSION_CHANGED', context, requested, end, size, cr.value);
  if (parsed.start !== requested.start || parsed.end !== end) {
    return rangeError('ERR_SLICE_INVALID_RESPONSE', context, requested, end, size, cr.value);
  }
  const encoding = encodingOf(headers);
  if (encoding !== undefined) {
    return sliceError(
      'ERR_SLICE_INVALID_RESPONSE',
      context,
      requested,
      'Content-Encoding',
      'identity',
      encoding,
    );
  }
  const length = end - requested.start + 1;
  const badLength = contentLengthMismatch(headers, length);
  if (badLength !== undefined) {
    return sliceError(
      'ERR_SLICE_INVALID_RESPONSE',
      context,
      requested,
      'Content-Length',
      String(length),
      badLength,
    );
  }
  // R8/R11: without a precondition, presence and value must both match (an ETag appearing or vanishing may be
  // a new version); with one, only two present values that differ are suspicious.
  const etag = headerValue(headers, 'etag');
  if (validatorDiffers(etag, reference.etag, conditional)) {
    return suspect(context, requested, 'ETag', show(reference.etag), show(etag));
  }
  const lastModified = headerValue(headers, 'last-modified');
  if (validatorDiffers(lastModified, reference.lastModified, conditional)) {
    return suspect(context, requested, 'Last-Modified', show(reference.lastModified), show(lastModified));
  }
  return undefined;
}

/**
 * What makes a suspect validator difference (a retryable `ERR_SLICE_VERSION_CHANGED` from
 * {@link validateSlice}) the same as another: which header, and what came instead. Seeing the same one on two
 * attempts of a slice confirms the change; `undefined` for any other error.
 *
 * @example
 * ```ts
 * const first = suspectSignature(error);
 * if (first !== undefined && first === suspectSignature(next)) throw confirmedChange(next);
 * ```
 */
export function suspectSignature(error: SliceFetchError): string | undefined {
  // The message names the slice, the header, what was expected and what came.
  if (error.code !== 'ERR_SLICE_VERSION_CHANGED' || !error.retryable) return undefined;
  return error.message;
}

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
const DIGITS = /^\d+$/;

function statusError(
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
  return new SliceFetchError(code, `${prefix(context)}: expected status 206, got ${status}`, {
    ...baseDetails(context, requested),
    expected: '206',
    actual: String(status),
    originStatus: status,
    retryAfterMs: retryable ? parseRetryAfter(head.headers['retry-after'], nowMs) : undefined,
    retryable: retryable || code === 'ERR_SLICE_INVALID_RESPONSE',
  });
}

function sliceError(
  code: SliceFetchErrorCode,
  context: SliceContext,
  requested: ByteRange,
  what: string,
  expected: string,
  actual: string,
): SliceFetchError {
  const message = `${prefix(context)}: expected ${what} \`${expected}\`, got \`${actual}\``;
  return new SliceFetchError(code, message, { ...baseDetails(context, requested), expected, actual });
}

function rangeError(
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

function shownHeader(header: SingleHeader): string {
  if (header.state === 'present') return header.value;
  return header.state === 'absent' ? 'none' : header.values.join('`, `');
}

function prefix(context: SliceContext): string {
  return `Slice ${context.index} of ${context.url}`;
}

function baseDetails(context: SliceContext, requested: ByteRange) {
  return { url: context.url, slice: context.index, range: `${requested.start}-${requested.end}` };
}

/** The `Content-Encoding` when it names any coding other than `identity` (RFC 9110 §8.4), else undefined. */
function encodingOf(headers: HeaderRecord): string | undefined {
  const value = headerValue(headers, 'content-encoding');
  if (value === undefined) return undefined;
  for (const coding of value.split(',')) {
    const c = coding.trim().toLowerCase();
    if (c !== '' && c !== 'identity') return value;
  }
  return undefined;
}

/** The offending `Content-Length` text when present and not `expected`; identical repeats are one value (§8.6). */
function contentLengthMismatch(headers: HeaderRecord, expected: number): string | undefined {
  const cl = singleHeader(headers, 'content-length');
  if (cl.state === 'absent') return undefined;
  const values = cl.state === 'present' ? [cl.value] : cl.values;
  for (const v of values) {
    const t = v.trim();
    if (!DIGITS.test(t) || Number(t) !== expected) return values.join(', ');
  }
  return undefined;
}

function validatorDiffers(
  got: string | undefined,
  expected: string | undefined,
  conditional: boolean,
): boolean {
  if (got === expected) return false;
  return !conditional || (got !== undefined && expected !== undefined);
}

function suspect(
  context: SliceContext,
  requested: ByteRange,
  what: string,
  expected: string,
  actual: string,
): SliceFetchError {
  const error = sliceError('ERR_SLICE_VERSION_CHANGED', context, requested, what, expected, actual);
  return new SliceFetchError('ERR_SLICE_VERSION_CHANGED', error.message, {
    ...error.details,
    retryable: true,
  });
}

function show(value: string | undefined): string {
  return value ?? 'none';
}
