/**
 * A global budget of slice bytes held in memory by all responses of one fetcher — a weighted semaphore on
 * bytes (PERFORMANCE.md §10). Per-response windows bound one response; only a shared budget bounds a
 * fleet of them. Requests are clamped to the total, so a slice larger than the budget serialises instead of
 * deadlocking, and waiters are served first-in first-out.
 *
 * @module
 */
import { SliceFetchError } from '../core/errors.js';

/** A semaphore counting bytes. */
export class ByteBudget {
  readonly total: number;
  #used = 0;
  #peak = 0;
  #waiters: Waiter[] = [];

  constructor(total: number) {
    this.total = total;
  }

  /** Bytes currently reserved. */
  get used(): number {
    return this.#used;
  }

  /** The most bytes ever reserved at once (never above `total`); tests and stats read it. */
  get peak(): number {
    return this.#peak;
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Reserves `bytes` now if they fit and nobody is queued ahead; returns the amount reserved, or 0. */
  tryAcquire(bytes: number): number {
    const amount = this.#clamp(bytes);
    if (this.#waiters.length > 0 || this.#used + amount > this.total) return 0;
    this.#used += amount;
    if (this.#used > this.#peak) this.#peak = this.#used;
    return amount;
  }

  /** Reserves `bytes`, waiting in line for them; resolves the amount reserved (pass it to `release`). */
  acquire(bytes: number, signal?: AbortSignal): Promise<number> {
    const now = this.tryAcquire(bytes);
    if (now > 0) return Promise.resolve(now);
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { amount: this.#clamp(bytes), resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(abortError());
          this.#drain();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /** Returns `amount` reserved bytes and wakes waiters that now fit. */
  release(amount: number): void {
    if (amount <= 0) return;
    this.#used = Math.max(0, this.#used - amount);
    this.#drain();
  }

  #clamp(bytes: number): number {
    return Math.min(Math.max(bytes, 1), this.total);
  }

  #drain(): void {
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0] as Waiter;
      if (this.#used + head.amount > this.total) return;
      this.#waiters.shift();
      this.#used += head.amount;
      if (this.#used > this.#peak) this.#peak = this.#used;
      if (head.onAbort !== undefined) head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve(head.amount);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

interface Waiter {
  readonly amount: number;
  readonly resolve: (amount: number) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

function abortError(): SliceFetchError {
  return new SliceFetchError('ERR_SLICE_ABORTED', 'Aborted while waiting for memory budget.');
}
