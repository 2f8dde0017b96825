/**
 * Single-flight with leases (R12, R19, P22): concurrent requests for the same key share one execution. Each
 * waiter holds a {@link Lease}; an execution belongs to its leases — when the last one is released (or its
 * signal aborts) before the work is done, the work is aborted (policy `cancel`), unless the work said it may
 * finish alone (a fill that already has most of its bytes, which a seeking client usually comes back for).
 *
 * The work can {@link FlightContext.announce | announce} an early result — the head of a reference response —
 * before its value, and can make itself reachable under a second key once it knows it (a reference fill becomes
 * the fill of its slice when the head names the object's version). A key stays joinable until the value and
 * every promise given to {@link FlightContext.hold} settle (a store write still landing).
 *
 * @module
 */
import { abortError } from '../core/errors.js';

/** What the last lease leaving does to unfinished work. */
export type FlightPolicy = 'cancel' | 'complete';

/** Handed to the work of a flight. */
export interface FlightContext<H> {
  /** Aborted when every lease has gone (policy `cancel`) or the owner closes. */
  readonly signal: AbortSignal;
  /** Keeps the key joinable until `promise` settles (the store write of the value, say). */
  hold(promise: Promise<unknown>): void;
  /** Settles every lease's `head` with `head` (once; later calls are ignored). */
  announce(head: H): void;
  /** Makes the flight reachable under `key` too, from now until it ends. */
  alias(key: string): void;
  /** When the last lease goes, `test()` true lets the work run on instead of being aborted. */
  finishAlone(test: () => boolean): void;
}

/** One waiter's share of a flight. Its promises reject with `ERR_SLICE_ABORTED` when its signal aborts. */
export interface Lease<T, H> {
  /** Whether the flight was already running (this waiter joined it). */
  readonly joined: boolean;
  /** The announced head; rejects like `value` if the work fails before announcing. */
  readonly head: Promise<H>;
  /** The work's result. */
  readonly value: Promise<T>;
  /** Leaves the flight; idempotent. A settled value releases the lease by itself. */
  release(): void;
  /** Keeps the flight joinable, settled or not, until `promise` settles (see {@link FlightContext.hold}). */
  hold(promise: Promise<unknown>): void;
}

/** Deduplicates concurrent executions per key. */
export class SingleFlight<T, H = never> {
  readonly #flights = new Map<string, Flight<T, H>>();
  /** Every flight not ended yet, reachable or not: `abortAll` reaches those a purge made unreachable too. */
  readonly #live = new Set<Flight<T, H>>();
  readonly #policy: FlightPolicy;

  constructor(policy: FlightPolicy) {
    this.#policy = policy;
  }

  /** Keys that can be joined now (aliases included). */
  get size(): number {
    return this.#flights.size;
  }

  /** Joins the flight running for `key`, or `undefined` when there is none. */
  join(key: string, signal: AbortSignal): Lease<T, H> | undefined {
    const flight = this.#flights.get(key);
    if (flight === undefined) return undefined;
    return new FlightLease(flight, signal, true, this.#policy);
  }

  /**
   * Starts `work` under `key` (replacing no running flight: call {@link join} first) and leases it to the
   * caller. `tag` groups flights for {@link forget} (the object key).
   */
  start(
    key: string,
    tag: string,
    work: (context: FlightContext<H>) => Promise<T>,
    signal: AbortSignal,
  ): Lease<T, H> {
    const flight = new Flight<T, H>(tag, () => this.#end(flight));
    const lease = new FlightLease(flight, signal, false, this.#policy);
    if (signal.aborted) return lease; // nobody waits: never start work that would run unobserved
    this.#live.add(flight);
    this.#register(key, flight);
    const context: FlightContext<H> = {
      signal: flight.controller.signal,
      hold: (promise) => flight.hold(promise),
      announce: (head) => flight.announce(head),
      alias: (alias) => {
        // Never over another flight: the joiners of one slice must not be split between two fills.
        if (!this.#flights.has(alias)) this.#register(alias, flight);
      },
      finishAlone: (test) => {
        flight.finishAlone = test;
      },
    };
    let value: Promise<T>;
    try {
      value = work(context);
    } catch (error) {
      value = Promise.reject(error);
    }
    flight.settle(value);
    return lease;
  }

  /** Makes the flights tagged `tag` unreachable to new callers (an object was purged); leases keep theirs. */
  forget(tag: string): void {
    for (const [key, flight] of this.#flights) if (flight.tag === tag) this.#flights.delete(key);
  }

  /** Aborts every flight (the owner closes). */
  abortAll(reason: unknown): void {
    for (const flight of this.#live) {
      flight.ended = true;
      flight.controller.abort(reason);
    }
    this.#live.clear();
    this.#flights.clear();
  }

  #register(key: string, flight: Flight<T, H>): void {
    if (flight.ended) return;
    flight.keys.push(key);
    this.#flights.set(key, flight);
  }

  #end(flight: Flight<T, H>): void {
    flight.ended = true;
    this.#live.delete(flight);
    for (const key of flight.keys) if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }
}

/**
 * Runs `work` outside any flight, aborted by `signal`: for a waiter that gave up on a shared fill which hangs.
 *
 * @example
 * ```ts
 * const chunks = await runAlone((context) => fetchIt(context.signal), signal);
 * ```
 */
export function runAlone<T, H>(
  work: (context: FlightContext<H>) => Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const relay = (): void => controller.abort(signal.reason);
  if (signal.aborted) return Promise.reject(abortError(signal.reason));
  signal.addEventListener('abort', relay, { once: true });
  const context: FlightContext<H> = {
    signal: controller.signal,
    hold: noop,
    announce: noop,
    alias: noop,
    finishAlone: noop,
  };
  let value: Promise<T>;
  try {
    value = work(context);
  } catch (error) {
    value = Promise.reject(error);
  }
  return value.finally(() => signal.removeEventListener('abort', relay));
}

// ---------------------------------------------------------------------------------------------------------

class Flight<T, H> {
  readonly tag: string;
  readonly controller = new AbortController();
  readonly keys: string[] = [];
  leases = 0;
  settled = false;
  ended = false;
  finishAlone: (() => boolean) | undefined;
  readonly value: Promise<T>;
  readonly head: Promise<H>;
  readonly #onEnd: () => void;
  #resolveValue!: (value: T | Promise<T>) => void;
  #resolveHead!: (head: H | Promise<H>) => void;
  #announced = false;
  /** Promises that keep the flight joinable until they settle. */
  #holds = 0;

  constructor(tag: string, onEnd: () => void) {
    this.tag = tag;
    this.#onEnd = onEnd;
    this.value = new Promise<T>((resolve) => {
      this.#resolveValue = resolve;
    });
    this.head = new Promise<H>((resolve) => {
      this.#resolveHead = resolve;
    });
    // Failures reach the leases that look; a flight nobody waits on must not raise unhandled rejections.
    this.value.catch(noop);
    this.head.catch(noop);
  }

  announce(head: H | Promise<H>): void {
    if (this.#announced) return;
    this.#announced = true;
    this.#resolveHead(head);
  }

  hold(promise: Promise<unknown>): void {
    if (this.ended) return;
    this.#holds++;
    const done = (): void => {
      this.#holds--;
      this.#endIfDone();
    };
    promise.then(done, done);
  }

  /** Adopts the work's promise; the flight ends once it settled and nothing holds it. */
  settle(value: Promise<T>): void {
    this.#resolveValue(value);
    const settled = (): void => {
      this.settled = true;
      this.#endIfDone();
    };
    value.then(
      () => {
        // A work that ends without announcing has no head to give: `head` fails (its waiters read `value`).
        if (!this.#announced) this.announce(Promise.reject(new Error('the flight ended without a head')));
        settled();
      },
      (error: unknown) => {
        if (!this.#announced) this.announce(Promise.reject(error));
        settled();
      },
    );
  }

  /** Ends a flight whose last lease left before its work was done (it was aborted). */
  abandon(): void {
    this.#onEnd();
  }

  #endIfDone(): void {
    if (this.settled && this.#holds === 0 && !this.ended) this.#onEnd();
  }
}

class FlightLease<T, H> implements Lease<T, H> {
  readonly joined: boolean;
  readonly #flight: Flight<T, H>;
  readonly #signal: AbortSignal;
  readonly #policy: FlightPolicy;
  #released = false;
  #onAbort: (() => void) | undefined;
  /** Rejects when this waiter's signal aborts while it holds the lease (made on first use). */
  #aborted: Promise<never> | undefined;
  #reject: ((error: unknown) => void) | undefined;

  constructor(flight: Flight<T, H>, signal: AbortSignal, joined: boolean, policy: FlightPolicy) {
    this.#flight = flight;
    this.#signal = signal;
    this.#policy = policy;
    this.joined = joined;
    if (signal.aborted) {
      this.#released = true;
      return;
    }
    flight.leases++;
    this.#onAbort = () => {
      this.#reject?.(abortError(signal.reason));
      this.release();
    };
    signal.addEventListener('abort', this.#onAbort, { once: true });
    flight.value.then(
      () => this.#detach(),
      () => this.#detach(),
    );
  }

  get head(): Promise<H> {
    return this.#guard(this.#flight.head);
  }

  get value(): Promise<T> {
    return this.#guard(this.#flight.value);
  }

  release(): void {
    if (this.#released) return;
    this.#detach();
    const flight = this.#flight;
    if (flight.leases > 0 || flight.settled || this.#policy === 'complete') return;
    if (flight.finishAlone?.() === true) return;
    flight.controller.abort(abortError(this.#signal.reason, 'A shared fill whose waiters all left'));
    flight.abandon();
  }

  hold(promise: Promise<unknown>): void {
    this.#flight.hold(promise);
  }

  #detach(): void {
    if (this.#released) return;
    this.#released = true;
    this.#flight.leases--;
    if (this.#onAbort !== undefined) this.#signal.removeEventListener('abort', this.#onAbort);
  }

  /** `promise`, or a rejection as soon as this waiter's signal aborts. */
  #guard<V>(promise: Promise<V>): Promise<V> {
    if (this.#signal.aborted) return Promise.reject(abortError(this.#signal.reason));
    if (this.#released) return promise;
    this.#aborted ??= new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.#aborted.catch(noop);
    return Promise.race([promise, this.#aborted]);
  }
}

function noop(): void {}
