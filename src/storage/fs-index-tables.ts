/**
 * The storage under `fsStorage`'s index (`fs-index.ts`): columns of typed arrays, one row per entry, and
 * open-addressing tables of row numbers. Typed arrays keep millions of entries out of the garbage-collected
 * heap: the collector has nothing per entry to mark.
 *
 * @module
 */

/** A key's 32 bytes: the object prefix (16) and the suffix (16). */
export const KEY_BYTES = 32;
/** A key's 32 bytes as `Int32` words. */
export const KEY_WORDS = KEY_BYTES / 4;
/** No row. */
export const EMPTY = -1;

/** Bytes per row over all columns. */
const ROW_BYTES = KEY_BYTES + 1 + 8 + 4 + 8 + 8 + 4 + 4;

/** Column storage for `capacity` rows. */
export class Columns {
  /** Each row's key, `KEY_WORDS` words per row. */
  readonly words: Int32Array;
  /** The same memory as `words`, for hex conversion. */
  readonly raw: Buffer;
  readonly flags: Uint8Array;
  readonly bytes: Float64Array;
  readonly headerBytes: Uint32Array;
  readonly expiresAt: Float64Array;
  /** Recency: higher is more recent. */
  readonly lastUse: Float64Array;
  /** The next and previous row of the same object; for a free row, `next` links the free list. */
  readonly next: Int32Array;
  readonly previous: Int32Array;

  constructor(readonly capacity: number) {
    this.words = new Int32Array(capacity * KEY_WORDS);
    this.raw = Buffer.from(this.words.buffer);
    this.flags = new Uint8Array(capacity);
    this.bytes = new Float64Array(capacity);
    this.headerBytes = new Uint32Array(capacity);
    this.expiresAt = new Float64Array(capacity);
    this.lastUse = new Float64Array(capacity);
    this.next = new Int32Array(capacity);
    this.previous = new Int32Array(capacity);
  }

  /** A copy with room for `capacity` rows. */
  grownTo(capacity: number): Columns {
    const grown = new Columns(capacity);
    grown.words.set(this.words);
    grown.flags.set(this.flags);
    grown.bytes.set(this.bytes);
    grown.headerBytes.set(this.headerBytes);
    grown.expiresAt.set(this.expiresAt);
    grown.lastUse.set(this.lastUse);
    grown.next.set(this.next);
    grown.previous.set(this.previous);
    return grown;
  }

  /** Memory held, in bytes. */
  get memory(): number {
    return this.capacity * ROW_BYTES;
  }
}

/**
 * An open-addressing table of row numbers: linear probing, at most 3/4 full, deletion by backward shift (no
 * tombstones). Lookups walk `slots` themselves (they compare keys the table does not know); `hashOf` gives a
 * row's hash when rows move.
 */
export class RowTable {
  slots: Int32Array;
  #count = 0;

  constructor(
    size: number,
    private readonly hashOf: (row: number) => number,
  ) {
    this.slots = new Int32Array(size).fill(EMPTY);
  }

  get mask(): number {
    return this.slots.length - 1;
  }

  /** Enters `row`, whose hash is `hash`. */
  insert(row: number, hash: number): void {
    if ((this.#count + 1) * 4 > this.slots.length * 3) this.#double();
    const { slots, mask } = this;
    let slot = hash & mask;
    while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
    slots[slot] = row;
    this.#count++;
  }

  /** Empties `slot`, moving later rows of its probe run back so every row stays reachable from its hash. */
  delete(slot: number): void {
    const { slots, mask } = this;
    let hole = slot;
    for (let next = (hole + 1) & mask; slots[next] !== EMPTY; next = (next + 1) & mask) {
      const home = this.hashOf(slots[next] as number) & mask;
      // The row at `next` may move into the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      slots[hole] = slots[next] as number;
      hole = next;
    }
    slots[hole] = EMPTY;
    this.#count--;
  }

  /** Rows entered. */
  get count(): number {
    return this.#count;
  }

  /** Grows the table at once to hold `rows` rows, so that no doubling is needed before it holds that many. */
  reserve(rows: number): void {
    while (rows * 4 > this.slots.length * 3) this.#double();
  }

  /** Empties the table, back to `size` slots. */
  reset(size: number): void {
    this.slots = new Int32Array(size).fill(EMPTY);
    this.#count = 0;
  }

  /** Doubles the table; every row is entered again at the slot its hash gives. */
  #double(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2).fill(EMPTY);
    const { slots, mask } = this;
    for (const row of old) {
      if (row === EMPTY) continue;
      let slot = this.hashOf(row) & mask;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = row;
    }
  }
}
