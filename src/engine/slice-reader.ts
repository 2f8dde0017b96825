/**
 * Reads one planned byte range of an object as in-order pieces (SPEC R5, R6): cache lookups and origin
 * fetches run ahead of the consumer by at most `concurrency` slices and only while the global byte budget
 * allows, early slices wait in the bounded reorder buffer, and each piece is handed out trimmed to the
 * range. Pull-based: nothing is fetched beyond the window until the consumer takes the next piece, which is
 * how a slow consumer slows the fetching.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { type Chunks, sliceChunks } from '../core/chunks.js';
import { SliceFetchError } from '../core/errors.js';
import { sliceKeys } from '../core/keys.js';
import { type PlannedSlice, plannedSlice, type SlicePlan } from '../core/plan.js';
import { rangeLength } from '../core/range.js';
import { ReorderBuffer } from '../core/reorder.js';
import type { ByteBudget } from './byte-budget.js';
import type { CacheGate } from './cache-gate.js';
import { claimFill } from './fill-claim.js';
import { type ObjectMetadata, sliceExpiry } from './metadata.js';
import { fetchSlice, type OriginDeps } from './origin-fetch.js';
import { AHEAD_PRIORITY, HEAD_PRIORITY } from './origin-scheduler.js';
import type { ReadBufferPool } from './read-buffer-pool.js';
import type { SingleFlight } from './single-flight.js';

/** Everything a reader needs about the request it serves. */
export interface ReadContext {
  readonly deps: OriginDeps;
  readonly cache: CacheGate;
  readonly flights: SingleFlight<Chunks>;
  readonly budget: ByteBudget;
  readonly meta: ObjectMetadata;
  readonly url: string;
  readonly requestId: string;
  /** Headers forwarded on sub-requests. */
  readonly headers: Readonly<Record<string, string>>;
  /** The request's abort signal. */
  readonly signal: AbortSignal;
  /** Where delivered slices came from, for the cache-status header. */
  readonly sources: { cache: number; origin: number };
  /** Lends store hits their memory when the consumer gives pieces back; `undefined`: fresh memory per hit. */
  readonly pool: ReadBufferPool | undefined;
}

/** The reference slice, already in hand: the reader takes it instead of fetching it again. */
export interface SeedSlice {
  readonly index: number;
  readonly chunks: Chunks;
}

/** Pulls the pieces of one planned range in order. */
export class SliceReader {
  readonly #ctx: ReadContext;
  readonly #plan: SlicePlan;
  readonly #buffer: ReorderBuffer<Held>;
  readonly #controller = new AbortController();
  readonly #onAbort: () => void;
  readonly #seed: SeedSlice | undefined;
  #launched: number;
  #waiter: { resolve: (piece: Chunks | null) => void; reject: (error: unknown) => void } | undefined;
  #error: SliceFetchError | undefined;
  readonly #keyOf: (index: number) => string;
  /** Whether fetched slices are written to the store (SPEC R7; scan resistance, see `CacheStorage.maxBytes`). */
  readonly #admit: boolean;

  constructor(ctx: ReadContext, plan: SlicePlan, seed?: SeedSlice) {
    this.#ctx = ctx;
    this.#keyOf = sliceKeys({
      objectKey: ctx.meta.objectKey,
      validator: ctx.meta.validator,
      sliceSize: ctx.deps.config.sliceSize,
    });
    this.#admit =
      ctx.meta.cacheable && ctx.cache.admits(plan.range === undefined ? 0 : rangeLength(plan.range));
    // Every slice in flight (up to `concurrency`, which may exceed Node's default of 10) listens on it.
    setMaxListeners(0, this.#controller.signal);
    this.#plan = plan;
    this.#seed = seed;
    this.#launched = plan.firstIndex;
    const { concurrency, sliceSize } = ctx.deps.config;
    this.#buffer = new ReorderBuffer<Held>(
      {
        firstIndex: plan.firstIndex,
        lastIndex: plan.count === 0 ? plan.firstIndex - 1 : plan.lastIndex,
        windowBytes: concurrency * sliceSize,
      },
      (held) => held.reserved,
    );
    this.#onAbort = () =>
      this.#fail(
        new SliceFetchError('ERR_SLICE_ABORTED', `Request for ${ctx.url} was aborted.`, { url: ctx.url }),
      );
    if (ctx.signal.aborted) this.#onAbort();
    else ctx.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Bytes this reader holds in its reorder buffer (never more than its window). */
  get bytesHeld(): number {
    return this.#buffer.bytesHeld;
  }

  /** The next piece in order, `null` at the end; rejects with the failure that ended the read. */
  next(): Promise<Chunks | null> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#waiter !== undefined)
      return Promise.reject(new Error('SliceReader.next() called while a read is pending'));
    const piece = this.#take();
    if (piece !== undefined) return Promise.resolve(piece);
    if (this.#buffer.done || this.#plan.count === 0) {
      this.#detach();
      return Promise.resolve(null);
    }
    this.#pump();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stops reading: aborts this reader's sub-requests (shared fills continue while others wait on them). */
  cancel(reason?: SliceFetchError): void {
    this.#fail(
      reason ??
        new SliceFetchError('ERR_SLICE_ABORTED', `Read of ${this.#ctx.url} was cancelled.`, {
          url: this.#ctx.url,
        }),
    );
  }

  /** Removes the next in-order slice from the buffer, trims it and gives its budget back. */
  #take(): Chunks | undefined {
    const index = this.#buffer.nextIndex;
    const held = this.#buffer.shift();
    if (held === undefined) return undefined;
    this.#ctx.budget.release(held.reserved);
    const { emit } = plannedSlice(this.#plan, index);
    const piece = sliceChunks(held.chunks, emit.start, emit.end);
    const bytes = rangeLength(emit);
    this.#ctx.sources[held.source]++;
    this.#ctx.deps.telemetry.onBytes({
      requestId: this.#ctx.requestId,
      url: this.#ctx.url,
      source: held.source,
      bytes,
    });
    this.#pump();
    return piece;
  }

  /** Starts lookups/fetches while the window and the budget allow. */
  #pump(): void {
    const { concurrency } = this.#ctx.deps.config;
    while (
      this.#error === undefined &&
      this.#launched <= this.#plan.lastIndex &&
      this.#launched - this.#buffer.nextIndex < concurrency
    ) {
      const index = this.#launched;
      const slice = plannedSlice(this.#plan, index);
      const bytes = rangeLength(slice.range);
      const isHead = index === this.#buffer.nextIndex;
      if (isHead) {
        // The in-order head always gets its turn (FIFO on the budget), so stalled responses cannot starve it.
        this.#launched++;
        this.#ctx.budget.acquire(bytes, this.#controller.signal).then(
          (reserved) => this.#load(slice, reserved, HEAD_PRIORITY),
          (error: unknown) => this.#settleFailure(error),
        );
        continue;
      }
      const reserved = this.#ctx.budget.tryAcquire(bytes);
      if (reserved === 0) return; // read-ahead waits until the budget has room
      this.#launched++;
      void this.#load(slice, reserved, AHEAD_PRIORITY);
    }
  }

  async #load(slice: PlannedSlice, reserved: number, priority: number): Promise<void> {
    if (this.#error !== undefined) {
      this.#ctx.budget.release(reserved);
      return;
    }
    try {
      const { chunks, source } = await this.#obtain(slice, priority);
      if (this.#error !== undefined) {
        this.#ctx.budget.release(reserved);
        return;
      }
      this.#buffer.push(slice.index, { chunks, reserved, source });
      this.#ctx.deps.telemetry.windowHeld(this.#buffer.bytesHeld);
      this.#deliver();
    } catch (error) {
      this.#ctx.budget.release(reserved);
      this.#settleFailure(error);
    }
  }

  /** A slice from the seed, the cache, or the origin (shared with concurrent requests for the same slice). */
  async #obtain(
    slice: PlannedSlice,
    priority: number,
  ): Promise<{ chunks: Chunks; source: 'cache' | 'origin' }> {
    const { meta, cache, deps, requestId, url } = this.#ctx;
    if (this.#seed?.index === slice.index) return { chunks: this.#seed.chunks, source: 'origin' };
    const event = { requestId, url, index: slice.index, range: slice.range };
    const key = this.#keyOf(slice.index);
    const length = rangeLength(slice.range);
    if (cache.enabled) {
      // Only a hit read here, for this reader alone, may use the pool: a piece shared with other readers (a
      // fill, a coalesced read) could be given back by one of them while another still sends it.
      const hit = await cache.get(key, length, event, this.#ctx.pool?.allocate);
      if (hit !== undefined) {
        deps.telemetry.onCacheHit({ ...event, bytes: length });
        return { chunks: hit, source: 'cache' };
      }
      deps.telemetry.onCacheMiss(event);
    }
    const facts = { size: meta.size, etag: meta.etag, lastModified: meta.lastModified };
    const { promise } = this.#ctx.flights.run(
      key,
      async ({ signal, hold }) => {
        // Across processes (R16): claim the fill in a shared store, or wait for the process that holds it.
        const claim =
          this.#admit && cache.coordinates
            ? await claimFill(cache, key, event, {
                read: () => cache.get(key, length, event),
                waitMs: deps.config.timeouts.coalesceMs,
                signal,
              })
            : 'own';
        if (typeof claim !== 'string') return claim;
        let chunks: Chunks;
        try {
          chunks = await fetchSlice(
            deps,
            {
              url,
              requestId,
              index: slice.index,
              range: slice.range,
              headers: this.#ctx.headers,
              signal,
              priority,
            },
            facts,
          );
        } catch (error) {
          if (claim === 'claimed') void cache.unlock(key, event);
          throw error;
        }
        if (this.#admit) {
          const entry = {
            kind: 'slice' as const,
            objectKey: meta.objectKey,
            validator: meta.validator,
            range: slice.range,
            size: meta.size,
            expiresAt: sliceExpiry(deps),
          };
          hold(
            cache.set(key, chunks, entry, event).then((stored) => {
              if (stored) deps.telemetry.onCacheStore({ ...event, bytes: length });
              if (claim === 'claimed') return cache.unlock(key, event); // only now can waiters read it
            }),
          );
        }
        return chunks;
      },
      { signal: this.#controller.signal, waitTimeoutMs: deps.config.timeouts.coalesceMs },
    );
    return { chunks: await promise, source: 'origin' };
  }

  #deliver(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const piece = this.#take();
    if (piece !== undefined) {
      this.#waiter = undefined;
      waiter.resolve(piece);
    } else if (this.#buffer.done) {
      this.#waiter = undefined;
      this.#detach();
      waiter.resolve(null);
    }
  }

  #settleFailure(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#fail(
      error instanceof SliceFetchError
        ? error
        : new SliceFetchError('ERR_SLICE_NETWORK', String(error), { url: this.#ctx.url, cause: error }),
    );
  }

  #fail(error: SliceFetchError): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#controller.abort(error);
    for (const held of this.#buffer.clear()) this.#ctx.budget.release(held.reserved);
    this.#detach();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  #detach(): void {
    this.#ctx.signal.removeEventListener('abort', this.#onAbort);
  }
}

// ---------------------------------------------------------------------------------------------------------

interface Held {
  readonly chunks: Chunks;
  readonly reserved: number;
  readonly source: 'cache' | 'origin';
}
