/**
 * A global budget of slice bytes held in memory by all responses of one fetcher — a weighted semaphore on
 * bytes (docs/design.md, "A global byte budget"). Per-response windows bound one response; only a shared
 * budget bounds a fleet of them. Requests are clamped to the total, so a slice larger than the budget
 * serialises instead of deadlocking, and waiters are served first-in first-out.
 *
 * Nobody holds it hostage (R20, P28): a holder whose consumer is not reading says so ({@link ByteBudget.idle}),
 * and when a request cannot be served, holders idle for longer than `idleMs` are made to give back what they
 * hold — longest idle first — until it can. A stalled response thus costs the budget nothing while others
 * wait. The grace keeps a consumer that is merely between two reads from losing its read-ahead.
 *
 * @module
 */
import { abortError } from '../core/errors.js';

/** A holder of reserved bytes that can give them back while its consumer does not read. */
export interface Reclaimable {
  /** Releases everything it holds (through {@link ByteBudget.release}) and stops holding. */
  reclaim(): void;
}

/** A semaphore counting bytes. */
export class ByteBudget {
  readonly total: number;
  #used = 0;
  #peak = 0;
  #waiters: Waiter[] = [];
  /** Holders whose consumer is not reading, with when they went idle, oldest first. */
  readonly #idle = new Map<Reclaimable, number>();
  readonly #idleMs: number;
  readonly #now: () => number;
  #reclaims = 0;
  /** Runs the next reclaim when a waiter waits for a holder to pass its grace. */
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param total Bytes in the budget.
   * @param options `idleMs`: how long a holder must have been idle to be reclaimed (default 250); `now`: the
   * clock in milliseconds (default `performance.now`).
   */
  constructor(total: number, options: { readonly idleMs?: number; readonly now?: () => number } = {}) {
    this.total = total;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.#now = options.now ?? (() => performance.now());
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

  /** Times an idle holder was made to give its bytes back. */
  get reclaims(): number {
    return this.#reclaims;
  }

  /** `holder` is not reading: it may be made to give its bytes back when somebody waits. */
  idle(holder: Reclaimable): void {
    this.#idle.delete(holder); // re-inserted last: the map stays ordered by idle time
    this.#idle.set(holder, this.#now());
    if (this.#waiters.length > 0 && this.#timer === undefined) this.#reclaim();
  }

  /** `holder` reads again (or holds nothing any more): it keeps what it holds. */
  busy(holder: Reclaimable): void {
    this.#idle.delete(holder);
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
    if (signal?.aborted) return Promise.reject(abortError(signal.reason, 'Waiting for memory budget'));
    const waiting = new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { amount: this.#clamp(bytes), resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          if (this.#waiters.length === 0) this.#clearTimer();
          reject(abortError(signal.reason, 'Waiting for memory budget'));
          this.#drain();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
    this.#reclaim();
    return waiting;
  }

  /** Returns `amount` reserved bytes and wakes waiters that now fit. */
  release(amount: number): void {
    if (amount <= 0) return;
    this.#used = Math.max(0, this.#used - amount);
    this.#drain();
  }

  /**
   * Makes holders idle past their grace give back, longest idle first, until the first waiter fits; if one
   * that is idle has not passed its grace yet, comes back when it has.
   */
  #reclaim(): void {
    this.#clearTimer();
    const now = this.#now();
    for (const [holder, since] of this.#idle) {
      const head = this.#waiters[0];
      if (head === undefined || this.#used + head.amount <= this.total) return;
      const left = since + this.#idleMs - now;
      if (left > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#reclaim();
        }, Math.ceil(left));
        this.#timer.unref();
        return;
      }
      this.#idle.delete(holder);
      this.#reclaims++;
      holder.reclaim();
    }
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #clamp(bytes: number): number {
    return Math.min(Math.max(bytes, 1), this.total);
  }

  #drain(): void {
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0] as Waiter;
      if (this.#used + head.amount > this.total) return;
      if (this.#waiters.length === 1) this.#clearTimer();
      this.#waiters.shift();
      this.#used += head.amount;
      if (this.#used > this.#peak) this.#peak = this.#used;
      if (head.onAbort !== undefined) head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve(head.amount);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

/** A consumer idle this long while somebody waits for memory is taken to have stalled. */
const DEFAULT_IDLE_MS = 250;

interface Waiter {
  readonly amount: number;
  readonly resolve: (amount: number) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}
