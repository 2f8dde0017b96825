/**
 * The answer from memory (design.md "Small-range fast path"): when a request's version is fresh in the
 * in-process metadata and — for a body — every slice it needs is held by an in-process store, it is answered
 * synchronously, with no readers, budget, fills, timers or abort plumbing: the range's pieces are the store's
 * own chunks, trimmed. Same bytes, headers, hooks and `x-slice-cache` (`HIT`) as the general path, which takes
 * over whenever anything is missing. It serves bodies within one slice — the small ranges random readers ask
 * for; a longer body is read by the general path, with backpressure and within the byte budget.
 *
 * Two steps, so that a request the general path must serve leaves no trace: {@link findInMemory} looks and
 * changes nothing, {@link answerFromMemory} reports the hits (hooks, counters) and hands the answer over. The
 * head comes as {@link HeadFields} laid out once per version; the record form is only made if read.
 *
 * @module
 */
import { type Chunks, sliceChunks } from '../core/chunks.js';
import { type PlannedSlice, plannedSlice, planSlices } from '../core/plan.js';
import { type ParsedRange, rangeLength } from '../core/range.js';
import type { RequestOutcome } from '../ports.js';
import { PieceStream, staticSource } from './piece-stream.js';
import type { CacheStatus, Engine, OpenInput, SliceResult } from './request-types.js';
import {
  type HeadFields,
  headFields,
  headRecord,
  type ResponseHeaders,
  singleRangeFields,
} from './response-heads.js';
import { NOTHING_LEARNT, planResponse } from './response-plan.js';
import { versionKeys } from './version-keys.js';

/** A request memory can answer, found by {@link findInMemory} and not yet answered. */
export interface InMemory {
  readonly status: number;
  readonly outcome: RequestOutcome;
  readonly head: HeadFields;
  /** The record form of the head, when the answer was planned as one (a bodiless 304, 412 or 416). */
  readonly headers: ResponseHeaders | undefined;
  /** The slice the body lies in, with the store's chunks of it; `undefined` without a body to read. */
  readonly slice: PlannedSlice | undefined;
  readonly chunks: Chunks | undefined;
  /** Whether the answer has a body (`false` for HEAD and bodiless answers); an empty object's body is empty. */
  readonly hasBody: boolean;
}

/**
 * Whether memory alone can answer `input`, and with what; `undefined` when the general path must (nothing
 * fresh in memory, the slice not resident, several ranges, a body beyond one slice). Reports nothing.
 *
 * @throws {SliceFetchError} `ERR_SLICE_TOO_LARGE`, as the general path would.
 * @example
 * ```ts
 * const found = findInMemory(engine, input, parseRange(input.range));
 * const result = found === undefined ? await openRequest(engine, input) : answerFromMemory(engine, input, found);
 * ```
 */
export function findInMemory(engine: Engine, input: OpenInput, parsed: ParsedRange): InMemory | undefined {
  const { deps, cache, metadata } = engine;
  const meta = metadata.peekFresh(input.objectKey, input.base, input.forward, input.requestId, deps.now());
  if (meta === undefined || (meta.location !== undefined && input.redirect !== 'follow')) return undefined;
  const plan = planResponse(engine, input, parsed, meta, NOTHING_LEARNT);
  if (plan.kind === 'answer') {
    const { status, headers, outcome } = plan.result;
    return {
      status,
      outcome,
      head: headFields(headers),
      headers,
      slice: undefined,
      chunks: undefined,
      hasBody: false,
    };
  }
  const { status, ranges } = plan;
  if (ranges.length > 1) return undefined;
  const range = ranges[0];
  const hasBody = input.method !== 'HEAD';
  let slice: PlannedSlice | undefined;
  let chunks: Chunks | undefined;
  if (hasBody && range !== undefined) {
    const { sliceSize } = deps.config;
    const slices = planSlices(meta.size, sliceSize, range);
    // One slice at most: like a reader's next slice, it is the store's memory and reserves nothing — more would
    // be read-ahead, which a stalled client could pin after the store evicted it (design.md "A global byte budget").
    if (!cache.inProcess || slices.count > 1) return undefined;
    slice = plannedSlice(slices, slices.firstIndex);
    chunks = cache.peek(versionKeys(meta, sliceSize)(slice.index), rangeLength(slice.range), input);
    if (chunks === undefined) return undefined;
  }
  const head = singleRangeFields(meta, range, status);
  return { status, outcome: 'hit', head, headers: undefined, slice, chunks, hasBody };
}

/**
 * Answers what {@link findInMemory} found: reports the cache hit and the bytes, and trims the slice to the range.
 *
 * @example
 * ```ts
 * const answer = answerFromMemory(engine, input, found);
 * res.writeHead(answer.status, answer.head);
 * ```
 */
export function answerFromMemory(engine: Engine, input: OpenInput, found: InMemory): MemoryAnswer {
  const { slice, chunks } = found;
  let pieces: Chunks[] | undefined;
  let bytes = 0;
  if (slice !== undefined && chunks !== undefined) {
    const { telemetry } = engine.deps;
    const { requestId, url } = input;
    telemetry.onCacheHit({
      requestId,
      url,
      index: slice.index,
      range: slice.range,
      bytes: rangeLength(slice.range),
    });
    bytes = rangeLength(slice.emit);
    telemetry.onBytes({ requestId, url, source: 'cache', bytes });
    pieces = [sliceChunks(chunks, slice.emit.start, slice.emit.end)];
  } else if (found.hasBody) pieces = [];
  return new MemoryAnswer(found.status, found.outcome, found.head, pieces, bytes, found.headers);
}

/**
 * A result whose body is in hand: `pieces` for who writes them at once (or no body at all), the head as fields
 * for who writes it at once; the record form of the head and a body stream are made only if asked for.
 */
export class MemoryAnswer implements SliceResult {
  readonly status: number;
  readonly outcome: RequestOutcome;
  /** The head as name/value pairs, in the order of {@link MemoryAnswer.headers}. */
  readonly head: HeadFields;
  readonly pieces: readonly Chunks[] | undefined;
  /** Bytes of the body. */
  readonly bytes: number;
  readonly cacheStatus: CacheStatus = 'HIT';
  #headers: ResponseHeaders | undefined;
  #body: PieceStream | undefined;

  constructor(
    status: number,
    outcome: RequestOutcome,
    head: HeadFields,
    pieces: readonly Chunks[] | undefined,
    bytes: number,
    headers?: ResponseHeaders,
  ) {
    this.status = status;
    this.outcome = outcome;
    this.head = head;
    this.pieces = pieces;
    this.bytes = bytes;
    this.#headers = headers;
  }

  get headers(): ResponseHeaders {
    this.#headers ??= headRecord(this.head);
    return this.#headers;
  }

  get body(): PieceStream | undefined {
    if (this.pieces !== undefined) this.#body ??= new PieceStream(staticSource(this.pieces));
    return this.#body;
  }
}
