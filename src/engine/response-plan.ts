/**
 * What a known version of an object answers a request, before any byte is read: a bodiless 304, 412 or 416,
 * or a body of these ranges with this status (R10, R13). Synchronous and shared by the answer from memory
 * (`answer-from-memory.ts`) and the general path (`open-request.ts`), so both answer alike.
 *
 * @module
 */
import { evaluatePreconditions } from '../core/conditional.js';
import { SliceFetchError } from '../core/errors.js';
import type { ByteRange, ParsedRange } from '../core/range.js';
import { resolveRange } from '../core/range.js';
import type { RequestOutcome } from '../ports.js';
import type { ObjectMetadata } from './metadata.js';
import type { CacheStatus, Engine, OpenInput, SliceResult } from './request-types.js';
import {
  notModifiedHeaders,
  type ResponseHeaders,
  sliceHeaders,
  unsatisfiableHeaders,
  withSetCookie,
} from './response-heads.js';

/** How the object's metadata was had, for the cache status. */
export interface Learning {
  /** The origin was asked, for this response. */
  readonly learnt: boolean;
  readonly revalidated: boolean;
  /** The reference slice this response's learning fetched (its bytes come from the origin). */
  readonly referenceIndex: number | undefined;
  readonly setCookie: string | readonly string[] | undefined;
}

/** Metadata that was in memory or the store: nothing learnt from the origin for this response. */
export const NOTHING_LEARNT: Learning = {
  learnt: false,
  revalidated: false,
  referenceIndex: undefined,
  setCookie: undefined,
};

/** A bodiless answer, or the body to read. */
export type ResponsePlan =
  | { readonly kind: 'answer'; readonly result: SliceResult }
  | {
      readonly kind: 'body';
      readonly status: 200 | 206;
      readonly ranges: readonly ByteRange[];
      /** The headers every response of this version carries (framing aside). */
      readonly base: Record<string, string>;
      /** The cache status of the head when it needs no slice: learnt now or not. */
      readonly headStatus: CacheStatus;
    };

/**
 * Plans the answer of `meta`'s version to `input`: preconditions (304, 412), the range (416, 206, 200).
 *
 * @throws {SliceFetchError} `ERR_SLICE_TOO_LARGE` for an object above `maxObjectSize`.
 * @example
 * ```ts
 * const plan = planResponse(engine, input, parseRange(input.range), meta, NOTHING_LEARNT);
 * if (plan.kind === 'answer') return plan.result;
 * ```
 */
export function planResponse(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  meta: ObjectMetadata,
  learning: Learning,
): ResponsePlan {
  const { config } = engine.deps;
  if (meta.size > config.maxObjectSize) {
    throw new SliceFetchError(
      'ERR_SLICE_TOO_LARGE',
      `${input.url} is ${meta.size} bytes, above maxObjectSize ${config.maxObjectSize}.`,
      { url: input.url },
    );
  }
  const headStatus = learning.learnt ? (learning.revalidated ? 'REVALIDATED' : 'MISS') : 'HIT';
  const base = sliceHeaders(meta);
  const precondition = evaluatePreconditions(input.method, input.conditionals, {
    etag: meta.etag,
    lastModified: meta.lastModified,
  });
  if (precondition.outcome === 'not-modified')
    return answer(
      304,
      withSetCookie(notModifiedHeaders(meta), learning.setCookie),
      'not-modified',
      headStatus,
    );
  if (precondition.outcome === 'precondition-failed')
    return answer(412, { 'content-length': '0' }, 'error', headStatus);
  const resolved = precondition.ignoreRange
    ? ({ type: 'absent' } as const)
    : resolveRange(parsed, meta.size, { maxRanges: config.maxRanges });
  if (resolved.type === 'unsatisfiable') {
    const headers = withSetCookie(unsatisfiableHeaders(meta.size, base), learning.setCookie);
    return answer(416, headers, 'not-satisfiable', headStatus);
  }
  if (resolved.type === 'satisfiable')
    return { kind: 'body', status: 206, ranges: resolved.ranges, base, headStatus };
  const ranges = meta.size === 0 ? [] : [{ start: 0, end: meta.size - 1 }];
  return { kind: 'body', status: 200, ranges, base, headStatus };
}

/**
 * A response without a body.
 *
 * @example
 * ```ts
 * return bodiless(416, unsatisfiableHeaders(size, {}), 'not-satisfiable', 'MISS');
 * ```
 */
export function bodiless(
  status: number,
  headers: ResponseHeaders,
  outcome: RequestOutcome,
  cacheStatus: CacheStatus,
): SliceResult {
  return { status, headers, body: undefined, cacheStatus, outcome };
}

// ---------------------------------------------------------------------------------------------------------

function answer(
  status: number,
  headers: ResponseHeaders,
  outcome: RequestOutcome,
  cacheStatus: CacheStatus,
): ResponsePlan {
  return { kind: 'answer', result: bodiless(status, headers, outcome, cacheStatus) };
}
