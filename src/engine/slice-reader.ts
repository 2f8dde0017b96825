/**
 * Reads one planned byte range of an object as in-order pieces (R5, R6): slices are obtained ahead of the
 * consumer by at most `concurrency` and only while the global byte budget allows, early slices wait in the
 * bounded reorder buffer, and each piece is handed out trimmed to the range. Pull-based: nothing is obtained
 * beyond the window until the consumer takes the next piece, which is how a slow consumer slows the fetching.
 *
 * Memory (R20, P23, P28): a slice costs the budget from before it is obtained until the consumer takes it,
 * except the next slice in order when an in-process store holds it — memory the store already counts, so a
 * warm read never waits for budget. A reader whose consumer is not reading tells the budget it is idle; when
 * somebody waits for budget, an idle reader gives back everything — slices held and slices still coming — and
 * obtains them again when its consumer returns.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { type Chunks, sliceChunks } from '../core/chunks.js';
import { abortError, type SliceFetchError, toSliceFetchError } from '../core/errors.js';
import { type PlannedSlice, plannedSlice, type SlicePlan } from '../core/plan.js';
import { rangeLength } from '../core/range.js';
import { ReorderBuffer } from '../core/reorder.js';
import type { Reclaimable } from './byte-budget.js';
import type { ObjectMetadata } from './metadata.js';
import { AHEAD_PRIORITY, HEAD_PRIORITY } from './origin-scheduler.js';
import type { Engine } from './request-types.js';
import { obtainSlice } from './slice-fill.js';

/** Everything a reader needs about the request it serves. */
export interface ReadContext {
  readonly engine: Engine;
  readonly meta: ObjectMetadata;
  /** The slice keys of `meta`'s version and scope. */
  readonly keyOf: (index: number) => string;
  readonly url: string;
  readonly requestId: string;
  /** Headers forwarded on sub-requests. */
  readonly headers: Readonly<Record<string, string>>;
  /** The request's abort signal. */
  readonly signal: AbortSignal;
  /** Where delivered slices came from, for the cache status and the outcome. */
  readonly sources: { cache: number; origin: number };
  /** Whether store hits may read into pooled memory (the consumer gives pieces back). */
  readonly recycle: boolean;
  /** Whether slices fetched from the origin are written to the store (cacheable and admitted). */
  readonly store: boolean;
}

/** Pulls the pieces of one planned range in order. */
export class SliceReader implements Reclaimable {
  readonly #ctx: ReadContext;
  readonly #plan: SlicePlan;
  readonly #buffer: ReorderBuffer<Held>;
  /** Aborted when the read ends, and when the reader gives its memory back (then replaced). */
  #epoch = epochController();
  /** Slices being obtained, with what they reserved. */
  readonly #loads = new Map<number, { reserved: number }>();
  readonly #onAbort: () => void;
  #launched: number;
  #waiter: { resolve: (piece: Chunks | null) => void; reject: (error: unknown) => void } | undefined;
  #error: SliceFetchError | undefined;

  constructor(ctx: ReadContext, plan: SlicePlan) {
    this.#ctx = ctx;
    this.#plan = plan;
    this.#launched = plan.firstIndex;
    const { concurrency, sliceSize } = ctx.engine.deps.config;
    this.#buffer = new ReorderBuffer<Held>(
      {
        firstIndex: plan.firstIndex,
        lastIndex: plan.count === 0 ? plan.firstIndex - 1 : plan.lastIndex,
        windowBytes: concurrency * sliceSize,
      },
      (held) => held.bytes,
    );
    this.#onAbort = () =>
      this.#fail(abortError(ctx.signal.reason, `Request for ${ctx.url}`, { url: ctx.url }));
    if (ctx.signal.aborted) this.#onAbort();
    else ctx.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The next piece in order, `null` at the end; rejects with the failure that ended the read. */
  next(): Promise<Chunks | null> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#waiter !== undefined)
      return Promise.reject(new Error('SliceReader.next() called while a read is pending'));
    this.#ctx.engine.budget.busy(this);
    const piece = this.#take();
    if (piece !== undefined) {
      this.#rest();
      return Promise.resolve(piece);
    }
    if (this.#buffer.done || this.#plan.count === 0) {
      this.#detach();
      return Promise.resolve(null);
    }
    this.#pump();
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stops reading: leaves every fill (shared fills continue while others wait on them). */
  cancel(reason?: SliceFetchError): void {
    this.#fail(reason ?? abortError(undefined, `Read of ${this.#ctx.url}`, { url: this.#ctx.url }));
  }

  /** Gives back every byte reserved — held slices and slices still coming — to obtain them again later. */
  reclaim(): void {
    if (this.#error !== undefined) return;
    const { budget } = this.#ctx.engine;
    for (const load of this.#loads.values()) {
      budget.release(load.reserved);
      load.reserved = 0;
    }
    this.#loads.clear();
    for (const held of this.#buffer.drop()) budget.release(held.reserved);
    this.#launched = this.#buffer.nextIndex;
    const epoch = this.#epoch;
    this.#epoch = epochController();
    epoch.abort(abortError(undefined, `Read-ahead of ${this.#ctx.url} (its consumer is not reading)`));
  }

  /** Removes the next in-order slice from the buffer, trims it and gives its budget back. */
  #take(): Chunks | undefined {
    const index = this.#buffer.nextIndex;
    const held = this.#buffer.shift();
    if (held === undefined) return undefined;
    const { engine, sources, requestId, url } = this.#ctx;
    engine.budget.release(held.reserved);
    const { emit } = plannedSlice(this.#plan, index);
    const piece = sliceChunks(held.chunks, emit.start, emit.end);
    sources[held.source]++;
    engine.deps.telemetry.onBytes({ requestId, url, source: held.source, bytes: rangeLength(emit) });
    this.#pump();
    return piece;
  }

  /** The consumer has its piece and is not waiting: what this reader holds may be reclaimed meanwhile. */
  #rest(): void {
    if (this.#error === undefined && !this.#buffer.done) this.#ctx.engine.budget.idle(this);
  }

  /** Starts obtaining slices while the window and the budget allow. */
  #pump(): void {
    const { engine } = this.#ctx;
    const { concurrency } = engine.deps.config;
    while (
      this.#error === undefined &&
      this.#launched <= this.#plan.lastIndex &&
      this.#launched - this.#buffer.nextIndex < concurrency
    ) {
      const index = this.#launched;
      const slice = plannedSlice(this.#plan, index);
      const bytes = rangeLength(slice.range);
      if (index === this.#buffer.nextIndex && this.#resident(index)) {
        // The next slice held by an in-process store costs no budget: that memory is counted by the store. Only
        // this one — read-ahead of hits reserves like any other, since the store may evict what a reader holds.
        this.#launched++;
        void this.#load(slice, 0, HEAD_PRIORITY);
      } else if (index === this.#buffer.nextIndex) {
        // The in-order head always gets its turn (in line for the budget), so stalled responses cannot starve it.
        this.#launched++;
        const epoch = this.#epoch;
        engine.budget.acquire(bytes, epoch.signal).then(
          (reserved) => {
            if (epoch === this.#epoch && this.#error === undefined)
              void this.#load(slice, reserved, HEAD_PRIORITY);
            else engine.budget.release(reserved);
          },
          (error: unknown) => {
            if (epoch === this.#epoch) this.#settleFailure(error);
          },
        );
      } else {
        const reserved = engine.budget.tryAcquire(bytes);
        if (reserved === 0) return; // read-ahead waits until the budget has room
        this.#launched++;
        void this.#load(slice, reserved, AHEAD_PRIORITY);
      }
    }
  }

  /** Whether slice `index` is held by an in-process store: memory counted already, so it costs no budget. */
  #resident(index: number): boolean {
    const { cache } = this.#ctx.engine;
    return cache.inProcess && cache.has(this.#ctx.keyOf(index), this.#ctx) === true;
  }

  async #load(slice: PlannedSlice, reserved: number, priority: number): Promise<void> {
    const { engine } = this.#ctx;
    const epoch = this.#epoch;
    const load = { reserved };
    this.#loads.set(slice.index, load);
    try {
      const value = await obtainSlice(
        engine,
        {
          meta: this.#ctx.meta,
          index: slice.index,
          key: this.#ctx.keyOf(slice.index),
          url: this.#ctx.url,
          requestId: this.#ctx.requestId,
          headers: this.#ctx.headers,
          priority,
          store: this.#ctx.store,
          allocate: this.#ctx.recycle ? engine.pool.allocate : undefined,
        },
        epoch.signal,
      );
      if (epoch !== this.#epoch || this.#error !== undefined) return; // reclaimed or ended meanwhile
      this.#loads.delete(slice.index);
      this.#buffer.push(slice.index, {
        chunks: value.chunks,
        reserved: load.reserved,
        source: value.source,
        bytes: rangeLength(slice.range),
      });
      engine.deps.telemetry.windowHeld(this.#buffer.bytesHeld);
      this.#deliver();
    } catch (error) {
      if (epoch !== this.#epoch || this.#error !== undefined) return;
      this.#loads.delete(slice.index);
      engine.budget.release(load.reserved);
      this.#settleFailure(error);
    }
  }

  #deliver(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const piece = this.#take();
    if (piece !== undefined) {
      this.#waiter = undefined;
      waiter.resolve(piece);
      this.#rest();
    } else if (this.#buffer.done) {
      this.#waiter = undefined;
      this.#detach();
      waiter.resolve(null);
    }
  }

  #settleFailure(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#fail(toSliceFetchError(error, { url: this.#ctx.url }));
  }

  #fail(error: SliceFetchError): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    const { budget } = this.#ctx.engine;
    this.#epoch.abort(error);
    for (const load of this.#loads.values()) budget.release(load.reserved);
    this.#loads.clear();
    for (const held of this.#buffer.clear()) budget.release(held.reserved);
    this.#detach();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  #detach(): void {
    this.#ctx.engine.budget.busy(this);
    this.#ctx.signal.removeEventListener('abort', this.#onAbort);
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Every slice in flight listens on the epoch (its lease, its wait for budget): `concurrency` may exceed Node's
 * default of ten listeners, which would print a leak warning for an ordinary response.
 */
function epochController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

interface Held {
  readonly chunks: Chunks;
  /** Budget reserved for it (0 for a hit of an in-process store). */
  readonly reserved: number;
  readonly source: 'cache' | 'origin';
  /** The slice's length, for the window. */
  readonly bytes: number;
}
