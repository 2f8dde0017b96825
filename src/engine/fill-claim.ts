/**
 * Coalescing across processes (R12, R16): before a slice fill goes to the origin, it claims the slice in
 * a shared store (`CacheStorage.lock`); when another process holds the claim, it polls the store for
 * that process's value instead, with a short doubling backoff, until the value lands, the claim is released
 * or lapses (then it claims the fill itself), `timeouts.coalesceMs` passes, or its signal aborts. Runs inside
 * the in-process single-flight's work, so one process asks once per slice however many requests want it.
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
  /** Aborts the wait (the fill's waiters all left). */
  readonly signal: AbortSignal;
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
  const { read, waitMs, signal, readWhileHeld = true } = options;
  const deadline = performance.now() + waitMs;
  const ttlMs = Math.min(waitMs, MAX_CLAIM_MS);
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    const claimed = await cache.lock(key, ttlMs, event);
    if (claimed === undefined) return 'own'; // the store failed: fetch now, skip its further round trips
    if (claimed) {
      // Read again even on the first claim: a holder may have written the value and released its claim
      // between our caller's miss and our claim (a release always follows the write, so one read suffices).
      const landed = await read();
      if (landed === undefined) return 'claimed';
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
/** A claim outlives no wait: past it, a holder that died is replaced by the next claimer. */
const MAX_CLAIM_MS = 30_000;

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
