/**
 * A circuit breaker for a store outside the process (R22): after `failureThreshold` failures in a row (timeouts,
 * lost connections) it *opens* and callers stop asking — they fail open at once instead of waiting for a timeout
 * each. After `cooldownMs` it lets one probe through (*half-open*): a success closes it, a failure opens it for
 * another cooldown. A hung store then costs the calls in flight when it hung plus one probe per cooldown, not
 * one timeout per slice. Pure: the clock is injected, and nothing here sets a timer.
 *
 * @module
 */

/** `closed`: calls go through; `open`: calls are refused; `half-open`: one probe is in flight. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Options of {@link createCircuitBreaker}, all already validated by the adapter that owns the breaker. */
export interface CircuitBreakerOptions {
  /** Failures in a row that open the breaker (a success in between starts the count again). */
  readonly failureThreshold: number;
  /** How long the breaker stays open before it lets one probe through, in milliseconds. */
  readonly cooldownMs: number;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
}

/** Counters of one breaker, for stats and metrics. */
export interface BreakerStats {
  readonly state: BreakerState;
  /** Times the breaker opened (from closed, or again after a failed probe). */
  readonly opened: number;
  /** Calls refused while open, or while a probe was in flight. */
  readonly refused: number;
}

/** The state machine; see the module notes. */
export interface CircuitBreaker {
  /**
   * Whether a call may go now. `true` while closed; when open and the cooldown has passed, `true` once (the
   * probe) and the breaker is half-open until that call reports back. Every `true` must be followed by one
   * {@link CircuitBreaker.succeeded} or {@link CircuitBreaker.failed}.
   */
  allow(): boolean;
  /** The call answered (an error reply from the server counts: the server is there). */
  succeeded(): void;
  /** The call timed out or lost its connection. */
  failed(): void;
  /** The current counters. */
  stats(): BreakerStats;
}

/**
 * Creates a closed breaker.
 *
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ failureThreshold: 5, cooldownMs: 5000, now: () => performance.now() });
 * if (!breaker.allow()) return undefined; // fail open: a miss
 * try { const value = await get(); breaker.succeeded(); return value; }
 * catch (error) { if (isTimeout(error)) breaker.failed(); else breaker.succeeded(); throw error; }
 * ```
 */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const { failureThreshold, cooldownMs, now } = options;
  let state: BreakerState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let opened = 0;
  let refused = 0;

  function open(): void {
    state = 'open';
    openedAt = now();
    opened++;
    failures = 0;
  }

  return {
    allow() {
      if (state === 'closed') return true;
      if (state === 'open' && now() - openedAt >= cooldownMs) {
        state = 'half-open';
        return true;
      }
      refused++;
      return false;
    },
    succeeded() {
      state = 'closed';
      failures = 0;
    },
    failed() {
      // A call that went out while closed may report after the breaker opened: it changes nothing then.
      if (state === 'half-open') open();
      else if (state === 'closed' && ++failures >= failureThreshold) open();
    },
    stats() {
      return { state, opened, refused };
    },
  };
}
