/**
 * Early read-ahead on a cold object: the reference slice's head is the first moment the size and validators
 * are known, and the next slices of the request start right then — while the reference body still streams —
 * instead of after it. On a throttled origin the reference body is a whole round of transfer time (the 64 MiB
 * benchmark: 8 rounds instead of 9). Nothing is sent before the head says the object is sliceable, so an
 * origin answering 404 or ignoring ranges never sees extra requests. Each early slice runs as an ordinary
 * shared fill under its slice key, so every reader — of this request or another — joins it (SPEC R12), and
 * claims the slice in a shared store like any other fill (`fill-claim.ts`).
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import { sliceKeys } from '../core/keys.js';
import { sliceCount } from '../core/plan.js';
import { type ParsedRange, rangeLength } from '../core/range.js';
import type { CacheGate } from './cache-gate.js';
import { claimFill } from './fill-claim.js';
import { type ObjectMetadata, sliceExpiry } from './metadata.js';
import { fetchSlice, type OriginDeps } from './origin-fetch.js';
import { AHEAD_PRIORITY } from './origin-scheduler.js';
import type { SingleFlight } from './single-flight.js';

/** The fetcher parts the read-ahead uses. */
export interface ReadAheadContext {
  readonly deps: OriginDeps;
  readonly cache: CacheGate;
  readonly slices: SingleFlight<Chunks>;
}

/** What the read-ahead needs to know about the request. */
export interface ReadAheadInput {
  readonly url: string;
  readonly requestId: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The reference slice's index. */
  readonly index: number;
  /** The early fills' own waiter leaves when this aborts. */
  readonly signal: AbortSignal;
  /** Whether the fetched slices may be written to the store (cacheability and admission). */
  readonly store: boolean;
}

/**
 * Starts up to `concurrency − 1` slices after the reference, within the request's single range (or the whole
 * object) and the object's end. Several ranges and suffix ranges get none.
 */
export function readAhead(
  ctx: ReadAheadContext,
  parsed: ParsedRange,
  input: ReadAheadInput,
  meta: ObjectMetadata,
): void {
  const { deps, cache } = ctx;
  const { sliceSize, concurrency } = deps.config;
  const facts = { size: meta.size, etag: meta.etag, lastModified: meta.lastModified };
  const keyOf = sliceKeys({ objectKey: meta.objectKey, validator: meta.validator, sliceSize });
  const last = Math.min(lastWantedIndex(parsed, sliceSize), sliceCount(meta.size, sliceSize) - 1);
  for (let index = input.index + 1; index < input.index + concurrency && index <= last; index++) {
    const start = index * sliceSize;
    const range = { start, end: start + sliceSize - 1 };
    const stored = { start, end: Math.min(range.end, meta.size - 1) };
    const event = { requestId: input.requestId, url: input.url, index, range: stored };
    const { promise } = ctx.slices.run(
      keyOf(index),
      async ({ signal, hold }) => {
        // Across processes (R16): claim the fill in a shared store, or wait for the process that holds it.
        const claim =
          input.store && cache.coordinates
            ? await claimFill(cache, keyOf(index), event, {
                read: () => cache.get(keyOf(index), rangeLength(stored), event),
                waitMs: deps.config.timeouts.coalesceMs,
                signal,
              })
            : 'own';
        if (typeof claim !== 'string') return claim;
        const request = {
          url: input.url,
          requestId: input.requestId,
          headers: input.headers,
          index,
          range,
          signal,
          priority: AHEAD_PRIORITY,
        };
        let chunks: Chunks;
        try {
          chunks = await fetchSlice(deps, request, facts);
        } catch (error) {
          if (claim === 'claimed') void cache.unlock(keyOf(index), event);
          throw error;
        }
        if (input.store) {
          const entry = {
            kind: 'slice' as const,
            objectKey: meta.objectKey,
            validator: meta.validator,
            range: stored,
            size: meta.size,
            expiresAt: sliceExpiry(deps),
          };
          hold(
            cache.set(keyOf(index), chunks, entry, event).then((ok) => {
              if (ok) deps.telemetry.onCacheStore({ ...event, bytes: rangeLength(stored) });
              if (claim === 'claimed') return cache.unlock(keyOf(index), event); // only now can waiters read it
            }),
          );
        }
        return chunks;
      },
      { signal: input.signal, waitTimeoutMs: deps.config.timeouts.coalesceMs },
    );
    promise.catch(() => {}); // the readers that join it see its failure; this waiter has nobody to tell
  }
}

// ---------------------------------------------------------------------------------------------------------

/** The last slice index the request can need (Infinity: up to the end; −1: none). */
function lastWantedIndex(parsed: ParsedRange, sliceSize: number): number {
  if (parsed.type === 'absent' || parsed.type === 'ignored') return Number.POSITIVE_INFINITY;
  if (parsed.specs.length !== 1) return -1;
  const spec = parsed.specs[0];
  if (spec === undefined || !('first' in spec)) return -1;
  return spec.last === undefined ? Number.POSITIVE_INFINITY : Math.floor(spec.last / sliceSize);
}
