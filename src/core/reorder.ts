/**
 * The ordered-assembly buffer (R6, P10, P23): slices finish in any order but their bytes must leave in
 * index order. Early arrivals wait here, and the buffer refuses to hold more than its byte window, so memory
 * per response is bounded by the window (about concurrency × slice size), never by the object size.
 *
 * The buffer only holds and orders; it never waits. The engine launches at most as many fetches as the window
 * holds slices, so a push never finds the window full — a push past it throws, as a bug guard. The window
 * must be at least the largest item, or the next in-order item could never enter.
 *
 * @module
 */
import { abortError, SliceFetchError } from './errors.js';

/** Options of a {@link ReorderBuffer}. */
export interface ReorderBufferOptions {
  /** The first index that will leave the buffer. */
  readonly firstIndex: number;
  /** The last index that will leave the buffer (`firstIndex − 1` for an empty run). */
  readonly lastIndex: number;
  /** The most bytes the buffer may hold at once. */
  readonly windowBytes: number;
}

/**
 * Holds out-of-order items (slices) and releases them strictly in index order, within a byte window.
 *
 * @example
 * ```ts
 * const buffer = new ReorderBuffer<Uint8Array>({ firstIndex: 0, lastIndex: 2, windowBytes: 3 << 20 }, (b) => b.length);
 * buffer.push(1, second);
 * buffer.shift(); // undefined: slice 0 has not arrived
 * buffer.push(0, first);
 * buffer.shift(); // first
 * buffer.shift(); // second
 * ```
 */
export class ReorderBuffer<T> {
  readonly #held = new Map<number, Held<T>>();
  readonly #sizeOf: (item: T) => number;
  readonly #lastIndex: number;
  readonly #windowBytes: number;
  #nextIndex: number;
  #bytesHeld = 0;
  #cleared = false;

  /**
   * @param options The index run and the byte window.
   * @param sizeOf The byte size of an item (called once per push).
   * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when an option is not a non-negative safe integer, or
   * `lastIndex < firstIndex − 1`.
   */
  constructor(options: ReorderBufferOptions, sizeOf: (item: T) => number) {
    const { firstIndex, lastIndex, windowBytes } = options;
    checkOption('firstIndex', firstIndex, 0);
    checkOption('lastIndex', lastIndex, firstIndex - 1);
    checkOption('windowBytes', windowBytes, 0);
    this.#nextIndex = firstIndex;
    this.#lastIndex = lastIndex;
    this.#windowBytes = windowBytes;
    this.#sizeOf = sizeOf;
  }

  /** The next index to leave. */
  get nextIndex(): number {
    return this.#nextIndex;
  }

  /** Bytes currently held. */
  get bytesHeld(): number {
    return this.#bytesHeld;
  }

  /** Items currently held. */
  get size(): number {
    return this.#held.size;
  }

  /** Whether every index up to `lastIndex` has left (false after {@link ReorderBuffer.clear}). */
  get done(): boolean {
    return !this.#cleared && this.#nextIndex > this.#lastIndex;
  }

  /** Whether `bytes` more would fit in the window right now. */
  canAccept(bytes: number): boolean {
    return this.#bytesHeld + bytes <= this.#windowBytes;
  }

  /**
   * Adds the item for `index`.
   *
   * @throws {SliceFetchError} `ERR_SLICE_WINDOW` when the item would exceed the window, `index` is outside
   * `[nextIndex, lastIndex]`, the index is already held, or the item's size is not a non-negative number;
   * `ERR_SLICE_ABORTED` after {@link ReorderBuffer.clear} (the caller keeps and releases the item).
   */
  push(index: number, item: T): void {
    if (this.#cleared) {
      throw abortError(undefined, `Taking slice ${index} into a cleared reorder buffer`, { slice: index });
    }
    if (!Number.isSafeInteger(index) || index < this.#nextIndex || index > this.#lastIndex) {
      throw windowError(
        `Expected slice index between ${this.#nextIndex} and ${this.#lastIndex}, got \`${index}\`.`,
        index,
      );
    }
    if (this.#held.has(index)) throw windowError(`Slice ${index} is already held.`, index);
    const bytes = this.#sizeOf(item);
    if (!(bytes >= 0) || !Number.isFinite(bytes)) {
      throw windowError(`Expected slice ${index} to have a non-negative size, got \`${bytes}\`.`, index);
    }
    if (this.#bytesHeld + bytes > this.#windowBytes) {
      throw windowError(
        `Slice ${index} (${bytes} bytes) would exceed the reorder window: ${this.#bytesHeld} of ${this.#windowBytes} bytes held.`,
        index,
      );
    }
    this.#held.set(index, { item, bytes });
    this.#bytesHeld += bytes;
  }

  /** Removes and returns the next in-order item if it is held (`bytesHeld` drops by its size), else `undefined`. */
  shift(): T | undefined {
    const held = this.#held.get(this.#nextIndex);
    if (held === undefined) return undefined;
    this.#held.delete(this.#nextIndex);
    this.#nextIndex++;
    this.#bytesHeld -= held.bytes;
    return held.item;
  }

  /**
   * Gives back every held item, in index order, and stays open: the indexes are pushed again later (a
   * response whose consumer stopped reading gives its memory back, and reads the slices again when it resumes).
   */
  drop(): T[] {
    return this.#takeAll();
  }

  /**
   * Drops everything (abort) and refuses later pushes; returns the dropped items, in index order, so the
   * caller can release them.
   */
  clear(): T[] {
    this.#cleared = true;
    return this.#takeAll();
  }

  #takeAll(): T[] {
    const indexes = [...this.#held.keys()].sort((a, b) => a - b);
    const items = indexes.map((index) => this.#held.get(index)!.item);
    this.#held.clear();
    this.#bytesHeld = 0;
    return items;
  }
}

// ---- module-private helpers ------------------------------------------------------------------------------

/** An item with the size measured when it was pushed, so a later change in the item cannot skew the count. */
interface Held<T> {
  readonly item: T;
  readonly bytes: number;
}

function checkOption(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected \`${name}\` to be an integer between ${min} and 2^53 - 1, got \`${value}\`.`,
      { paths: [name] },
    );
  }
}

function windowError(message: string, slice: number): SliceFetchError {
  return new SliceFetchError('ERR_SLICE_WINDOW', message, { slice });
}
