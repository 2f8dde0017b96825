/**
 * The file I/O of `fsStorage`: positional reads, header reads, atomic writes (temp file + rename), listing and
 * unlinking. Asynchronous helpers use the callback API of `node:fs` (measurably cheaper than `fs.promises`);
 * the synchronous ones serve the start-up scan. Errors are Node's own: the store wraps them.
 *
 * @module
 */
import {
  close,
  mkdir,
  open,
  read,
  readdir,
  readdirSync,
  readSync,
  rename,
  unlink,
  unlinkSync,
  writev,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type Checked, ENTRY_NAME, FIXED_HEADER, type Header, parseHeader } from './fs-format.js';

/** Temp files end with this; the rest of their name is unique to one process and one write. */
const TEMP = '.tmp';
const TEMP_PREFIX = `${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
let tempSeq = 0;

/** Whether a file name is a temp file of {@link writeAtomically} (an unfinished write, or a crashed writer's). */
export function isTempName(name: string): boolean {
  return name.endsWith(TEMP);
}

/** Bytes read first for a header: a 1 MiB slice's, long URL included, fits, so most take one `read`. */
export const HEADER_PROBE = 4096;

/** Promisifies one callback-style fs call. */
function call<T = void>(
  start: (cb: (error: NodeJS.ErrnoException | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    start((error, value) => (error ? reject(error) : resolvePromise(value as T)));
  });
}

/** The `code` of a Node error (`ENOENT`, `ENOSPC`, …), or `''`. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

export function noop(): void {}

/** Opens a file for reading; `undefined` when it does not exist. */
export async function openForRead(path: string): Promise<number | undefined> {
  try {
    return await call<number>((cb) => open(path, 'r', cb));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Closes `fd` in the background, ignoring errors (a read-only descriptor has nothing to flush). */
export function closeQuietly(fd: number): void {
  close(fd, noop);
}

/** Positional reads until `buffer` is full or the file ends; resolves the bytes read. */
export async function readFull(fd: number, buffer: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buffer.length) {
    const n = await call<number>((cb) => read(fd, buffer, got, buffer.length - got, position + got, cb));
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The synchronous twin of {@link readFull}, for the start-up scan. */
export function readFullSync(fd: number, buffer: Buffer, position: number): number {
  let got = 0;
  while (got < buffer.length) {
    const n = readSync(fd, buffer, got, buffer.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Reads the header of the file named `key` through `fd`: `probe` bytes first, more when the meta is longer. */
export async function readHeader(fd: number, key: string, probe: number): Promise<Checked> {
  const bytes = Buffer.allocUnsafe(Math.max(probe, FIXED_HEADER));
  const got = await readFull(fd, bytes, 0);
  const parsed = parseHeader(bytes.subarray(0, got), key, got < bytes.length);
  if (parsed.kind !== 'more') return parsed;
  const more = Buffer.allocUnsafe(parsed.need);
  return parseHeader(more.subarray(0, await readFull(fd, more, 0)), key, true);
}

/** The synchronous twin of {@link readHeader}, reading into `probe` first (reused across files). */
export function readHeaderSync(fd: number, key: string, probe: Buffer): Checked {
  const got = readFullSync(fd, probe, 0);
  const parsed = parseHeader(probe.subarray(0, got), key, got < probe.length);
  if (parsed.kind !== 'more') return parsed;
  const more = Buffer.allocUnsafe(parsed.need);
  return parseHeader(more.subarray(0, readFullSync(fd, more, 0)), key, true);
}

/**
 * Reads the whole checksum blocks of the entry's body that cover its bytes `start`–`end` (so every byte served
 * can be verified), into memory from `allocate`: the blocks and the body offset `from` of the first one, or
 * `undefined` when the file ends early.
 */
export async function readBlocks(
  fd: number,
  header: Header,
  start: number,
  end: number,
  allocate: (bytes: number) => Uint8Array,
): Promise<{ readonly body: Buffer; readonly from: number } | undefined> {
  const from = Math.floor(start / header.blockSize) * header.blockSize;
  const to = Math.min((Math.floor(end / header.blockSize) + 1) * header.blockSize, header.length);
  const body = allocated(allocate, to - from);
  const got = await readFull(fd, body, header.bodyOffset + from);
  return got === body.length ? { body, from } : undefined;
}

/** `bytes` bytes from `allocate` as a `Buffer` (it may return a plain `Uint8Array`), fresh if it got the size wrong. */
export function allocated(allocate: (bytes: number) => Uint8Array, bytes: number): Buffer {
  const memory = allocate(bytes);
  if (memory.byteLength !== bytes) return Buffer.allocUnsafeSlow(bytes);
  return Buffer.isBuffer(memory) ? memory : Buffer.from(memory.buffer, memory.byteOffset, bytes);
}

/**
 * Writes `buffers` to a new temp file beside `path` ({@link isTempName}), then renames it over `path` —
 * rename(2) is atomic, so a reader, here or in another process, sees the old file or the new one, whole. When
 * the directory is missing, `makeDir` is called once and the open retried. On failure the temp file is removed
 * (never a partial file left behind, e.g. on `ENOSPC`) and the error rethrown. No fsync: a file torn by a power
 * cut fails its checksum and is dropped, which is all a cache needs.
 */
export async function writeAtomically(
  path: string,
  buffers: Uint8Array[],
  makeDir: () => Promise<void>,
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${TEMP_PREFIX}-${(tempSeq++).toString(36)}${TEMP}`);
  let fd: number | undefined;
  try {
    try {
      fd = await call<number>((cb) => open(temp, 'wx', cb));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      await makeDir();
      fd = await call<number>((cb) => open(temp, 'wx', cb));
    }
    await writeAll(fd, buffers);
    const written = fd;
    fd = undefined;
    await call((cb) => close(written, cb));
    await call((cb) => rename(temp, path, cb));
  } catch (error) {
    const descriptor = fd;
    if (descriptor !== undefined) await call((cb) => close(descriptor, cb)).catch(noop);
    await call((cb) => unlink(temp, cb)).catch(noop);
    throw error;
  }
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

/** `mkdir -p`. */
export function makeDir(path: string): Promise<void> {
  return call((cb) => mkdir(path, { recursive: true }, (error) => cb(error)));
}

/** Unlinks a file; `false` when it was already gone (another process may have removed it). */
export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await call((cb) => unlink(path, cb));
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/** The names in `dir`. */
export function list(dir: string): Promise<string[]> {
  return call<string[]>((cb) => readdir(dir, cb));
}

/**
 * The entry files of one object in `folder`, its fan-out directory: every name that is a core-made key with
 * the object's key `prefix` (temp files start with a dot). None when the folder does not exist.
 *
 * @example
 * ```ts
 * const keys = await listEntriesOf(dirname(entryPath(dir, `${prefix}.meta`)), prefix);
 * ```
 */
export async function listEntriesOf(folder: string, prefix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await list(folder);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => name.startsWith(`${prefix}.`) && ENTRY_NAME.test(name));
}

/** The names in `dir`, or none when it cannot be listed (a stray file among the fan-out directories, or one removed meanwhile). */
export function listQuietSync(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Unlinks a file, ignoring failures (already gone, or not ours to remove: the index simply does not list it). */
export function unlinkQuietSync(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // see above
  }
}
