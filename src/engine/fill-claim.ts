/**
 * Coalescing across processes (R12, R16): before a slice fill goes to the origin, it claims the slice in
 * a shared store (`CacheStorage.lock`); when another process holds the claim, it polls the store for
 * that process's value instead, with a short doubling backoff, until the value lands, the claim is released
 * or lapses (then it claims the fill itself), `timeouts.coalesceMs` passes, or its signal aborts. Runs inside
 * the in-process single-flight's work, so one process asks once per slice however many requests want it.
 *
 * Claims are short and renewed (R22): a claim lives `CacheStorage.lockMs` (the store's choice, 5 s for Redis),
 * and the holder renews it (`CacheStorage.renew`) about every third of that while its fill receives bytes. A
 * holder that dies, or whose fill stalls, stops renewing, so the others take over within one lifetime rather
 * than after `timeouts.coalesceMs`.
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import { abortError, type SliceFetchError } from '../core/errors.js';
import type { RequestEventBase } from '../ports.js';
import type { CacheGate } from './cache-gate.js';

/**
 * The outcome of {@link claimFill}: the other process's value, `claimed` (fetch, store, then
 * `cache.unlock`) or `own` (fetch without a claim: waited too long, or the store cannot claim).
 */
export type FillClaim<T = Chunks> = T | 'claimed' | 'own';

/** The waiting limits of one {@link claimFill}. */
export interface ClaimOptions<T> {
  /** Reads the other process's value from the store (`undefined` while it has not landed). */
  readonly read: () => Promise<T | undefined>;
  /**
   * Whether a value found while another process still holds the claim counts. `false` waits for the release:
   * for a value made of several entries (metadata and the reference slice) that land one after the other.
   * @default true
   */
  readonly readWhileHeld?: boolean;
  /** How long to wait for another process's value before fetching anyway (`timeouts.coalesceMs`). */
  readonly waitMs: number;
  /** Aborts the wait (the fill's waiters all left), and stops renewing a claim that was taken. */
  readonly signal: AbortSignal;
  /**
   * Bytes the fill has received so far, counted by its fetch. When given, a claim taken is renewed while this
   * grows (and left to lapse when it stops); without it the claim lives its lifetime and no longer.
   */
  readonly progress?: { readonly received: number };
}

/**
 * Claims the fill of `key` or waits for the process that holds it. Only call it when `cache.coordinates`
 * (a process-local store pays nothing). A value found while waiting is returned as the fill's result — the
 * request still counts it as an origin fill (a miss), exactly like joining an in-process single-flight.
 *
 * @throws {SliceFetchError} `ERR_SLICE_ABORTED` when `signal` aborts while waiting.
 * @example
 * ```ts
 * const claim = await claimFill(cache, key, event, { read: () => cache.get(key, length, event), waitMs: 30_000, signal });
 * if (typeof claim !== 'string') return claim; // another process filled it
 * ```
 */
export async function claimFill<T>(
  cache: CacheGate,
  key: string,
  event: RequestEventBase,
  options: ClaimOptions<T>,
): Promise<FillClaim<T>> {
  const { read, waitMs, signal, readWhileHeld = true, progress } = options;
  const deadline = performance.now() + waitMs;
  const ttlMs = Math.min(waitMs, cache.lockMs ?? MAX_CLAIM_MS);
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    const claimed = await cache.lock(key, ttlMs, event);
    if (claimed === undefined) return 'own'; // the store failed: fetch now, skip its further round trips
    if (claimed) {
      // Read again even on the first claim: a holder may have written the value and released its claim
      // between our caller's miss and our claim (a release always follows the write, so one read suffices).
      const landed = await read();
      if (landed === undefined) {
        if (progress !== undefined) keepClaim(cache, key, ttlMs, progress, event, signal);
        return 'claimed';
      }
      void cache.unlock(key, event);
      return landed;
    }
    if (readWhileHeld) {
      const found = await read();
      if (found !== undefined) return found;
    }
    const left = deadline - performance.now();
    if (left <= 0) return 'own';
    await sleep(Math.min(pause, left), signal);
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
}

// ---------------------------------------------------------------------------------------------------------

const FIRST_PAUSE_MS = 10;
const MAX_PAUSE_MS = 100;
/** The lifetime of a claim when the store does not choose one (`CacheStorage.lockMs`). */
const MAX_CLAIM_MS = 30_000;

/**
 * Renews a claim about every third of its lifetime while `progress` grows. Stops at the first renewal that
 * fails or finds the claim gone (released after the fill, or lapsed and taken by another process), when
 * `signal` aborts, or once a whole lifetime passed without progress (the claim has lapsed by itself then).
 */
function keepClaim(
  cache: CacheGate,
  key: string,
  ttlMs: number,
  progress: { readonly received: number },
  event: RequestEventBase,
  signal: AbortSignal,
): void {
  const everyMs = Math.max(1, Math.floor(ttlMs / 3));
  let seen = progress.received;
  let renewedAt = performance.now();
  const tick = async (): Promise<void> => {
    if (signal.aborted) return;
    if (progress.received === seen) {
      if (performance.now() - renewedAt < ttlMs) schedule();
      return;
    }
    seen = progress.received;
    if (!(await cache.renew(key, ttlMs, event))) return;
    renewedAt = performance.now();
    schedule();
  };
  // One timer at a time (the next is set once a renewal answered), never keeping the process alive.
  const schedule = (): void => {
    setTimeout(() => void tick(), everyMs).unref();
  };
  schedule();
}

/** Resolves after `ms`, or rejects at once on abort; the timer never outlives either. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(aborted(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): SliceFetchError {
  return abortError(signal.reason, 'Waiting for a fill another process holds');
}
