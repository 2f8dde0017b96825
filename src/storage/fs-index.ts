/**
 * The in-memory index of `fsStorage`: which entries this process knows on disk, their sizes and expiry, and
 * how recently each was used. It counts the body bytes against the budget, picks eviction victims, and finds
 * an object's keys for a purge without walking directories. It does no I/O: the store removes the files of
 * what the index forgets.
 *
 * Built for an edge node's disk (millions of entries): no JS object or string per entry, only columns in typed
 * arrays, which live outside the garbage-collected heap — about 80 bytes per entry in all, where a `Map` of
 * records cost ~340 (BENCHMARKS.md, "Disk store at edge scale"). A key (`<32 hex>.<32 hex | meta>`, made by the
 * core) is held as its 32 bytes; an open-addressing table finds a key's row, a second one an object's first row
 * (its key prefix), and rows of one object are chained. Eviction is sampled least-recently-used, as Redis
 * does it: each victim is the least recently used of a random sample of rows (of every row while there are
 * few), so no list has to be kept in order — which also lets the start-up scan add entries in any order, as
 * old as their write times say.
 *
 * @module
 */
import { ENTRY_NAME, type Header } from './fs-format.js';
import { Columns, EMPTY, KEY_BYTES, KEY_WORDS, RowTable } from './fs-index-tables.js';

/** What the index knows of one file. */
export interface IndexEntry {
  /** Body bytes, counted against the budget. */
  readonly bytes: number;
  /** Header + body: lets a whole read fetch the file in one `read`. */
  readonly fileBytes: number;
  /** Milliseconds since the epoch; `Infinity` when the entry never expires. */
  readonly expiresAt: number;
}

/** The index entry of a file with this header. */
export function indexEntryOf(header: Header): IndexEntry {
  return { bytes: header.length, fileBytes: header.bodyOffset + header.length, expiresAt: header.expiresAt };
}

/** Hex characters of an object's key prefix. */
const PREFIX_HEX = 32;
/** Row flags: in use; a metadata key (suffix `meta`, held as 16 zero bytes). */
const LIVE = 1;
const META = 2;
/** Rows sampled per eviction victim (every row while there are fewer than 4 times this). */
const EVICTION_SAMPLE = 24;
/** Rows and table slots of an empty index. */
const INITIAL_ROWS = 1024;
/**
 * Entries found by the start-up scan are older than anything used since: their recency is their write time
 * minus this (every use counts up from 0).
 */
const SCANNED_AGE = 2 ** 52;

/** A sampled-LRU index of entries by key, with a chain of rows per object. */
export class FsIndex {
  #rows = new Columns(INITIAL_ROWS);
  /** Rows ever handed out; rows below it are live or on the free list. */
  #high = 0;
  #free = EMPTY;
  /** Key → row. */
  readonly #keys = new RowTable(INITIAL_ROWS * 2, (row) => this.#rowHash(row));
  /** Object prefix → the object's first row. */
  readonly #objects = new RowTable(INITIAL_ROWS * 2, (row) => this.#rows.words[row * KEY_WORDS] as number);
  #bytes = 0;
  #size = 0;
  #clock = 0;
  /** A key being looked up, as bytes (`raw`) and words. */
  readonly #probe = new Int32Array(KEY_WORDS);
  readonly #probeRaw = Buffer.from(this.#probe.buffer);
  #probeMeta = false;

  /** Body bytes of every entry. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of memory the index holds (its columns and tables), for measurements. */
  get memory(): number {
    return this.#rows.memory + 4 * (this.#keys.slots.length + this.#objects.slots.length);
  }

  /**
   * Makes room for `entries` entries at once. Growing as entries arrive copies the columns and re-enters every
   * row now and then, which blocks the event loop longer the bigger the index (0.7 s at 6 M entries): the
   * start-up scan reserves what it expects to find as soon as it can tell.
   */
  reserve(entries: number): void {
    if (entries > this.#rows.capacity) this.#rows = this.#rows.grownTo(entries);
    this.#keys.reserve(entries);
    // Objects grow in proportion: as many as the entries so far per object suggest.
    this.#objects.reserve(Math.ceil((entries * this.#objects.count) / Math.max(1, this.#size)));
  }

  /** The entry under `key`, without making it more recent. */
  get(key: string): IndexEntry | undefined {
    const row = this.#find(key);
    if (row === EMPTY) return undefined;
    const rows = this.#rows;
    const bytes = rows.bytes[row] as number;
    return {
      bytes,
      fileBytes: bytes + (rows.headerBytes[row] as number),
      expiresAt: rows.expiresAt[row] as number,
    };
  }

  /** Adds or replaces an entry as the most recently used. */
  remember(key: string, entry: IndexEntry): void {
    this.#put(key, entry, ++this.#clock, true);
  }

  /**
   * Adds an entry the start-up scan found, written at `storedAt` (ms since the epoch), unless the key is known
   * already (it was used or written since the store started: that is newer). Returns whether it was added.
   */
  adopt(key: string, entry: IndexEntry, storedAt: number): boolean {
    return this.#put(key, entry, storedAt - SCANNED_AGE, false);
  }

  /** Drops an entry, if known. */
  forget(key: string): void {
    const row = this.#find(key);
    if (row !== EMPTY) this.#remove(row);
  }

  /** The keys of every entry of the object whose keys start with `prefix` (32 hex). */
  keysOf(prefix: string): string[] {
    if (prefix.length !== PREFIX_HEX || this.#probeRaw.write(prefix, 0, 16, 'hex') !== 16) return [];
    const keys: string[] = [];
    for (let row = this.#findObject(); row !== EMPTY; row = this.#rows.next[row] as number) {
      keys.push(this.#keyOf(row));
    }
    return keys;
  }

  /**
   * Forgets entries, least recently used first (sampled), until the bytes held are within `maxBytes`, and
   * returns their keys (the files to delete); `keep` (the entry just written) stays.
   */
  evict(maxBytes: number, keep: string): string[] {
    const victims: string[] = [];
    if (this.#bytes <= maxBytes) return victims;
    const kept = keep === '' ? EMPTY : this.#find(keep);
    while (this.#bytes > maxBytes) {
      const row = this.#pickVictim(kept);
      if (row === EMPTY) break;
      victims.push(this.#keyOf(row));
      this.#remove(row);
    }
    return victims;
  }

  /** Forgets everything and gives the memory back. */
  clear(): void {
    this.#rows = new Columns(INITIAL_ROWS);
    this.#high = 0;
    this.#free = EMPTY;
    this.#keys.reset(INITIAL_ROWS * 2);
    this.#objects.reset(INITIAL_ROWS * 2);
    this.#bytes = 0;
    this.#size = 0;
  }

  // -------------------------------------------------------------------------------------------------------

  /** Parses `key` into the probe; `false` when it is not a core-made key (the index never holds one). */
  #parse(key: string): boolean {
    if (!ENTRY_NAME.test(key)) return false;
    const raw = this.#probeRaw;
    raw.write(key, 0, 16, 'hex');
    this.#probeMeta = key.endsWith('.meta');
    if (this.#probeMeta) raw.fill(0, 16);
    else raw.write(key.slice(PREFIX_HEX + 1), 16, 16, 'hex');
    return true;
  }

  #find(key: string): number {
    if (!this.#parse(key)) return EMPTY;
    const slot = this.#keySlotOfProbe();
    return slot === EMPTY ? EMPTY : (this.#keys.slots[slot] as number);
  }

  /** The slot of the probe's key in the key table, or `EMPTY`. */
  #keySlotOfProbe(): number {
    const { slots, mask } = this.#keys;
    for (let slot = this.#probeHash() & mask; ; slot = (slot + 1) & mask) {
      const row = slots[slot] as number;
      if (row === EMPTY) return EMPTY;
      if (this.#rowIsProbe(row, KEY_WORDS)) return slot;
    }
  }

  /** The first row of the probe's object, or `EMPTY`. */
  #findObject(): number {
    const { slots, mask } = this.#objects;
    for (let slot = (this.#probe[0] as number) & mask; ; slot = (slot + 1) & mask) {
      const row = slots[slot] as number;
      if (row === EMPTY) return EMPTY;
      if (this.#rowIsProbe(row, KEY_WORDS / 2)) return row;
    }
  }

  #probeHash(): number {
    return ((this.#probe[0] as number) ^ (this.#probe[4] as number) ^ (this.#probeMeta ? META : 0)) >>> 0;
  }

  #rowHash(row: number): number {
    const { words, flags } = this.#rows;
    const at = row * KEY_WORDS;
    return ((words[at] as number) ^ (words[at + 4] as number) ^ ((flags[row] as number) & META)) >>> 0;
  }

  /** Whether `row`'s first `count` key words (and, for a whole key, its meta flag) equal the probe's. */
  #rowIsProbe(row: number, count: number): boolean {
    const { words, flags } = this.#rows;
    const at = row * KEY_WORDS;
    for (let word = 0; word < count; word++) if (words[at + word] !== this.#probe[word]) return false;
    return count !== KEY_WORDS || (((flags[row] as number) & META) !== 0) === this.#probeMeta;
  }

  #keyOf(row: number): string {
    const { raw, flags } = this.#rows;
    const at = row * KEY_BYTES;
    const suffix = ((flags[row] as number) & META) !== 0 ? 'meta' : raw.toString('hex', at + 16, at + 32);
    return `${raw.toString('hex', at, at + 16)}.${suffix}`;
  }

  #put(key: string, entry: IndexEntry, lastUse: number, replace: boolean): boolean {
    if (!this.#parse(key)) return false;
    const slot = this.#keySlotOfProbe();
    let row: number;
    if (slot !== EMPTY) {
      if (!replace) return false;
      row = this.#keys.slots[slot] as number;
      this.#bytes -= this.#rows.bytes[row] as number;
    } else {
      row = this.#newRow();
      this.#link(row);
    }
    const rows = this.#rows;
    rows.bytes[row] = entry.bytes;
    rows.headerBytes[row] = entry.fileBytes - entry.bytes;
    rows.expiresAt[row] = entry.expiresAt;
    rows.lastUse[row] = lastUse;
    this.#bytes += entry.bytes;
    return true;
  }

  /** A free row holding the probe's key, not yet in any table. */
  #newRow(): number {
    let row = this.#free;
    if (row !== EMPTY) {
      this.#free = this.#rows.next[row] as number;
    } else {
      if (this.#high === this.#rows.capacity) {
        this.#rows = this.#rows.grownTo(Math.ceil(this.#rows.capacity * 1.5));
      }
      row = this.#high++;
    }
    this.#rows.words.set(this.#probe, row * KEY_WORDS);
    this.#rows.flags[row] = LIVE | (this.#probeMeta ? META : 0);
    this.#size++;
    return row;
  }

  /** Enters a new row (holding the probe's key) in the key table and its object's chain. */
  #link(row: number): void {
    this.#keys.insert(row, this.#rowHash(row));
    const rows = this.#rows;
    const head = this.#findObject();
    rows.previous[row] = EMPTY;
    if (head === EMPTY) {
      rows.next[row] = EMPTY;
      this.#objects.insert(row, this.#probe[0] as number);
      return;
    }
    // Second in the chain, so the object table keeps pointing at the same head.
    const second = rows.next[head] as number;
    rows.next[row] = second;
    rows.previous[row] = head;
    if (second !== EMPTY) rows.previous[second] = row;
    rows.next[head] = row;
  }

  #remove(row: number): void {
    const rows = this.#rows;
    this.#bytes -= rows.bytes[row] as number;
    this.#size--;
    for (let word = 0; word < KEY_WORDS; word++)
      this.#probe[word] = rows.words[row * KEY_WORDS + word] as number;
    this.#probeMeta = ((rows.flags[row] as number) & META) !== 0;
    this.#keys.delete(this.#keySlotOfProbe());
    const previous = rows.previous[row] as number;
    const next = rows.next[row] as number;
    if (next !== EMPTY) rows.previous[next] = previous;
    if (previous !== EMPTY) {
      rows.next[previous] = next;
    } else {
      // The object's head: the table now points at the next row of the object, or forgets the object.
      const { slots, mask } = this.#objects;
      let slot = (this.#probe[0] as number) & mask;
      while (slots[slot] !== row) slot = (slot + 1) & mask;
      if (next === EMPTY) {
        this.#objects.delete(slot);
      } else {
        slots[slot] = next;
      }
    }
    rows.flags[row] = 0;
    rows.next[row] = this.#free;
    this.#free = row;
  }

  /** The least recently used row of a sample (of every row while there are few), never `kept`. */
  #pickVictim(kept: number): number {
    const { flags, lastUse } = this.#rows;
    let best = EMPTY;
    let bestUse = Number.POSITIVE_INFINITY;
    const consider = (row: number): void => {
      if (row === kept || ((flags[row] as number) & LIVE) === 0) return;
      const use = lastUse[row] as number;
      if (use < bestUse) {
        best = row;
        bestUse = use;
      }
    };
    let taken = 0;
    if (this.#high > EVICTION_SAMPLE * 4) {
      for (let tries = 0; taken < EVICTION_SAMPLE && tries < EVICTION_SAMPLE * 16; tries++) {
        const row = Math.floor(Math.random() * this.#high);
        if (row === kept || ((flags[row] as number) & LIVE) === 0) continue;
        consider(row);
        taken++;
      }
    }
    // Few rows, or a sample that found none (mostly free rows, after a large purge): look at every row.
    if (taken === 0) for (let row = 0; row < this.#high; row++) consider(row);
    return best;
  }
}
