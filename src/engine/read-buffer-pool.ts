/**
 * Recycles the memory that store reads copy slices into. A disk hit needs a fresh slice-sized buffer; left to
 * the collector, a 1 GiB warm pass allocates 1 GiB of them, and glibc hands that memory back to the kernel and
 * faults it in again between collections (BENCHMARKS.md, case 4: 67–85 k page faults, a third of the proxy's
 * CPU). When the consumer says when it is done with a piece — the Node handler, once the socket has taken its
 * bytes — the buffer goes back to a small free list and the next hit reads into it.
 *
 * Only memory this pool lent is ever reused, and only once every holder gave it back: the consumer, and a store
 * write that still reads it ({@link ReadBufferPool.hold}). A buffer that is never given back (a `Response` body,
 * a store that failed its check, a write that never ends) is simply collected. Written by hand: no buffer pool on
 * npm tracks lending by `ArrayBuffer`, which is what makes giving back a piece of unknown origin safe.
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';

/** Lends slice-sized buffers to store reads and takes them back from the writer that consumed them. */
export class ReadBufferPool {
  readonly #capacity: number;
  readonly #maxFree: number;
  readonly #free: ArrayBuffer[] = [];
  /** Buffers out on loan, with how many holders have yet to give each back: only these are taken back. */
  readonly #lent = new WeakMap<ArrayBuffer, number>();

  /**
   * @param capacity Bytes of each pooled buffer; larger requests get memory of their own.
   * @param maxFree Buffers kept for reuse at most; more given back are left to the collector.
   */
  constructor(capacity: number, maxFree: number) {
    this.#capacity = capacity;
    this.#maxFree = maxFree;
  }

  /** A buffer of exactly `bytes` bytes, on loan from the pool when it fits (a `CacheGetOptions.allocate`). */
  readonly allocate = (bytes: number): Uint8Array => {
    if (bytes > this.#capacity || bytes <= 0) return Buffer.allocUnsafeSlow(Math.max(bytes, 0));
    const memory = this.#free.pop() ?? new ArrayBuffer(this.#capacity);
    this.#lent.set(memory, 1);
    return Buffer.from(memory, 0, bytes);
  };

  /**
   * Adds a holder to every loan `piece` lies in — a store write that reads the memory after its consumer may
   * have given it back — and returns the function that gives the holder's share back (once; later calls do
   * nothing). Memory is reused only when its consumer and every holder gave it back.
   */
  readonly hold = (piece: Chunks): (() => void) => {
    const held = new Set<ArrayBuffer>();
    for (const chunk of piece) {
      const memory = chunk.buffer;
      if (!(memory instanceof ArrayBuffer) || held.has(memory)) continue;
      const holders = this.#lent.get(memory);
      if (holders === undefined) continue;
      this.#lent.set(memory, holders + 1);
      held.add(memory);
    }
    return () => {
      for (const memory of held) this.#giveBack(memory);
      held.clear();
    };
  };

  /**
   * Takes back the memory of a consumed piece: every chunk that lies in a buffer this pool lent. The caller
   * must be done with all of it — and so must everyone it shared the piece with. Give each piece back once:
   * a loan is identified by its memory, so a stale second release after that memory was lent again would end
   * the new loan.
   */
  readonly release = (piece: Chunks): void => {
    const given = new Set<ArrayBuffer>();
    for (const chunk of piece) {
      const memory = chunk.buffer;
      if (!(memory instanceof ArrayBuffer) || given.has(memory)) continue;
      given.add(memory);
      this.#giveBack(memory);
    }
  };

  /** Whether any chunk of `piece` lies in memory this pool has lent out (and not taken back). */
  readonly lends = (piece: Chunks): boolean => {
    for (const chunk of piece)
      if (chunk.buffer instanceof ArrayBuffer && this.#lent.has(chunk.buffer)) return true;
    return false;
  };

  /** One holder of `memory` is done with it: back on the free list once the last one is. */
  #giveBack(memory: ArrayBuffer): void {
    const holders = this.#lent.get(memory);
    if (holders === undefined) return;
    if (holders > 1) {
      this.#lent.set(memory, holders - 1);
      return;
    }
    this.#lent.delete(memory);
    if (this.#free.length < this.#maxFree) this.#free.push(memory);
  }

  /** Bytes of each pooled buffer. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Buffers waiting for reuse. */
  get free(): number {
    return this.#free.length;
  }
}
