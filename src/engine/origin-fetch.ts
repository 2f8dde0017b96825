/**
 * Sub-requests to the origin: one slice (validated against the reference, R8) or the reference slice
 * (classified, R3/R14), each under the per-origin limit and retried per the core policy (R5).
 *
 * A slice request carries a precondition on the reference's version — `If-Match` with its strong ETag, else
 * `If-Unmodified-Since` with its Last-Modified — so the origin itself answers 412 when the object changed, and
 * a 206 is the reference's version even when a middlebox dropped a validator on the way. A validator that
 * differs is asked again; only the same difference twice, a 412 or another length counts as a change (R11).
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Chunks } from '../core/chunks.js';
import type { SliceFetchConfig } from '../core/config-types.js';
import { abortError, SliceFetchError, toSliceFetchError } from '../core/errors.js';
import type { ResponseHead } from '../core/head-checks.js';
import { strongEtag } from '../core/keys.js';
import { formatRange, rangeLength } from '../core/range.js';
import { classifyReference, type ReferenceFacts } from '../core/reference-slice.js';
import { decideRetry, givenUpError } from '../core/retry.js';
import { suspectSignature, validateSlice } from '../core/validate.js';
import type { ByteRange, HeaderRecord, Logger, Transport, TransportResponse } from '../ports.js';
import type { OriginScheduler } from './origin-scheduler.js';
import { discardBody, readBody } from './read-body.js';
import { readInto, type Seen } from './read-into.js';
import type { Telemetry } from './telemetry.js';

/** What sub-requests need from the fetcher. */
export interface OriginDeps {
  readonly transport: Transport;
  readonly scheduler: OriginScheduler;
  readonly telemetry: Telemetry;
  readonly config: SliceFetchConfig;
  readonly logger: Logger;
  readonly random: () => number;
  readonly now: () => number;
}

/** One slice sub-request. */
export interface SliceRequest {
  readonly url: string;
  readonly requestId: string;
  readonly index: number;
  /** The aligned slice range to ask for (its end may lie past EOF for a reference request). */
  readonly range: ByteRange;
  /** Headers forwarded on every sub-request (no range or conditionals). */
  readonly headers: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  readonly priority: number;
  /** Counts body bytes as they arrive, for a fill deciding whether to finish without waiters. */
  readonly progress?: { received: number };
  /**
   * Memory for the slice's body (one buffer of its own, or recycled memory its reader gives back): with a
   * transport that has {@link Transport.requestInto}, the body is read straight into it instead of kept as the
   * chunks the socket delivered.
   */
  readonly allocate?: ((bytes: number) => Uint8Array) | undefined;
}

/** The reference slice's outcome. Live responses must be consumed or destroyed by the caller. */
export type ReferenceResult =
  | {
      readonly kind: 'sliced';
      readonly facts: ReferenceFacts;
      readonly headers: HeaderRecord;
      readonly chunks: Chunks;
      readonly range: ByteRange;
    }
  | { readonly kind: 'empty'; readonly headers: HeaderRecord }
  | { readonly kind: 'unsatisfiable'; readonly size: number; readonly headers: HeaderRecord }
  | {
      readonly kind: 'pass';
      readonly reason: 'range-ignored' | 'unknown-length' | 'encoded';
      readonly response: TransportResponse;
    }
  | { readonly kind: 'origin-status'; readonly response: TransportResponse };

/** Fetches and validates one non-reference slice, with retries. */
export function fetchSlice(deps: OriginDeps, request: SliceRequest, facts: ReferenceFacts): Promise<Chunks> {
  const pinned = pinnedSlice(deps, request, facts);
  return withRetries(deps, request, pinned);
}

/**
 * Fetches the reference slice: its answer decides how the whole request is served. `onHead` is called as soon
 * as a sliceable head arrived, before its body, so the request can answer while the body streams; attempts
 * after that are ordinary slice attempts pinned to the version the head announced.
 */
export function fetchReference(
  deps: OriginDeps,
  request: SliceRequest,
  onHead?: (facts: ReferenceFacts, headers: HeaderRecord) => void,
): Promise<ReferenceResult> {
  let pinned: { facts: ReferenceFacts; headers: HeaderRecord; attempt: Attempt<Chunks> } | undefined;
  return withRetries(deps, request, async (signal, seen): Promise<ReferenceResult> => {
    if (pinned !== undefined) {
      const { facts, headers } = pinned;
      const chunks = await pinned.attempt(signal, seen);
      const range = { start: request.range.start, end: Math.min(request.range.end, facts.size - 1) };
      return { kind: 'sliced', facts, headers, chunks, range };
    }
    const response = seen(await send(deps, request, signal));
    const verdict = classifyReference(
      response,
      request.range,
      { url: request.url, index: request.index },
      deps.now(),
    );
    switch (verdict.kind) {
      case 'sliced': {
        pinned = {
          facts: verdict.facts,
          headers: response.headers,
          attempt: pinnedSlice(deps, request, verdict.facts),
        };
        onHead?.(verdict.facts, response.headers);
        const length = rangeLength(verdict.range);
        const chunks = await readBody(response.body, length, signal, details(request), request.progress);
        return {
          kind: 'sliced',
          facts: verdict.facts,
          headers: response.headers,
          chunks,
          range: verdict.range,
        };
      }
      case 'empty':
        response.body.resume();
        return { kind: 'empty', headers: response.headers };
      case 'unsatisfiable':
        response.body.resume();
        return { kind: 'unsatisfiable', size: verdict.size, headers: response.headers };
      // A live body leaves the origin slot when this returns: it is one connection, bounded by the agent.
      case 'pass':
        return { kind: 'pass', reason: verdict.reason, response };
      case 'origin-status':
        return { kind: 'origin-status', response };
      case 'retry':
        discardBody(response.body);
        throw verdict.error;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------

/** One attempt; `seen` records the response status for telemetry and returns the response (or head). */
type Attempt<T> = (signal: AbortSignal, seen: Seen) => Promise<T>;

/**
 * Attempts at one slice of the version `facts` describe: sent with the precondition that pins it, validated
 * against the facts. A suspect validator difference is retried; the same one twice is a confirmed change.
 */
function pinnedSlice(deps: OriginDeps, request: SliceRequest, facts: ReferenceFacts): Attempt<Chunks> {
  const expected = rangeLength({
    start: request.range.start,
    end: Math.min(request.range.end, facts.size - 1),
  });
  const precondition = preconditionOn(facts);
  const conditional = precondition !== undefined;
  const sent = conditional ? { ...request, headers: { ...request.headers, ...precondition } } : request;
  let suspected: string | undefined;
  const check = (head: ResponseHead): SliceFetchError | undefined => {
    const context = { url: request.url, index: request.index };
    const error = validateSlice(head, request.range, facts, context, deps.now(), conditional);
    if (error === undefined) return undefined;
    const signature = suspectSignature(error);
    // The same validator difference on two answers is no accident of one response: the object changed.
    if (signature !== undefined && signature === suspected)
      return new SliceFetchError('ERR_SLICE_VERSION_CHANGED', `${error.message} (twice)`, error.details);
    suspected = signature;
    return error;
  };
  const { allocate } = request;
  if (allocate !== undefined && deps.transport.requestInto !== undefined) {
    const into = { url: request.url, headers: sent.headers, range: request.range, expected, allocate };
    return (signal, seen) =>
      readInto(deps.transport, into, signal, (head) => check(seen(head)), details(request), request.progress);
  }
  return async (signal, seen) => {
    const response = seen(await send(deps, sent, signal));
    const error = check(response);
    if (error !== undefined) {
      discardBody(response.body);
      throw error;
    }
    return readBody(response.body, expected, signal, details(request), request.progress);
  };
}

async function withRetries<T>(deps: OriginDeps, request: SliceRequest, attempt: Attempt<T>): Promise<T> {
  const { telemetry, config } = deps;
  const started = deps.now();
  const event = {
    requestId: request.requestId,
    url: request.url,
    index: request.index,
    range: request.range,
  };
  for (let attempts = 1; ; attempts++) {
    try {
      return await deps.scheduler.run(request.url, request.priority, request.signal, () =>
        timedAttempt(deps, request, attempt, attempts),
      );
    } catch (caught) {
      const error = request.signal.aborted
        ? abortedError(request)
        : toSliceFetchError(caught, details(request));
      if (request.progress !== undefined) request.progress.received = 0;
      if (error.code === 'ERR_SLICE_ABORTED') throw error;
      const decision = decideRetry({
        policy: config.retry,
        error,
        attempts,
        elapsedMs: deps.now() - started,
        random: deps.random,
      });
      if (!decision.retry) {
        const final = givenUpError(error, decision, attempts);
        telemetry.onSliceError({ ...event, error: final });
        deps.logger.warn(
          {
            requestId: request.requestId,
            url: request.url,
            slice: request.index,
            attempts,
            err: final.message,
          },
          'slice failed',
        );
        throw final;
      }
      telemetry.onSliceRetry({ ...event, attempt: attempts, delayMs: decision.delayMs, error });
      deps.logger.debug(
        {
          requestId: request.requestId,
          url: request.url,
          slice: request.index,
          attempt: attempts,
          delayMs: decision.delayMs,
          reason: error.message,
        },
        'retrying slice',
      );
      try {
        await sleep(decision.delayMs, undefined, { signal: request.signal });
      } catch {
        throw abortedError(request);
      }
    }
  }
}

/**
 * One attempt inside an origin slot, reported to telemetry, abandoned after `timeouts.sliceMs` however the
 * origin trickles (then it fails as `ERR_SLICE_TIMEOUT`, which is retried).
 */
async function timedAttempt<T>(
  deps: OriginDeps,
  request: SliceRequest,
  attempt: Attempt<T>,
  attemptNo: number,
): Promise<T> {
  const started = deps.now();
  const event = {
    requestId: request.requestId,
    url: request.url,
    index: request.index,
    range: request.range,
  };
  deps.telemetry.onSliceStart({ ...event, attempt: attemptNo });
  const { sliceMs } = deps.config.timeouts;
  const controller = new AbortController();
  const relay = (): void => controller.abort(request.signal.reason);
  request.signal.addEventListener('abort', relay, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, sliceMs);
  let status: number | undefined;
  try {
    const value = await attempt(controller.signal, (response) => {
      status = response.status;
      return response;
    });
    deps.telemetry.subrequestDone(status);
    deps.telemetry.onSliceEnd({
      ...event,
      status: status ?? 0,
      bytes: rangeLength(request.range),
      durationMs: deps.now() - started,
    });
    return value;
  } catch (error) {
    deps.telemetry.subrequestDone(status);
    if (!timedOut) throw error;
    throw new SliceFetchError(
      'ERR_SLICE_TIMEOUT',
      `Slice ${request.index} of ${request.url} took longer than timeouts.sliceMs (${sliceMs} ms).`,
      { ...details(request), cause: error },
    );
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener('abort', relay);
  }
}

async function send(
  deps: OriginDeps,
  request: SliceRequest,
  signal: AbortSignal,
): Promise<TransportResponse> {
  return deps.transport.request({
    url: request.url,
    method: 'GET',
    headers: { ...request.headers, range: formatRange([request.range]) },
    signal,
  });
}

function details(request: SliceRequest): { url: string; slice: number; range: string } {
  return { url: request.url, slice: request.index, range: `${request.range.start}-${request.range.end}` };
}

function abortedError(request: SliceRequest): SliceFetchError {
  return abortError(request.signal.reason, `Slice ${request.index} of ${request.url}`, details(request));
}

/** The precondition that pins a slice request to the reference's version, if it has a usable validator. */
function preconditionOn(facts: ReferenceFacts): Record<string, string> | undefined {
  const etag = strongEtag(facts.etag);
  if (etag !== undefined) return { 'if-match': etag };
  if (facts.lastModified !== undefined) return { 'if-unmodified-since': facts.lastModified };
  return undefined;
}
