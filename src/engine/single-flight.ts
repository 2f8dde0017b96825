/**
 * Single-flight: concurrent requests for the same key share one execution (SPEC R12, P22). Each waiter's
 * abort detaches only that waiter; the shared execution is aborted when the last waiter leaves, unless the
 * policy is `complete` (finish it to fill the cache). A waiter that has waited `waitTimeoutMs` on somebody
 * else's execution gives up on it and runs its own, so one hung fill cannot stall everyone.
 *
 * @module
 */
import { SliceFetchError } from '../core/errors.js';

/** What the last waiter leaving does to a shared execution. */
export type FlightPolicy = 'cancel' | 'complete';

/** Context handed to the function that does the work. */
export interface FlightContext {
  /** Aborted when every waiter has left (policy `cancel`) or the owner closes. */
  readonly signal: AbortSignal;
  /** Keeps the key joinable until `promise` settles (e.g. while the cache write of the result lands). */
  hold(promise: Promise<unknown>): void;
}

/** Options of one {@link SingleFlight.run} call. */
export interface FlightOptions {
  /** The caller's abort signal: detaches this waiter only. */
  readonly signal: AbortSignal;
  /** How long a joiner waits on another caller's execution before running its own. */
  readonly waitTimeoutMs: number;
}

/** Deduplicates concurrent executions per key. */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();
  readonly #policy: FlightPolicy;

  constructor(policy: FlightPolicy) {
    this.#policy = policy;
  }

  /** Executions in progress. */
  get size(): number {
    return this.#flights.size;
  }

  /** Runs `work` for `key`, or joins the execution already running for it. `joined` tells which happened. */
  run(
    key: string,
    work: (context: FlightContext) => Promise<T>,
    options: FlightOptions,
  ): { promise: Promise<T>; joined: boolean } {
    // An already-aborted caller must not start work nobody waits for (it would run to the end unobserved).
    if (options.signal.aborted) return { promise: Promise.reject(abortError()), joined: false };
    const existing = this.#flights.get(key);
    if (existing !== undefined && !existing.controller.signal.aborted) {
      return { promise: this.#join(existing, work, options, true), joined: true };
    }
    const flight = this.#start(key, work);
    return { promise: this.#join(flight, work, options, false), joined: false };
  }

  /**
   * Stops offering the executions whose key passes `test` to new callers (they run their own); callers already
   * waiting keep theirs. Used when an object is known to have changed: its in-progress lookups are stale.
   */
  forget(test: (key: string) => boolean): void {
    for (const key of [...this.#flights.keys()]) if (test(key)) this.#flights.delete(key);
  }

  /** Aborts every execution (used by `close()`). */
  abortAll(reason: unknown): void {
    for (const flight of this.#flights.values()) flight.controller.abort(reason);
    this.#flights.clear();
  }

  #start(key: string, work: (context: FlightContext) => Promise<T>): Flight<T> {
    const controller = new AbortController();
    const holds: Promise<unknown>[] = [];
    const flight: Flight<T> = { controller, waiters: 0, promise: undefined as unknown as Promise<T> };
    flight.promise = work({ signal: controller.signal, hold: (p) => holds.push(p) });
    this.#flights.set(key, flight);
    const forget = (): void => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    flight.promise.then(() => {
      if (holds.length === 0) forget();
      else void Promise.allSettled(holds).then(forget);
    }, forget);
    return flight;
  }

  #join(
    flight: Flight<T>,
    work: (context: FlightContext) => Promise<T>,
    options: FlightOptions,
    joined: boolean,
  ): Promise<T> {
    const { signal } = options;
    if (signal.aborted) return Promise.reject(abortError());
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const detach = (cancelIfLast: boolean): void => {
        done = true;
        signal.removeEventListener('abort', onAbort);
        if (timer !== undefined) clearTimeout(timer);
        flight.waiters--;
        if (cancelIfLast && flight.waiters === 0 && this.#policy === 'cancel')
          flight.controller.abort(abortError());
      };
      const onAbort = (): void => {
        if (done) return;
        detach(true);
        reject(abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (joined) {
        // A fill that hangs must not hang its joiners: past the wait they run their own, unshared.
        timer = setTimeout(() => {
          if (done) return;
          detach(true);
          runUnshared(work, signal).then(resolve, reject);
        }, options.waitTimeoutMs);
      }
      flight.promise.then(
        (value) => {
          if (done) return;
          detach(false);
          resolve(value);
        },
        (error: unknown) => {
          if (done) return;
          detach(false);
          reject(error);
        },
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------------------

interface Flight<T> {
  readonly controller: AbortController;
  waiters: number;
  promise: Promise<T>;
}

function runUnshared<T>(work: (context: FlightContext) => Promise<T>, signal: AbortSignal): Promise<T> {
  const controller = new AbortController();
  const relay = (): void => controller.abort(abortError());
  signal.addEventListener('abort', relay, { once: true });
  return work({ signal: controller.signal, hold: () => {} }).finally(() =>
    signal.removeEventListener('abort', relay),
  );
}

function abortError(): SliceFetchError {
  return new SliceFetchError('ERR_SLICE_ABORTED', 'Request aborted.');
}
