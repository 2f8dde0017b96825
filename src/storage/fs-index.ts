/**
 * The in-memory index of `fsStorage`: which entries this process knows on disk, their sizes, objects and
 * expiry, in least-recently-used order. It counts the body bytes against the budget, picks eviction victims,
 * and finds an object's keys for a purge without walking directories. It does no I/O: the store removes the
 * files of what the index forgets.
 *
 * @module
 */
import type { Header } from './fs-format.js';

/** What the index knows of one file. */
export interface IndexEntry {
  /** Body bytes, counted against the budget. */
  readonly bytes: number;
  /** Header + body: lets a whole read fetch the file in one `read`. */
  readonly fileBytes: number;
  readonly objectKey: string;
  /** Milliseconds since the epoch; `Infinity` when the entry never expires. */
  readonly expiresAt: number;
}

/** The index entry of a file with this header (`objectKey`: the header's, or an equal string shared by more). */
export function indexEntryOf(header: Header, objectKey = header.objectKey): IndexEntry {
  return {
    bytes: header.length,
    fileBytes: header.bodyOffset + header.length,
    objectKey,
    expiresAt: header.expiresAt,
  };
}

/** An entry found on disk by the start-up scan. */
export interface FoundEntry {
  readonly key: string;
  /** When it was written, milliseconds since the epoch: the scan's best guess at its recency. */
  readonly storedAt: number;
  readonly entry: IndexEntry;
}

/** An LRU index of entries by key, with a reverse index by object. */
export class FsIndex {
  /** Access order, least recently used first (Map iteration order). */
  readonly #entries = new Map<string, IndexEntry>();
  /** objectKey → its keys, so a purge touches only that object's files. */
  readonly #objects = new Map<string, Set<string>>();
  #bytes = 0;

  /** Body bytes of every entry. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry under `key`, without making it more recent. */
  get(key: string): IndexEntry | undefined {
    return this.#entries.get(key);
  }

  /** Adds or replaces an entry as the most recently used. */
  remember(key: string, entry: IndexEntry): void {
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= previous.bytes;
      if (previous.objectKey !== entry.objectKey) this.#objects.get(previous.objectKey)?.delete(key);
    }
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    let keys = this.#objects.get(entry.objectKey);
    if (keys === undefined) {
      keys = new Set();
      this.#objects.set(entry.objectKey, keys);
    }
    keys.add(key);
  }

  /** Drops an entry, if known. */
  forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    const keys = this.#objects.get(entry.objectKey);
    keys?.delete(key);
    if (keys?.size === 0) this.#objects.delete(entry.objectKey);
  }

  /** The keys of every entry of one object. */
  keysOf(objectKey: string): string[] {
    return [...(this.#objects.get(objectKey) ?? [])];
  }

  /**
   * Forgets least recently used entries until the bytes held are within `maxBytes`, and returns their keys
   * (the files to delete); `keep` (the entry just written) stays.
   */
  evict(maxBytes: number, keep: string): string[] {
    const victims: string[] = [];
    for (const key of this.#entries.keys()) {
      if (this.#bytes <= maxBytes) break;
      if (key === keep) continue;
      this.forget(key);
      victims.push(key);
    }
    return victims;
  }

  /**
   * Merges the entries the start-up scan found: those not known yet join, oldest write first; entries touched
   * while the scan ran are more recent than anything it found, so they stay last.
   */
  adopt(found: readonly FoundEntry[]): void {
    const touched = [...this.#entries];
    for (const { key, entry } of [...found].sort((a, b) => a.storedAt - b.storedAt)) {
      if (!this.#entries.has(key)) this.remember(key, entry);
    }
    for (const [key, entry] of touched) this.remember(key, entry);
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
    this.#objects.clear();
    this.#bytes = 0;
  }
}
