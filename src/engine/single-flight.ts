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
  /** Whether the work had already finished when this waiter joined (its key stays while its writes land). */
  readonly late: boolean;
  /** The announced head; rejects like `value` if the work fails before announcing. */
  readonly head: Promise<H>;
  /** The work's result. */
  readonly value: Promise<T>;
  /** Leaves the flight; idempotent. A settled value releases the lease by itself. */
  release(): void;
}

/** Deduplicates concurrent executions per key. */
export class SingleFlight<T, H = never> {
  readonly #flights = new Map<string, Flight<T, H>>();
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
    const flight = new Flight<T, H>(tag);
    const lease = new FlightLease(flight, signal, false, this.#policy);
    if (signal.aborted) return lease; // nobody waits: never start work that would run unobserved
    this.#register(key, flight);
    const holds: Promise<unknown>[] = [];
    const context: FlightContext<H> = {
      signal: flight.controller.signal,
      hold: (promise) => holds.push(promise),
      announce: (head) => flight.announce(head),
      alias: (alias) => this.#register(alias, flight),
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
    const end = (): void => this.#end(flight);
    flight.settle(value).then(() => (holds.length === 0 ? end() : void Promise.allSettled(holds).then(end)));
    return lease;
  }

  /** Makes the flights tagged `tag` unreachable to new callers (an object was purged); leases keep theirs. */
  forget(tag: string): void {
    for (const [key, flight] of this.#flights) if (flight.tag === tag) this.#flights.delete(key);
  }

  /** Aborts every flight (the owner closes). */
  abortAll(reason: unknown): void {
    for (const flight of new Set(this.#flights.values())) flight.controller.abort(reason);
    this.#flights.clear();
  }

  #register(key: string, flight: Flight<T, H>): void {
    if (flight.ended) return;
    flight.keys.push(key);
    this.#flights.set(key, flight);
    flight.onAbandon = () => this.#end(flight);
  }

  #end(flight: Flight<T, H>): void {
    flight.ended = true;
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
  return work(context).finally(() => signal.removeEventListener('abort', relay));
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
  onAbandon: (() => void) | undefined;
  readonly value: Promise<T>;
  readonly head: Promise<H>;
  #resolveValue!: (value: T | Promise<T>) => void;
  #resolveHead!: (head: H | Promise<H>) => void;
  #announced = false;

  constructor(tag: string) {
    this.tag = tag;
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

  /** Adopts the work's promise; resolves (never rejects) once it settled. */
  settle(value: Promise<T>): Promise<void> {
    this.#resolveValue(value);
    return value.then(
      () => {
        this.settled = true;
        // A work that ends without announcing has no head to give: `head` fails (its waiters read `value`).
        if (!this.#announced) this.announce(Promise.reject(new Error('the flight ended without a head')));
      },
      (error: unknown) => {
        this.settled = true;
        if (!this.#announced) this.announce(Promise.reject(error));
      },
    );
  }
}

class FlightLease<T, H> implements Lease<T, H> {
  readonly joined: boolean;
  readonly late: boolean;
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
    this.late = flight.settled;
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
    flight.onAbandon?.();
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
