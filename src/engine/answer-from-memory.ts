/**
 * The answer from memory (design.md "Small-range fast path"): when a request's version is fresh in the
 * in-process metadata and — for a body — every slice it needs is held by an in-process store, it is answered
 * synchronously, with no readers, budget, fills, timers or abort plumbing: the range's pieces are the store's
 * own chunks, trimmed. Same bytes, headers, hooks and `x-slice-cache` (`HIT`) as the general path, which takes
 * over whenever anything is missing. It serves bodies within one slice — the small ranges random readers ask
 * for; a longer body is read by the general path, with backpressure and within the byte budget.
 *
 * @module
 */
import { type Chunks, sliceChunks } from '../core/chunks.js';
import { plannedSlice, planSlices } from '../core/plan.js';
import { type ParsedRange, rangeLength } from '../core/range.js';
import { PieceStream, staticSource } from './piece-stream.js';
import type { Engine, OpenInput, SliceResult } from './request-types.js';
import { singleRangeHeaders } from './response-heads.js';
import { NOTHING_LEARNT, planResponse } from './response-plan.js';
import { versionKeys } from './version-keys.js';

/**
 * Answers `input` from memory alone, or `undefined` when the general path must (nothing fresh in memory, the
 * slice not resident, several ranges, a body beyond one slice).
 *
 * @throws {SliceFetchError} `ERR_SLICE_TOO_LARGE`, as the general path would.
 * @example
 * ```ts
 * const result = answerFromMemory(engine, input, parseRange(input.range)) ?? (await openRequest(engine, input));
 * ```
 */
export function answerFromMemory(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
): SliceResult | undefined {
  const { deps, cache, metadata } = engine;
  const meta = metadata.peekFresh(input.objectKey, input.base, input.forward, input.requestId, deps.now());
  if (meta === undefined || (meta.location !== undefined && input.redirect !== 'follow')) return undefined;
  const plan = planResponse(engine, input, parsed, meta, NOTHING_LEARNT);
  if (plan.kind === 'answer') return plan.result;
  const { status, ranges, base } = plan;
  if (ranges.length > 1) return undefined;
  const range = ranges[0];
  const headers = singleRangeHeaders(base, range, status, meta.size);
  if (input.method === 'HEAD') return resident(status, headers, undefined);
  if (range === undefined) return resident(status, headers, []);
  const { sliceSize } = deps.config;
  const slices = planSlices(meta.size, sliceSize, range);
  // One slice at most: like a reader's next slice, it is the store's memory and reserves nothing — more would
  // be read-ahead, which a stalled client could pin after the store evicted it (design.md "A global byte budget").
  if (!cache.inProcess || slices.count > 1) return undefined;
  const keyOf = versionKeys(meta, sliceSize);
  const held: Chunks[] = [];
  for (let index = slices.firstIndex; index <= slices.lastIndex; index++) {
    const slice = plannedSlice(slices, index);
    const chunks = cache.peek(keyOf(index), rangeLength(slice.range), input);
    if (chunks === undefined) return undefined;
    held.push(chunks);
  }
  const { telemetry } = deps;
  const pieces: Chunks[] = [];
  held.forEach((chunks, i) => {
    const slice = plannedSlice(slices, slices.firstIndex + i);
    const event = { requestId: input.requestId, url: input.url, index: slice.index, range: slice.range };
    telemetry.onCacheHit({ ...event, bytes: rangeLength(slice.range) });
    telemetry.onBytes({
      requestId: input.requestId,
      url: input.url,
      source: 'cache',
      bytes: rangeLength(slice.emit),
    });
    pieces.push(sliceChunks(chunks, slice.emit.start, slice.emit.end));
  });
  return resident(status, headers, pieces);
}

// ---------------------------------------------------------------------------------------------------------

/** A result whose body is in hand: `pieces` for who writes them at once, a stream made only if asked for. */
function resident(
  status: number,
  headers: Record<string, string>,
  pieces: readonly Chunks[] | undefined,
): SliceResult {
  let body: PieceStream | undefined;
  return {
    status,
    headers,
    get body() {
      if (pieces !== undefined) body ??= new PieceStream(staticSource(pieces));
      return body;
    },
    pieces,
    cacheStatus: 'HIT',
    outcome: 'hit',
  };
}
