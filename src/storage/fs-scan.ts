/**
 * The start-up scan of `fsStorage`: walks the fan-out directories of `dir`, reads every file's header, and
 * returns the entries found for the index — removing, on the way, invalid files, expired ones and temp files
 * a crashed writer left behind.
 *
 * The listing and header reads are synchronous, in ~10 ms slices: each call is tiny, and thread-pool round
 * trips made the asynchronous version 3-4x slower (20,000 files: ~2 s against ~0.6 s). The event loop still
 * turns after every slice, and the pool stays free for the hits the store serves meanwhile.
 *
 * @module
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from '../ports.js';
import { ENTRY_NAME, FAN_NAME, type Header } from './fs-format.js';
import { type FoundEntry, indexEntryOf } from './fs-index.js';
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
  /** Whether the store was closed: the scan then stops and returns nothing. */
  readonly closed: () => boolean;
}

/** The scan yields to the event loop this often (milliseconds). */
const SCAN_SLICE_MS = 10;
/** Temp files older than this at start-up belong to a crashed writer. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Scans `dir` (which must exist); resolves the valid, unexpired entries found, or `undefined` when the store
 * was closed meanwhile. Rejects with Node's error only when `dir` itself cannot be listed; an unreadable
 * file is logged and skipped.
 */
export async function scanDir(dir: string, options: ScanOptions): Promise<FoundEntry[] | undefined> {
  const top = await list(dir);
  const found: FoundEntry[] = [];
  const objectKeys = new Map<string, string>();
  const probe = Buffer.allocUnsafe(HEADER_PROBE);
  let sliceStarted = performance.now();
  for (const first of top.filter((name) => FAN_NAME.test(name))) {
    for (const second of listQuietSync(join(dir, first)).filter((name) => FAN_NAME.test(name))) {
      const leaf = join(dir, first, second);
      for (const name of listQuietSync(leaf)) {
        if (performance.now() - sliceStarted > SCAN_SLICE_MS) {
          await new Promise((resolveTurn) => setImmediate(resolveTurn));
          sliceStarted = performance.now();
        }
        if (options.closed()) return undefined;
        const path = join(leaf, name);
        try {
          const header = scanFile(path, probe, options);
          if (header !== undefined) {
            // Heap per entry (BENCHMARKS.md "Disk store at edge scale"): the key is a copy of its own — the file
            // name is a slice of the whole path, which it would keep alive — and an object's entries share one
            // string of its key instead of a parsed copy each.
            let objectKey = objectKeys.get(header.objectKey);
            if (objectKey === undefined) {
              objectKey = header.objectKey;
              objectKeys.set(objectKey, objectKey);
            }
            const entry = indexEntryOf(header, objectKey);
            found.push({ key: ownCopy(header.key), storedAt: header.storedAt, entry });
          }
        } catch (error) {
          options.logger?.warn({ path, error }, 'fsStorage skipped an unreadable cache file');
        }
      }
    }
  }
  return found;
}

/** Reads one file's header; removes invalid, expired and stale temp files. */
function scanFile(path: string, probe: Buffer, options: ScanOptions): Header | undefined {
  const name = basename(path);
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
    parsed = readHeaderSync(fd, name, probe);
  } finally {
    closeSync(fd);
  }
  if (parsed.kind === 'foreign') return undefined;
  if (parsed.kind === 'invalid') {
    options.logger?.warn({ path, reason: parsed.reason }, 'fsStorage removed a corrupt cache file');
  } else if (parsed.header.expiresAt > options.now()) {
    return parsed.header;
  }
  unlinkQuietSync(path);
  return undefined;
}

/** A flat copy of an ASCII string (a cache key), holding no reference to the string it was sliced from. */
function ownCopy(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}
