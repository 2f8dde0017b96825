/**
 * The one way to obtain a slice (R12, R19): every reader — the head of a response, its read-ahead, another
 * request's — asks here, and concurrent asks for one slice of one version in one sharing scope share one fill:
 *
 * 1. a fill already running under the slice's key (its key names object, version, scope and index) is joined;
 * 2. else a reference fetch of the same object, scope and slice still waiting for its head is joined, and used
 *    if its head names the same version and variant (a cold object asked for at several offsets at once);
 * 3. else a fill starts: one store lookup, shared by everyone who joins it; on a miss, a claim across processes
 *    when the store coordinates them (`fill-claim.ts`), the origin fetch, and the store write — fenced, so that a
 *    purge or a version retirement that happens meanwhile wins (`object-fence.ts`).
 *
 * A fill belongs to its waiters: when the last leaves, it is cancelled, unless it will be stored and already
 * has more than half its bytes — a seeking client usually comes back for it.
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import { sliceRange } from '../core/plan.js';
import { rangeLength } from '../core/range.js';
import type { SliceEvent } from '../ports.js';
import { claimFill } from './fill-claim.js';
import { type ObjectMetadata, sliceExpiry } from './metadata.js';
import { fetchSlice } from './origin-fetch.js';
import type { RedirectMode } from './redirects.js';
import type { Engine, ReferenceHead } from './request-types.js';
import { type FlightContext, type Lease, runAlone } from './single-flight.js';

/** A slice as a fill hands it out. */
export interface SliceValue {
  readonly chunks: Chunks;
  readonly source: 'cache' | 'origin';
  /**
   * The chunks live in memory lent by the read-buffer pool (read into by the store or from the origin) to the
   * reader that started the fill.
   */
  readonly lent: boolean;
}

/** One slice wanted by one reader. */
export interface SliceWant {
  /** The version (and sharing scope) the slice must belong to. */
  readonly meta: ObjectMetadata;
  readonly index: number;
  /** The slice's key: `sliceKeys(meta)(index)`. */
  readonly key: string;
  readonly url: string;
  readonly requestId: string;
  /** Headers forwarded on sub-requests. */
  readonly headers: Readonly<Record<string, string>>;
  readonly priority: number;
  /** Whether a slice fetched from the origin is written to the store (cacheable, admitted). */
  readonly store: boolean;
  /** Memory for the store read, when the reader gives its pieces back (see `ReadBufferPool`). */
  readonly allocate: ((bytes: number) => Uint8Array) | undefined;
}

/**
 * Obtains one slice: joins the fill that is running for it or starts one. Rejects with the fill's failure, or
 * `ERR_SLICE_ABORTED` when `signal` aborts (which also leaves the fill).
 *
 * @example
 * ```ts
 * const { chunks, source } = await obtainSlice(engine, want, reader.signal);
 * ```
 */
export async function obtainSlice(engine: Engine, want: SliceWant, signal: AbortSignal): Promise<SliceValue> {
  // Joining and starting happen in one synchronous step, so two readers can never both start one fill.
  let lease = engine.fills.join(want.key, signal);
  if (lease === undefined) {
    const reference = await joinReference(engine, want, signal);
    lease = reference ?? engine.fills.join(want.key, signal) ?? startFill(engine, want, signal);
  }
  let value: SliceValue | undefined;
  if (!lease.joined) value = await lease.value;
  else {
    const waited = await withinCoalesceWait(engine, lease);
    // A fill that hangs must not hang its joiners: past the wait they run their own, unshared.
    value = waited ?? (await runAlone((context) => fillSlice(engine, want, context), signal));
  }
  if (value === undefined) throw new Error(`fill of slice ${want.index} of ${want.url} ended without bytes`);
  // Lent memory goes back to the pool when its starter's consumer is done: a joiner needs bytes of its own.
  if (lease.joined && value.lent)
    return { ...value, chunks: value.chunks.map((c) => Buffer.from(c)), lent: false };
  return value;
}

/**
 * The key under which a reference fetch of `index` waits for its head, per credential scope — and per redirect
 * mode other than `follow`, whose answer (a 3xx) is not the object's.
 */
export function referenceKey(
  objectKey: string,
  base: string,
  index: number,
  redirect: RedirectMode = 'follow',
): string {
  const key = `ref\u0000${base}\u0000${objectKey}\u0000${index}`;
  return redirect === 'follow' ? key : `${key}\u0000${redirect}`;
}

/** The fill's work: one store lookup; on a miss, claim, fetch from the origin and write back (fenced). */
async function fillSlice(
  engine: Engine,
  want: SliceWant,
  context: FlightContext<ReferenceHead>,
): Promise<SliceValue> {
  const { cache, deps } = engine;
  const { meta, index, key } = want;
  const range = sliceRange(index, meta.size, deps.config.sliceSize);
  const length = rangeLength(range);
  const event: SliceEvent = { requestId: want.requestId, url: want.url, index, range };
  const ticket = engine.fence.enter(meta.objectKey);
  // The ticket stays until the store write settled: a purge waits for that write, not for the fill's waiters.
  let leaveAfter: Promise<unknown> | undefined;
  try {
    if (cache.enabled) {
      const hit = await cache.get(key, length, event, want.allocate);
      if (hit !== undefined) {
        deps.telemetry.onCacheHit({ ...event, bytes: length });
        // Only a store that reads into the memory it is offered (a disk) lends; a memory store hands its own.
        return { chunks: hit, source: 'cache', lent: want.allocate !== undefined && engine.pool.lends(hit) };
      }
      deps.telemetry.onCacheMiss(event);
    }
    const progress = { received: 0 };
    // Across processes (R16): claim the fill in a shared store — renewed while `progress` grows (R22) — or
    // wait for the process that holds it.
    const claim =
      want.store && cache.coordinates
        ? await claimFill(cache, key, event, {
            read: () => cache.get(key, length, event),
            waitMs: deps.config.timeouts.coalesceMs,
            signal: context.signal,
            progress,
          })
        : 'own';
    if (typeof claim !== 'string') return { chunks: claim, source: 'origin', lent: false };
    context.finishAlone(() => want.store && progress.received * 2 > length);
    // A store that is done with the bytes once written (a disk) lets them be read into memory the reader gives
    // back: the pool reuses it when both the response and the store write gave it back. Only a slice that fills
    // most of a pooled buffer, though: the write budget counts the slice's bytes, not the buffer's.
    const recycled =
      want.allocate !== undefined &&
      (!want.store || (cache.copiesValues && length * 2 >= engine.pool.capacity));
    let chunks: Chunks;
    try {
      chunks = await fetchSlice(
        deps,
        {
          url: want.url,
          requestId: want.requestId,
          index,
          range,
          headers: want.headers,
          signal: context.signal,
          priority: want.priority,
          progress,
          // Memory the reader gives back, unless the store keeps the slice (it then keeps that memory too);
          // otherwise one fresh buffer per slice — never a pile of socket reads kept for as long as the slice.
          allocate: recycled ? (want.allocate as (bytes: number) => Uint8Array) : ownMemory,
        },
        meta,
      );
    } catch (error) {
      if (claim === 'claimed') void cache.unlock(key, event);
      throw error;
    }
    const lent = recycled && engine.pool.lends(chunks);
    let written = Promise.resolve();
    let storeDone = Promise.resolve();
    if (want.store) {
      let finished = noop;
      storeDone = new Promise<void>((resolve) => {
        finished = resolve;
      });
      written = storeSlice(engine, meta, key, chunks, event, ticket, () => finished());
    }
    leaveAfter = written;
    const joinable = claim === 'claimed' ? written.then(() => cache.unlock(key, event)) : written;
    context.hold(joinable);
    if (lent && want.store) {
      // The store write's share of the memory, given back once the store is done with it (its own `set`
      // settled, maybe after `timeouts.cacheMs`) and the fill can no longer be joined: this reaction comes after
      // the flight's own, so no joiner ever gets memory the pool may have lent again.
      const giveBack = engine.pool.hold(chunks);
      void Promise.allSettled([joinable, storeDone]).then(giveBack);
    }
    return { chunks, source: 'origin', lent };
  } finally {
    if (leaveAfter === undefined) ticket.leave();
    else void leaveAfter.then(() => ticket.leave());
  }
}

/**
 * Writes a slice fetched from the origin to the store unless a purge or version retirement of its object came
 * since `ticket` was taken; resolves when written, skipped or failed (never rejects).
 */
export function storeSlice(
  engine: Engine,
  meta: ObjectMetadata,
  key: string,
  chunks: Chunks,
  event: SliceEvent,
  ticket: { write(write: () => Promise<unknown>): Promise<boolean> },
  done: () => void = noop,
): Promise<void> {
  const { cache, deps } = engine;
  const entry = {
    kind: 'slice' as const,
    objectKey: meta.objectKey,
    validator: meta.validator,
    range: event.range,
    size: meta.size,
    expiresAt: sliceExpiry(deps),
  };
  return ticket
    .write(() =>
      cache.set(key, chunks, entry, event, done).then((stored) => {
        if (stored) deps.telemetry.onCacheStore({ ...event, bytes: rangeLength(event.range) });
      }),
    )
    .then((wrote) => {
      if (!wrote) done(); // fenced off by a purge: the store never saw the chunks
    });
}

/** Memory a slice read from the origin keeps for itself: one buffer, outside Node's shared pool. */
function ownMemory(bytes: number): Uint8Array {
  return Buffer.allocUnsafeSlow(bytes);
}

// ---------------------------------------------------------------------------------------------------------

type SliceLease = Lease<SliceValue | undefined, ReferenceHead>;

/** A reference fetch of the slice still waiting for its head, if that head names the wanted version. */
async function joinReference(
  engine: Engine,
  want: SliceWant,
  signal: AbortSignal,
): Promise<SliceLease | undefined> {
  const { meta } = want;
  const reference = engine.fills.join(referenceKey(meta.objectKey, meta.base, want.index), signal);
  if (reference === undefined) return undefined;
  const head = await reference.head.catch(() => undefined);
  if (isHeadOf(head, meta)) return reference;
  reference.release();
  signal.throwIfAborted();
  return undefined;
}

function startFill(engine: Engine, want: SliceWant, signal: AbortSignal): SliceLease {
  return engine.fills.start(
    want.key,
    want.meta.objectKey,
    (context) => fillSlice(engine, want, context),
    signal,
  );
}

/** The joined fill's value, or `undefined` when it did not come within `timeouts.coalesceMs`. */
function withinCoalesceWait(engine: Engine, lease: SliceLease): Promise<SliceValue | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      lease.release();
      resolve(undefined);
    }, engine.deps.config.timeouts.coalesceMs);
  });
  return Promise.race([lease.value, expired]).finally(() => clearTimeout(timer));
}

/** Whether a reference fill's head is the slice of version `meta` (same validator, size and variant). */
function isHeadOf(head: ReferenceHead | undefined, meta: ObjectMetadata): boolean {
  return (
    head?.kind === 'sliced' &&
    head.meta.validator === meta.validator &&
    head.meta.size === meta.size &&
    head.meta.scope === meta.scope
  );
}

function noop(): void {}
