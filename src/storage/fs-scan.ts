/**
 * The start-up scan of `fsStorage`: rebuilds the index from the headers of the files under `dir`, one leaf
 * directory (`dir/ab/cd/`) at a time, removing on the way invalid files, expired ones and temp files a
 * crashed writer left behind.
 *
 * The store serves while the scan runs, and stays correct without waiting for it: `has` of a key the index does
 * not know yet reads that one file's header at once ({@link IndexLoader.loadKey}); a key removed meanwhile
 * (deleted, evicted, dropped as corrupt) and every key of an object purged meanwhile are never adopted by the
 * scan afterwards, even when it listed their directory before they went (their unlinks may still be in
 * flight). Entries go into the index as they are found (no list of everything to sort and adopt at the end,
 * which blocked the event loop ~1.7 s per million entries).
 *
 * The listing and header reads are synchronous, yielding to the event loop every ~2 ms, also inside a large
 * directory (one object of 20 000 slices is one directory of 20 000 files): each call is tiny, and thread-pool
 * round trips made the asynchronous version 3-4x slower (20,000 files: ~2 s against ~0.6 s).
 *
 * @module
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../ports.js';
import { ENTRY_NAME, FAN_NAME, type Header } from './fs-format.js';
import { type FsIndex, indexEntryOf } from './fs-index.js';
import {
  errorCode,
  HEADER_PROBE,
  isTempName,
  list,
  listQuietSync,
  readHeaderSync,
  unlinkQuietSync,
} from './fs-io.js';

/** What the scan needs from the store. */
export interface ScanOptions {
  /** The store's clock, for expiry. */
  readonly now: () => number;
  readonly logger: Logger | undefined;
  /** Whether the store was closed: the scan then stops. */
  readonly closed: () => boolean;
  /** Called between leaves when the index holds more bytes than the budget (the store evicts). */
  readonly overBudget: () => void;
  readonly maxBytes: number;
}

/**
 * The walk yields to the event loop this often (milliseconds). A store hit during the scan waits out up to one
 * slice per thread-pool round trip: 5 ms slices gave hits of 10.9 ms (median, 1 M entries), 1 ms slices
 * 4.3 ms (200 k entries) but a scan about a third slower.
 */
const SCAN_SLICE_MS = 2;
/** Temp files older than this at start-up belong to a crashed writer. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Fan-out directories after which the walk estimates the index's final size (see `#reserveAhead`). */
const ESTIMATE_AT = new Set([1, 4, 16, 64]);
/** Hex characters of an object's key prefix. */
const PREFIX_HEX = 32;

/** Loads the index of one store from its directory, in the background and on demand. */
export class IndexLoader {
  #done = false;
  /** Keys removed while the scan runs: the scan must not adopt them, whatever it listed before. */
  readonly #removed = new Set<string>();
  /** Key prefixes (objects) purged while the scan runs: likewise. */
  readonly #purged = new Set<string>();
  readonly #probe = Buffer.allocUnsafe(HEADER_PROBE);
  /** Entries and body bytes the walk itself adopted (not those used meanwhile), for its size estimates. */
  #adopted = 0;
  #adoptedBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly index: FsIndex,
    private readonly options: ScanOptions,
  ) {}

  /** Whether the scan has finished. */
  get done(): boolean {
    return this.#done;
  }

  /** While the scan runs, adopts the file of `key` (a core-made key) if the index does not know it yet. */
  loadKey(key: string): void {
    if (this.#done || !ENTRY_NAME.test(key) || this.index.get(key) !== undefined || this.#skips(key)) return;
    this.#adoptFile(join(this.dir, key.slice(0, 2), key.slice(2, 4), key), key);
  }

  /** Tells the scan that `key` is being removed: it will not adopt it. */
  removing(key: string): void {
    if (!this.#done) this.#removed.add(key);
  }

  /** Tells the scan that every key starting with `prefix` (an object's) is being purged. */
  purging(prefix: string): void {
    if (!this.#done) this.#purged.add(prefix);
  }

  /**
   * Walks every leaf of `dir` (which must exist) into the index; resolves `false` when the store was closed
   * meanwhile. Rejects with Node's error only when `dir` itself cannot be listed; an unreadable file is logged
   * and skipped.
   */
  async loadAll(): Promise<boolean> {
    const firsts = (await list(this.dir)).filter((name) => FAN_NAME.test(name));
    let sliceStarted = performance.now();
    for (const [position, first] of firsts.entries()) {
      if (ESTIMATE_AT.has(position)) this.#reserveAhead(position, firsts.length);
      for (const second of listQuietSync(join(this.dir, first)).filter((name) => FAN_NAME.test(name))) {
        const leaf = join(this.dir, first, second);
        for (const name of listQuietSync(leaf)) {
          if (performance.now() - sliceStarted > SCAN_SLICE_MS) {
            if (this.index.bytes > this.options.maxBytes) this.options.overBudget();
            await new Promise((resolveTurn) => setImmediate(resolveTurn));
            sliceStarted = performance.now();
          }
          if (this.options.closed()) return false;
          if (this.#skips(name)) continue;
          this.#adoptFile(join(leaf, name), name);
        }
      }
    }
    this.#done = true;
    this.#removed.clear();
    this.#purged.clear();
    return true;
  }

  #skips(name: string): boolean {
    return this.#removed.has(name) || this.#purged.has(name.slice(0, PREFIX_HEX));
  }

  #adoptFile(path: string, name: string): void {
    try {
      const header = this.#scanFile(path, name);
      // `adopt` copies the key into the index's columns: no string per entry stays on the heap.
      if (header === undefined || !this.index.adopt(header.key, indexEntryOf(header), header.storedAt))
        return;
      this.#adopted++;
      this.#adoptedBytes += header.length;
    } catch (error) {
      this.options.logger?.warn({ path, error }, 'fsStorage skipped an unreadable cache file');
    }
  }

  /**
   * Makes room in the index for what the walk expects to find, from what it found in the first `position` of
   * `total` fan-out directories (keys are hashes, so each holds about its share). Growing as entries arrive
   * instead copies the columns and re-enters every row now and then, blocking longer the bigger the index
   * (0.7 s at 6 M entries). One object's files all share a directory, so one huge object can skew an early
   * estimate: each step grows the index at most 4-fold, and never beyond what `maxBytes` can hold at the
   * bodies' average size.
   */
  #reserveAhead(position: number, total: number): void {
    if (this.#adopted === 0) return;
    const expected = (this.#adopted * total * 1.1) / position;
    const fitting = (this.options.maxBytes / Math.max(1, this.#adoptedBytes / this.#adopted)) * 1.1;
    const stepCap = 4 * Math.max(this.index.size, 1024);
    this.index.reserve(Math.ceil(Math.min(expected, fitting, stepCap)));
  }

  /** Reads one file's header; removes invalid, expired and stale temp files. */
  #scanFile(path: string, name: string): Header | undefined {
    if (isTempName(name)) {
      // mtimes are wall-clock times, so the age is measured with the wall clock, not the injected one.
      const modified = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - modified > STALE_TEMP_MS) unlinkQuietSync(path);
      return undefined;
    }
    if (!ENTRY_NAME.test(name)) return undefined;
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined; // evicted by another process meanwhile
      throw error;
    }
    let parsed: ReturnType<typeof readHeaderSync>;
    try {
      parsed = readHeaderSync(fd, name, this.#probe);
    } finally {
      closeSync(fd);
    }
    if (parsed.kind === 'foreign') return undefined;
    if (parsed.kind === 'invalid') {
      this.options.logger?.warn({ path, reason: parsed.reason }, 'fsStorage removed a corrupt cache file');
    } else if (parsed.header.expiresAt > this.options.now()) {
      return parsed.header;
    }
    unlinkQuietSync(path);
    return undefined;
  }
}
