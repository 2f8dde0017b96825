/**
 * A disk slice store: one file per entry under a two-level fan-out (`dir/ab/cd/<key>`), each file a small
 * checksummed header and the body, written atomically (temp file + rename), read with positional reads, kept
 * within a byte budget by an in-memory LRU index rebuilt from the headers at start. Over 400 lines because the
 * file format, the index and the I/O are one unit: splitting them would only move private helpers apart.
 *
 * File layout (all integers big-endian):
 *
 * | bytes      | content                                                                      |
 * | ---------- | ---------------------------------------------------------------------------- |
 * | 0–3        | magic `SFCE`                                                                 |
 * | 4–7        | format version (1)                                                           |
 * | 8–11       | length `n` of the meta JSON                                                  |
 * | 12–15      | CRC-32 of the meta JSON                                                      |
 * | 16–16+n    | meta JSON: key, kind, objectKey, validator, range, size, expiresAt, storedAt, |
 * |            | body length, block size, and one CRC-32 per 64 KiB block of the body          |
 * | 16+n–…     | the body                                                                     |
 *
 * Per-block checksums let a sub-range read verify only the blocks it touches. A file that fails any check is
 * a miss and is removed: the store never serves bytes it cannot vouch for (SPEC R7, P13, P25). No fsync: a
 * file torn by a power cut fails its checksum and is dropped, which is all a cache needs.
 *
 * The fan-out directories are the key's first four hex digits — the hash of the object key (see
 * `core/keys.ts`) — so every file of one object shares one directory. Keys are checked against the core's
 * key shape before they touch a path (R15). Sharing `dir` between processes is safe: writes land by
 * rename(2), a file that vanished is a miss, and each process evicts among the entries it knows.
 *
 * @module
 */
import {
  close,
  closeSync,
  mkdir,
  open,
  openSync,
  read,
  readdir,
  readdirSync,
  readSync,
  rename,
  statSync,
  unlink,
  unlinkSync,
  writev,
} from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { type Chunks, chunksLength } from '../core/chunks.js';
import { isSliceFetchError, SliceFetchError } from '../core/errors.js';
import type {
  ByteRange,
  CacheEntryMeta,
  CacheGetOptions,
  CacheStats,
  CacheStorage,
  Logger,
} from '../ports.js';

/** Options of {@link fsStorage}. */
export interface FsStorageOptions {
  /** The cache directory; created when missing. Several processes may share it. */
  dir: string;
  /**
   * Byte budget of the bodies held (headers of ~200 bytes per file and file-system block rounding come on
   * top); the least recently used entries are deleted beyond it. Each process sharing `dir` enforces it over
   * the entries it knows (its own writes, the start-up scan and the hits it served).
   * @default 1073741824 (1 GiB)
   */
  maxBytes?: number;
  /** Clock for expiry checks, milliseconds since the epoch. @default Date.now */
  now?: () => number;
  /** Receives warnings about corrupt files removed and failed evictions. @default no logging */
  logger?: Logger;
}

/** A disk {@link CacheStorage}, with a promise for its start-up index scan. */
export interface FsStorage extends CacheStorage {
  /**
   * Settles when the start-up scan of `dir` has rebuilt the index; rejects (with `ERR_SLICE_CACHE`) when
   * `dir` cannot be created or listed. Awaiting it is optional: `get` never waits for the scan, and `set`,
   * `delete`, `purgeObject` and `stats` wait for it themselves (they need the full index).
   */
  readonly ready: Promise<void>;
}

/**
 * Creates a disk {@link CacheStorage}. Returns synchronously; the index of existing files is rebuilt in the
 * background (see {@link FsStorage.ready}). Every method throws a `SliceFetchError` (`ERR_SLICE_CACHE`, the
 * Node error as `cause`) on an I/O failure such as `ENOSPC`, `EACCES` or `EIO`; the engine fails open on it.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `dir` is empty or `maxBytes` is not a positive integer.
 * @example
 * ```ts
 * import { createSliceFetcher, fsStorage } from 'slice-fetch';
 * const cache = fsStorage({ dir: '/var/cache/slices', maxBytes: 20 * 1024 ** 3 });
 * const fetcher = createSliceFetcher({ cache });
 * ```
 */
export function fsStorage(options: FsStorageOptions): FsStorage {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected \`dir\` to be a directory path, got \`${String(options.dir)}\`.`,
      {
        paths: ['dir'],
      },
    );
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected \`maxBytes\` to be a positive integer, got \`${String(maxBytes)}\`.`,
      {
        paths: ['maxBytes'],
      },
    );
  }
  return new FsStore(resolve(options.dir), maxBytes, options.now ?? Date.now, options.logger);
}

// ---------------------------------------------------------------------------------------------------------

const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
const MAGIC = 0x53464345; // 'SFCE'
const VERSION = 1;
const FIXED_HEADER = 16;
const BLOCK_SIZE = 64 * 1024;
/** Enough for the header of a 1 MiB slice with a long URL, so most header reads are one `read`. */
const HEADER_PROBE = 4096;
/** A meta JSON longer than this is corrupt (a 64 MiB slice's 1024 block CRCs take ~11 KiB). */
const MAX_META = 1024 * 1024;
/** The start-up scan yields to the event loop this often (milliseconds). */
const SCAN_SLICE_MS = 10;
/** Temp files older than this at start-up belong to a crashed writer. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** R15: only core-made keys become file names — no separators, no dots to climb, fixed length. */
const KEY = /^[0-9a-f]{32}\.(?:[0-9a-f]{32}|meta)$/;
const FAN = /^[0-9a-f]{2}$/;

interface IndexEntry {
  /** Body bytes, counted against the budget. */
  readonly bytes: number;
  /** Header + body: lets a whole read fetch the file in one `read`. */
  readonly fileBytes: number;
  readonly objectKey: string;
}

interface Header {
  readonly key: string;
  readonly objectKey: string;
  readonly expiresAt: number;
  readonly storedAt: number;
  readonly length: number;
  readonly blockSize: number;
  readonly crc: readonly number[];
  /** Offset of the body in the file. */
  readonly bodyOffset: number;
}

/** What a header parse found: a header, a need for more bytes, a file from a newer writer, or corruption. */
type Parsed =
  | { readonly kind: 'ok'; readonly header: Header }
  | { readonly kind: 'more'; readonly need: number }
  | { readonly kind: 'foreign' }
  | { readonly kind: 'corrupt'; readonly reason: string };

class FsStore implements FsStorage {
  readonly ready: Promise<void>;
  readonly maxBytes: number;
  /** Every read is checked against the per-block CRC-32s and the key in the header (see the module comment). */
  readonly checksummed = true;
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  /** Access order, least recently used first (Map iteration order). */
  readonly #entries = new Map<string, IndexEntry>();
  /** objectKey → its keys, so a purge touches only that object's files (no directory walk). */
  readonly #objects = new Map<string, Set<string>>();
  readonly #dirs = new Set<string>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Never rejects: methods wait on it, then surface their own I/O errors. */
  readonly #scanned: Promise<void>;
  readonly #tempPrefix = `${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  #tempSeq = 0;
  #bytes = 0;
  #closed = false;

  constructor(dir: string, maxBytes: number, now: () => number, logger: Logger | undefined) {
    this.#dir = dir;
    this.maxBytes = maxBytes;
    this.#maxBytes = maxBytes;
    this.#now = now;
    this.#logger = logger;
    this.ready = this.#scan();
    this.ready.catch(() => {}); // a caller who never awaits `ready` must not see an unhandled rejection
    this.#scanned = this.ready.catch((error: unknown) => {
      this.#logger?.warn({ dir, error }, 'fsStorage could not scan its directory');
    });
  }

  async get(key: string, range?: ByteRange, options?: CacheGetOptions): Promise<Chunks | undefined> {
    this.#assertOpen();
    const path = this.#path(key);
    if (range !== undefined) assertRange(range);
    let fd: number;
    try {
      fd = await call<number>((cb) => open(path, 'r', cb));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw this.#fail('read', key, error);
      this.#forget(key);
      return undefined;
    }
    try {
      return await this.#read(fd, key, path, range, options?.allocate ?? Buffer.allocUnsafeSlow);
    } catch (error) {
      throw this.#fail('read', key, error);
    } finally {
      close(fd, noop);
    }
  }

  async set(key: string, value: Chunks, meta: CacheEntryMeta): Promise<void> {
    this.#assertOpen();
    const path = this.#path(key);
    const write = this.#write(key, path, value, meta);
    this.#pending.add(write);
    try {
      await write;
    } finally {
      this.#pending.delete(write);
    }
  }

  async delete(key: string): Promise<boolean> {
    this.#assertOpen();
    const path = this.#path(key);
    await this.#scanned;
    this.#forget(key);
    return this.#unlink(path, key, 'delete');
  }

  async purgeObject(objectKey: string): Promise<number> {
    this.#assertOpen();
    await this.#scanned;
    const keys = [...(this.#objects.get(objectKey) ?? [])];
    for (const key of keys) this.#forget(key);
    const removed = await Promise.all(keys.map((key) => this.#unlink(this.#path(key), key, 'purge')));
    return removed.filter(Boolean).length;
  }

  async stats(): Promise<CacheStats> {
    this.#assertOpen();
    await this.#scanned;
    return { bytes: this.#bytes, entries: this.#entries.size };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Let the scan stop and in-flight writes finish (or fail), so no temp file or descriptor outlives close.
    await this.#scanned;
    await Promise.allSettled([...this.#pending]);
    this.#entries.clear();
    this.#objects.clear();
    this.#bytes = 0;
  }

  /**
   * Reads and verifies one file through `fd` into memory from `allocate` (the caller's pool, or fresh); a
   * corrupt file is removed and is a miss.
   */
  async #read(
    fd: number,
    key: string,
    path: string,
    range: ByteRange | undefined,
    allocate: (bytes: number) => Uint8Array,
  ): Promise<Chunks | undefined> {
    const known = this.#entries.get(key);
    if (range === undefined && known !== undefined) {
      // Fast path: the index knows the file's size, so header and body arrive in one positional read.
      const file = allocated(allocate, known.fileBytes);
      const got = await readFull(fd, file, 0);
      const parsed = parseHeader(file.subarray(0, got), key);
      if (parsed.kind === 'ok' && parsed.header.bodyOffset + parsed.header.length === got) {
        return this.#serve(key, path, parsed.header, file.subarray(parsed.header.bodyOffset), 0);
      }
      // Replaced by a file of another size (rewritten metadata): read it the general way.
    }
    const parsed = await readHeader(
      fd,
      key,
      known === undefined ? HEADER_PROBE : known.fileBytes - known.bytes,
    );
    if (parsed.kind === 'foreign') return undefined;
    if (parsed.kind !== 'ok')
      return this.#corrupt(key, path, parsed.kind === 'corrupt' ? parsed.reason : 'truncated header');
    const { header } = parsed;
    if (header.expiresAt <= this.#now()) return this.#expired(key, path);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? header.length - 1, header.length - 1);
    if (start > end) return this.#serve(key, path, header, Buffer.alloc(0), 0);
    // Read whole checksum blocks only, so every byte served has been verified.
    const from = Math.floor(start / header.blockSize) * header.blockSize;
    const to = Math.min((Math.floor(end / header.blockSize) + 1) * header.blockSize, header.length);
    const body = allocated(allocate, to - from);
    const got = await readFull(fd, body, header.bodyOffset + from);
    if (got !== body.length) return this.#corrupt(key, path, 'truncated body');
    const chunks = await this.#serve(key, path, header, body, from);
    return chunks?.[0] === undefined ? chunks : [chunks[0].subarray(start - from, end - from + 1)];
  }

  /** Checks expiry and the CRCs of `body` (the blocks starting at body offset `from`), then records the hit. */
  async #serve(
    key: string,
    path: string,
    header: Header,
    body: Buffer,
    from: number,
  ): Promise<Chunks | undefined> {
    if (header.expiresAt <= this.#now()) return this.#expired(key, path);
    const firstBlock = from / header.blockSize;
    for (let offset = 0, block = firstBlock; offset < body.length; offset += header.blockSize, block++) {
      const end = Math.min(offset + header.blockSize, body.length);
      if (crc32(body.subarray(offset, end)) !== header.crc[block]) {
        return this.#corrupt(key, path, `checksum mismatch in block ${block}`);
      }
    }
    this.#remember(key, header.length, header.bodyOffset + header.length, header.objectKey);
    return [body];
  }

  async #write(key: string, path: string, value: Chunks, meta: CacheEntryMeta): Promise<void> {
    const length = chunksLength(value);
    const header = encodeHeader(key, meta, length, this.#now(), blockCrcs(value));
    await this.#scanned;
    if (length > this.#maxBytes || meta.expiresAt <= this.#now()) {
      // Larger than the whole budget (keeping it would evict everything) or expired already: not worth a
      // write. Any older value under the key goes, so it cannot be served in the new one's place.
      this.#forget(key);
      await this.#unlink(path, key, 'delete');
      return;
    }
    const leaf = join(path, '..');
    const temp = join(leaf, `.${key}.${this.#tempPrefix}-${(this.#tempSeq++).toString(36)}.tmp`);
    let fd: number | undefined;
    try {
      if (!this.#dirs.has(leaf)) await this.#mkdir(leaf);
      try {
        fd = await call<number>((cb) => open(temp, 'wx', cb));
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw error;
        await this.#mkdir(leaf); // someone removed the directory since we made it
        fd = await call<number>((cb) => open(temp, 'wx', cb));
      }
      await writeAll(fd, [header, ...value]);
      const written = fd;
      fd = undefined;
      await call((cb) => close(written, cb));
      // rename(2) is atomic: a reader, here or in another process, sees the old file or the new one, whole.
      await call((cb) => rename(temp, path, cb));
    } catch (error) {
      const descriptor = fd;
      if (descriptor !== undefined) await call((cb) => close(descriptor, cb)).catch(noop);
      await call((cb) => unlink(temp, cb)).catch(noop); // never leave a partial file behind (ENOSPC)
      throw this.#fail('write', key, error);
    }
    this.#remember(key, length, header.length + length, meta.objectKey);
    await this.#evict(key);
  }

  /** Deletes least recently used entries until the budget holds; `keep` (the entry just written) stays. */
  async #evict(keep: string): Promise<void> {
    const victims: string[] = [];
    for (const key of this.#entries.keys()) {
      if (this.#bytes <= this.#maxBytes) break;
      if (key === keep) continue;
      this.#forget(key);
      victims.push(key);
    }
    await Promise.all(
      victims.map((key) =>
        this.#unlink(this.#path(key), key, 'evict').catch((error: unknown) => {
          // The write succeeded; a file that cannot be evicted only costs disk space, so warn, don't throw.
          this.#logger?.warn({ key, error }, 'fsStorage could not evict an entry');
        }),
      ),
    );
  }

  /** Adds or refreshes an index entry as the most recently used. */
  #remember(key: string, bytes: number, fileBytes: number, objectKey: string): void {
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= previous.bytes;
      if (previous.objectKey !== objectKey) this.#objects.get(previous.objectKey)?.delete(key);
    }
    this.#entries.set(key, { bytes, fileBytes, objectKey });
    this.#bytes += bytes;
    let keys = this.#objects.get(objectKey);
    if (keys === undefined) {
      keys = new Set();
      this.#objects.set(objectKey, keys);
    }
    keys.add(key);
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    const keys = this.#objects.get(entry.objectKey);
    keys?.delete(key);
    if (keys?.size === 0) this.#objects.delete(entry.objectKey);
  }

  /** Unlinks a file; `false` when it was already gone (another process may have evicted it). */
  async #unlink(path: string, key: string, operation: string): Promise<boolean> {
    try {
      await call((cb) => unlink(path, cb));
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw this.#fail(operation, key, error);
    }
  }

  async #expired(key: string, path: string): Promise<undefined> {
    this.#forget(key);
    await this.#unlink(path, key, 'delete').catch(noop); // lazy expiry: best effort, the read is a miss anyway
    return undefined;
  }

  async #corrupt(key: string, path: string, reason: string): Promise<undefined> {
    this.#forget(key);
    this.#logger?.warn({ key, path, reason }, 'fsStorage removed a corrupt cache file');
    await this.#unlink(path, key, 'delete').catch(noop);
    return undefined;
  }

  async #mkdir(leaf: string): Promise<void> {
    await call((cb) => mkdir(leaf, { recursive: true }, (error) => cb(error)));
    this.#dirs.add(leaf);
  }

  /** Rebuilds the index from the headers of the files under `dir`, least recently written first. */
  async #scan(): Promise<void> {
    const started = performance.now();
    await call((cb) => mkdir(this.#dir, { recursive: true }, (error) => cb(error))).catch(
      (error: unknown) => {
        throw this.#fail('create', this.#dir, error);
      },
    );
    const top = await list(this.#dir).catch((error: unknown) => {
      throw this.#fail('list', this.#dir, error);
    });
    // Synchronous listing and header reads in ~10 ms slices: each call is tiny, and thread-pool round trips
    // made the asynchronous version 3-4x slower (20,000 files: ~2 s against ~0.6 s). The event loop still
    // turns every slice, and the pool stays free for the hits `get` serves meanwhile.
    const found: Header[] = [];
    const probe = Buffer.allocUnsafe(HEADER_PROBE);
    let sliceStarted = performance.now();
    for (const first of top.filter((name) => FAN.test(name))) {
      for (const second of listQuietSync(join(this.#dir, first)).filter((name) => FAN.test(name))) {
        const leaf = join(this.#dir, first, second);
        for (const name of listQuietSync(leaf)) {
          if (performance.now() - sliceStarted > SCAN_SLICE_MS) {
            await new Promise((resolveTurn) => setImmediate(resolveTurn));
            sliceStarted = performance.now();
          }
          if (this.#closed) return; // closed mid-scan: build nothing, evict nothing
          try {
            const header = this.#scanFile(join(leaf, name), probe);
            if (header !== undefined) found.push(header);
          } catch (error) {
            this.#logger?.warn(
              { path: join(leaf, name), error },
              'fsStorage skipped an unreadable cache file',
            );
          }
        }
      }
    }
    // Entries touched while the scan ran are more recent than anything it found: keep them last.
    const touched = [...this.#entries.keys()];
    found.sort((a, b) => a.storedAt - b.storedAt);
    for (const header of found) {
      if (!this.#entries.has(header.key)) {
        this.#remember(header.key, header.length, header.bodyOffset + header.length, header.objectKey);
      }
    }
    for (const key of touched) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) this.#remember(key, entry.bytes, entry.fileBytes, entry.objectKey);
    }
    await this.#evict('');
    this.#logger?.debug(
      {
        dir: this.#dir,
        entries: this.#entries.size,
        bytes: this.#bytes,
        ms: Math.round(performance.now() - started),
      },
      'fsStorage index rebuilt',
    );
  }

  /** Reads one file's header at start-up; removes corrupt, expired and stale temp files. */
  #scanFile(path: string, probe: Buffer): Header | undefined {
    const name = basename(path);
    if (name.endsWith('.tmp')) {
      // mtimes are wall-clock times, so the age is measured with the wall clock, not the injected one.
      const modified = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - modified > STALE_TEMP_MS) unlinkQuietSync(path);
      return undefined;
    }
    if (!KEY.test(name)) return undefined;
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined; // evicted by another process meanwhile
      throw error;
    }
    let parsed: Parsed;
    try {
      const got = readFullSync(fd, probe, 0);
      parsed = settle(parseHeader(probe.subarray(0, got), name), got === probe.length);
      if (parsed.kind === 'more') {
        const bytes = Buffer.allocUnsafe(parsed.need);
        parsed = settle(parseHeader(bytes.subarray(0, readFullSync(fd, bytes, 0)), name), false);
      }
    } finally {
      closeSync(fd);
    }
    if (parsed.kind === 'foreign') return undefined;
    if (parsed.kind !== 'ok' || parsed.header.expiresAt <= this.#now()) {
      if (parsed.kind !== 'ok') {
        const reason = parsed.kind === 'corrupt' ? parsed.reason : 'truncated header';
        this.#logger?.warn({ path, reason }, 'fsStorage removed a corrupt cache file');
      }
      unlinkQuietSync(path);
      return undefined;
    }
    return parsed.header;
  }

  #path(key: string): string {
    if (typeof key !== 'string' || !KEY.test(key)) {
      const shown = String(key).slice(0, 100);
      throw new SliceFetchError(
        'ERR_SLICE_CACHE',
        `Expected \`key\` to be a slice-fetch cache key, got \`${shown}\`.`,
      );
    }
    return join(this.#dir, key.slice(0, 2), key.slice(2, 4), key);
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new SliceFetchError('ERR_SLICE_CACHE', `fsStorage(${this.#dir}) was used after close().`);
  }

  #fail(operation: string, key: string, error: unknown): SliceFetchError {
    if (isSliceFetchError(error)) return error;
    const code = errorCode(error);
    const message = error instanceof Error ? error.message : String(error);
    return new SliceFetchError(
      'ERR_SLICE_CACHE',
      `fsStorage could not ${operation} ${key} in ${this.#dir}${code === '' ? '' : ` (${code})`}: ${message}`,
      { cause: error },
    );
  }
}

function encodeHeader(
  key: string,
  meta: CacheEntryMeta,
  length: number,
  storedAt: number,
  crc: number[],
): Buffer {
  if (typeof meta.expiresAt !== 'number' || Number.isNaN(meta.expiresAt)) {
    throw new SliceFetchError(
      'ERR_SLICE_CACHE',
      `Expected \`expiresAt\` to be a number, got \`${String(meta.expiresAt)}\`.`,
    );
  }
  const json = Buffer.from(
    JSON.stringify({
      key,
      kind: meta.kind,
      objectKey: meta.objectKey,
      validator: meta.validator,
      range: [meta.range.start, meta.range.end],
      size: meta.size,
      // JSON has no Infinity; `null` stands for "never expires".
      expiresAt: Number.isFinite(meta.expiresAt) ? meta.expiresAt : null,
      storedAt,
      length,
      blockSize: BLOCK_SIZE,
      crc,
    }),
    'utf8',
  );
  if (json.length > MAX_META) {
    throw new SliceFetchError(
      'ERR_SLICE_CACHE',
      `Expected the entry's meta to be at most ${MAX_META} bytes, got ${json.length}.`,
    );
  }
  const header = Buffer.allocUnsafe(FIXED_HEADER + json.length);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(VERSION, 4);
  header.writeUInt32BE(json.length, 8);
  header.writeUInt32BE(crc32(json), 12);
  json.copy(header, FIXED_HEADER);
  return header;
}

/** Parses a header from the first bytes of a file named `key`. */
function parseHeader(bytes: Buffer, key: string): Parsed {
  if (bytes.length < FIXED_HEADER) return { kind: 'more', need: FIXED_HEADER };
  if (bytes.readUInt32BE(0) !== MAGIC) return { kind: 'corrupt', reason: 'bad magic' };
  const version = bytes.readUInt32BE(4);
  // A newer writer sharing the directory: not ours to read, not ours to delete.
  if (version > VERSION) return { kind: 'foreign' };
  if (version !== VERSION) return { kind: 'corrupt', reason: `unknown version ${version}` };
  const metaLength = bytes.readUInt32BE(8);
  if (metaLength > MAX_META) return { kind: 'corrupt', reason: 'oversized meta' };
  if (bytes.length < FIXED_HEADER + metaLength) return { kind: 'more', need: FIXED_HEADER + metaLength };
  const json = bytes.subarray(FIXED_HEADER, FIXED_HEADER + metaLength);
  if (crc32(json) !== bytes.readUInt32BE(12)) return { kind: 'corrupt', reason: 'header checksum mismatch' };
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { kind: 'corrupt', reason: 'unparseable meta' };
  }
  const { length, blockSize, crc, objectKey, storedAt } = meta;
  const expiresAt = meta.expiresAt === null ? Number.POSITIVE_INFINITY : meta.expiresAt;
  if (
    meta.key !== key ||
    typeof objectKey !== 'string' ||
    typeof expiresAt !== 'number' ||
    typeof storedAt !== 'number' ||
    !Number.isSafeInteger(length) ||
    !Number.isSafeInteger(blockSize) ||
    (blockSize as number) < 1 ||
    !Array.isArray(crc) ||
    crc.length !== Math.ceil((length as number) / (blockSize as number)) ||
    !crc.every((value) => Number.isInteger(value))
  ) {
    return { kind: 'corrupt', reason: 'invalid meta' };
  }
  return {
    kind: 'ok',
    header: {
      key,
      objectKey,
      expiresAt,
      storedAt,
      length: length as number,
      blockSize: blockSize as number,
      crc: crc as number[],
      bodyOffset: FIXED_HEADER + metaLength,
    },
  };
}

/** Reads a header, `probe` bytes first and more when the meta JSON is longer. */
async function readHeader(fd: number, key: string, probe: number): Promise<Parsed> {
  const bytes = Buffer.allocUnsafe(Math.max(probe, FIXED_HEADER));
  const got = await readFull(fd, bytes, 0);
  const parsed = settle(parseHeader(bytes.subarray(0, got), key), got === bytes.length);
  if (parsed.kind !== 'more') return parsed;
  const more = Buffer.allocUnsafe(parsed.need);
  return settle(parseHeader(more.subarray(0, await readFull(fd, more, 0)), key), false);
}

/** A header that needs more bytes than the file holds (`filled` false: the read hit the end) is truncated. */
function settle(parsed: Parsed, filled: boolean): Parsed {
  return parsed.kind === 'more' && !filled ? { kind: 'corrupt', reason: 'truncated header' } : parsed;
}

/** One CRC-32 per {@link BLOCK_SIZE} bytes of the body, computed across chunk boundaries. */
function blockCrcs(chunks: Chunks): number[] {
  const out: number[] = [];
  let crc = 0;
  let filled = 0;
  for (const chunk of chunks) {
    for (let offset = 0; offset < chunk.byteLength; ) {
      const take = Math.min(BLOCK_SIZE - filled, chunk.byteLength - offset);
      crc = crc32(take === chunk.byteLength ? chunk : chunk.subarray(offset, offset + take), crc);
      filled += take;
      offset += take;
      if (filled === BLOCK_SIZE) {
        out.push(crc);
        crc = 0;
        filled = 0;
      }
    }
  }
  if (filled > 0) out.push(crc);
  return out;
}

/** `bytes` bytes from `allocate` as a `Buffer` (it may return a plain `Uint8Array`), fresh if it got the size wrong. */
function allocated(allocate: (bytes: number) => Uint8Array, bytes: number): Buffer {
  const memory = allocate(bytes);
  if (memory.byteLength !== bytes) return Buffer.allocUnsafeSlow(bytes);
  return Buffer.isBuffer(memory) ? memory : Buffer.from(memory.buffer, memory.byteOffset, bytes);
}

/** The synchronous twin of {@link readFull}, for the start-up scan. */
function readFullSync(fd: number, buffer: Buffer, position: number): number {
  let got = 0;
  while (got < buffer.length) {
    const n = readSync(fd, buffer, got, buffer.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function listQuietSync(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // a stray file among the fan-out directories, or one removed meanwhile
  }
}

function unlinkQuietSync(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or not ours to remove: the index simply does not list it
  }
}

/** Positional reads until `buffer` is full or the file ends; resolves the bytes read. */
async function readFull(fd: number, buffer: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buffer.length) {
    const n = await call<number>((cb) => read(fd, buffer, got, buffer.length - got, position + got, cb));
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** `writev` until every byte is written (a short write is legal, e.g. right before `ENOSPC`). */
async function writeAll(fd: number, buffers: Uint8Array[]): Promise<void> {
  let position = 0;
  let rest = buffers.filter((buffer) => buffer.byteLength > 0);
  while (rest.length > 0) {
    const n = await call<number>((cb) => writev(fd, rest, position, cb));
    position += n;
    let skip = n;
    while (rest.length > 0 && skip >= (rest[0] as Uint8Array).byteLength)
      skip -= (rest.shift() as Uint8Array).byteLength;
    if (skip > 0 && rest[0] !== undefined) rest = [rest[0].subarray(skip), ...rest.slice(1)];
  }
}

function list(dir: string): Promise<string[]> {
  return call<string[]>((cb) => readdir(dir, cb));
}

function assertRange(range: ByteRange): void {
  if (
    !Number.isSafeInteger(range.start) ||
    !Number.isSafeInteger(range.end) ||
    range.start < 0 ||
    range.end < range.start
  ) {
    throw new SliceFetchError(
      'ERR_SLICE_CACHE',
      `Expected a range with 0 ≤ start ≤ end, got \`${range.start}-${range.end}\`.`,
      {
        range: `${range.start}-${range.end}`,
      },
    );
  }
}

/** Promisifies one callback-style fs call (the callback API is measurably cheaper than `fs.promises`). */
function call<T = void>(
  start: (cb: (error: NodeJS.ErrnoException | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    start((error, value) => (error ? reject(error) : resolvePromise(value as T)));
  });
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function noop(): void {}
