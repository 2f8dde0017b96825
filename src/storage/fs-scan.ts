/**
 * The start-up scan of `fsStorage`: rebuilds the index from the headers of the files under `dir`, one leaf
 * directory (`dir/ab/cd/`) at a time, removing on the way invalid files, expired ones and temp files a
 * crashed writer left behind.
 *
 * The store serves while the scan runs, and stays correct: every file of one object lives in one leaf, so
 * before the store answers `has`, deletes or purges a key of a leaf the scan has not reached, it scans that
 * leaf first ({@link IndexLoader.loadLeafOf}); the background walk skips leaves already loaded. Entries go
 * into the index as they are found (no list of everything to sort and adopt at the end, which blocked the
 * event loop ~1.7 s per million entries).
 *
 * The listing and header reads are synchronous, one leaf at a time, yielding to the event loop every ~2 ms:
 * each call is tiny, and thread-pool round trips made the asynchronous version 3-4x slower (20,000 files:
 * ~2 s against ~0.6 s). A leaf is read in one go, so the walk and an on-demand load never interleave in it.
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
/** Leaf directories: two levels of two hex digits. */
const LEAVES = 256 * 256;

/** Loads the index of one store from its directory, in the background and on demand. */
export class IndexLoader {
  /** Which leaves are in the index; `undefined` once all are. */
  #loaded: Uint8Array | undefined = new Uint8Array(LEAVES);
  readonly #probe = Buffer.allocUnsafe(HEADER_PROBE);

  constructor(
    private readonly dir: string,
    private readonly index: FsIndex,
    private readonly options: ScanOptions,
  ) {}

  /** Whether every leaf is in the index. */
  get done(): boolean {
    return this.#loaded === undefined;
  }

  /** Makes sure the index holds every file of the leaf of `key` (a core-made key), reading it now if needed. */
  loadLeafOf(key: string): void {
    if (this.#loaded === undefined || !ENTRY_NAME.test(key)) return;
    this.#loadLeaf(Number.parseInt(key.slice(0, 4), 16), key.slice(0, 2), key.slice(2, 4));
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
      if (position === 1) {
        // Keys are hashes, so the first directory holds about its share of everything: room for all of it now,
        // while the index is small, instead of growing it (and blocking) as it fills.
        this.index.reserve(Math.ceil(this.index.size * firsts.length * 1.1));
      }
      for (const second of listQuietSync(join(this.dir, first)).filter((name) => FAN_NAME.test(name))) {
        if (performance.now() - sliceStarted > SCAN_SLICE_MS) {
          if (this.index.bytes > this.options.maxBytes) this.options.overBudget();
          await new Promise((resolveTurn) => setImmediate(resolveTurn));
          sliceStarted = performance.now();
        }
        if (this.options.closed()) return false;
        this.#loadLeaf(Number.parseInt(first + second, 16), first, second);
      }
    }
    this.#loaded = undefined;
    return true;
  }

  #loadLeaf(id: number, first: string, second: string): void {
    const loaded = this.#loaded;
    if (loaded === undefined || loaded[id] === 1) return;
    loaded[id] = 1;
    const leaf = join(this.dir, first, second);
    for (const name of listQuietSync(leaf)) {
      const path = join(leaf, name);
      try {
        const header = this.#scanFile(path, name);
        // `adopt` copies the key into the index's columns: no string per entry stays on the heap.
        if (header !== undefined) this.index.adopt(header.key, indexEntryOf(header), header.storedAt);
      } catch (error) {
        this.options.logger?.warn({ path, error }, 'fsStorage skipped an unreadable cache file');
      }
    }
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
