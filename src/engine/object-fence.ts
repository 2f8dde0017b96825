/**
 * Purge fences (R19, P27): a generation per object that every fill reads when it starts and checks before it
 * writes to the store. A purge, or the retirement of a version, moves the object to a new generation, so a
 * fill that started before it can never write after it — its bytes reach its own waiters, never the store.
 *
 * A purge also waits for the store writes already on their way for that object before it purges the store, so
 * that a write issued just before the purge cannot land just after it (a disk rename, a Redis `SET`).
 *
 * Only objects with fills in flight have an entry: generations come from one counter that only grows, so an
 * object whose entry was dropped starts again at a number no earlier fill can hold.
 *
 * @module
 */

/** A fill's hold on one object's generation. */
export interface FenceTicket {
  /** Whether no purge happened since the ticket was taken: only then may the fill write to the store. */
  readonly current: boolean;
  /**
   * Runs `write` if the ticket is current, and makes purges of this object wait for it; resolves `false` when
   * it was fenced off instead.
   */
  write(write: () => Promise<unknown>): Promise<boolean>;
  /** The fill is over (its writes included): the object may forget it. Call once. */
  leave(): void;
}

/** Generations of the objects that have fills in flight. */
export class ObjectFence {
  readonly #objects = new Map<string, ObjectState>();
  #counter = 0;

  /** Objects tracked now (fills in flight or purges waiting): tests read it to see nothing is left behind. */
  get size(): number {
    return this.#objects.size;
  }

  /** Takes a ticket for a fill of `objectKey` that starts now. */
  enter(objectKey: string): FenceTicket {
    const state = this.#state(objectKey);
    state.fills++;
    const generation = state.generation;
    let left = false;
    const ticket: FenceTicket = {
      get current() {
        return state.generation === generation;
      },
      write: async (write) => {
        if (state.generation !== generation) return false;
        await state.purging;
        if (state.generation !== generation) return false;
        const pending = write().then(noop, noop);
        state.writes.add(pending);
        await pending;
        state.writes.delete(pending);
        return true;
      },
      leave: () => {
        if (left) return;
        left = true;
        state.fills--;
        this.#release(objectKey, state);
      },
    };
    return ticket;
  }

  /**
   * Moves `objectKey` to a new generation, fencing off every fill that started before, then waits for the
   * store writes already under way and runs `purge` (the store's purge of the object), which later writes of
   * new fills wait for in turn. Resolves `purge`'s result.
   */
  async purge<T>(objectKey: string, purge: () => Promise<T>): Promise<T> {
    const state = this.#state(objectKey);
    state.generation = ++this.#counter;
    state.purges++;
    const done = Promise.allSettled([...state.writes, state.purging]).then(purge);
    state.purging = done.then(noop, noop);
    try {
      return await done;
    } finally {
      state.purges--;
      this.#release(objectKey, state);
    }
  }

  /**
   * Settles once the purges of `objectKey` already under way have reached the store: a read of the store's
   * generation waits for it, so that it never learns the generation a purge is about to leave (P27).
   */
  settled(objectKey: string): Promise<void> {
    return this.#objects.get(objectKey)?.purging ?? SETTLED;
  }

  #state(objectKey: string): ObjectState {
    let state = this.#objects.get(objectKey);
    if (state === undefined) {
      state = { generation: ++this.#counter, fills: 0, purges: 0, writes: new Set(), purging: SETTLED };
      this.#objects.set(objectKey, state);
    }
    return state;
  }

  #release(objectKey: string, state: ObjectState): void {
    if (state.fills === 0 && state.purges === 0 && this.#objects.get(objectKey) === state)
      this.#objects.delete(objectKey);
  }
}

// ---------------------------------------------------------------------------------------------------------

interface ObjectState {
  generation: number;
  fills: number;
  purges: number;
  readonly writes: Set<Promise<void>>;
  /** Settles when the latest purge of the object has reached the store. */
  purging: Promise<void>;
}

const SETTLED: Promise<void> = Promise.resolve();

function noop(): void {}
