/**
 * The global per-origin limit on in-flight sub-requests (R5, P7): one p-queue per origin whose
 * concurrency is `originConnections`. Tasks carry a priority so the in-order head slice of a response goes
 * before read-ahead (design.md "Scheduler priorities").
 *
 * @module
 */
import PQueue from 'p-queue';

/** Priority of a response's next in-order slice. */
export const HEAD_PRIORITY = 1;
/** Priority of read-ahead. */
export const AHEAD_PRIORITY = 0;

/** Runs tasks under a per-origin concurrency limit. */
export class OriginScheduler {
  readonly #queues = new Map<string, PQueue>();
  readonly #limit: number;
  #lastUrl = '';
  #lastOrigin = '';

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `task` once a slot of `url`'s origin is free; the slot is held until `task` settles. */
  run<T>(url: string, priority: number, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    // Consecutive slices share one URL: parse it once, not once per slice.
    if (url !== this.#lastUrl) {
      this.#lastUrl = url;
      this.#lastOrigin = new URL(url).origin;
    }
    const origin = this.#lastOrigin;
    let queue = this.#queues.get(origin);
    if (queue === undefined) {
      queue = new PQueue({ concurrency: this.#limit });
      this.#queues.set(origin, queue);
    }
    return queue.add(task, { priority, signal }) as Promise<T>;
  }

  /** Tasks running or waiting, across origins. */
  get pending(): number {
    let total = 0;
    for (const queue of this.#queues.values()) total += queue.size + queue.pending;
    return total;
  }

  /** Drops queued tasks (running ones finish or abort through their own signals). */
  clear(): void {
    for (const queue of this.#queues.values()) queue.clear();
    this.#queues.clear();
  }
}
