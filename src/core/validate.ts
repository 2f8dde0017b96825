/**
 * Slice validation (R8, R11): every slice after the reference must match the reference's facts exactly
 * ({@link validateSlice}), so no body ever mixes two versions of an object; a validator that differs is a
 * suspect until the same difference is seen twice ({@link suspectSignature}). The reference slice itself is
 * classified by reference-slice.ts.
 *
 * @module
 */
import { parseContentRange } from './content-range.js';
import { SliceFetchError } from './errors.js';
import {
  contentLengthMismatch,
  encodingOf,
  type ResponseHead,
  rangeError,
  type SliceContext,
  shownHeader,
  sliceError,
  slicePrefix,
  statusError,
  transferCodingOf,
} from './head-checks.js';
import { headerValue, singleHeader } from './headers.js';
import type { ByteRange } from './range.js';
import type { ReferenceFacts } from './reference-slice.js';

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
        `${slicePrefix(context)}: the origin answered 412 to the precondition on the reference's validator: the object changed`,
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
  const transferCoding = transferCodingOf(headers);
  if (transferCoding !== undefined) {
    return sliceError(
      'ERR_SLICE_INVALID_RESPONSE',
      context,
      requested,
      'Transfer-Encoding',
      'chunked',
      transferCoding,
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

// ---------------------------------------------------------------------------------------------------------

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
