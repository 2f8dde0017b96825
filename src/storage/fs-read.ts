/**
 * Reading one `fsStorage` entry: the file's header and the body (or the sub-range asked for), checked against
 * the key in the header, the per-block CRC-32s and the expiry. No index and no removal here: the store decides
 * what a failed check costs (the file goes, and the read is a miss).
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import type { ByteRange } from '../ports.js';
import { badBlock, decodeFile, type Header } from './fs-format.js';
import type { IndexEntry } from './fs-index.js';
import { allocated, HEADER_PROBE, readBlocks, readFull, readHeader } from './fs-io.js';

/** What a read found: the bytes (and the header, for the index), a file of another store, or one to remove. */
export type EntryRead =
  | { readonly kind: 'hit'; readonly chunks: Chunks; readonly header: Header }
  | { readonly kind: 'foreign' }
  /** Expired (no reason) or corrupt (`reason`). */
  | { readonly kind: 'drop'; readonly reason?: string };

/**
 * Reads and verifies the entry `key` through `fd` into memory from `allocate` (the caller's pool, or fresh).
 * `known` is what the index knows of the file: with it, a whole read takes one positional read.
 *
 * @example
 * ```ts
 * const read = await readEntry(fd, key, undefined, Buffer.allocUnsafeSlow, index.get(key), Date.now);
 * if (read.kind === 'hit') serve(read.chunks);
 * ```
 */
export async function readEntry(
  fd: number,
  key: string,
  range: ByteRange | undefined,
  allocate: (bytes: number) => Uint8Array,
  known: IndexEntry | undefined,
  now: () => number,
): Promise<EntryRead> {
  if (range === undefined && known !== undefined) {
    // Fast path: the index knows the file's size, so header and body arrive in one positional read.
    const file = allocated(allocate, known.fileBytes);
    const decoded = decodeFile(file.subarray(0, await readFull(fd, file, 0)), key);
    if (decoded.kind === 'ok') {
      if (decoded.header.expiresAt <= now()) return { kind: 'drop' };
      return { kind: 'hit', chunks: [decoded.body], header: decoded.header };
    }
    // Replaced by a file of another size (rewritten metadata), or broken: read it the general way, which
    // tells the two apart.
  }
  const parsed = await readHeader(
    fd,
    key,
    known === undefined ? HEADER_PROBE : known.fileBytes - known.bytes,
  );
  if (parsed.kind === 'foreign') return { kind: 'foreign' };
  if (parsed.kind === 'invalid') return { kind: 'drop', reason: parsed.reason };
  const { header } = parsed;
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? header.length - 1, header.length - 1);
  let body: Buffer = Buffer.alloc(0);
  let from = 0;
  if (header.expiresAt <= now()) return { kind: 'drop' };
  if (start <= end) {
    const blocks = await readBlocks(fd, header, start, end, allocate);
    if (blocks === undefined) return { kind: 'drop', reason: 'truncated body' };
    ({ body, from } = blocks);
  }
  if (header.expiresAt <= now()) return { kind: 'drop' }; // the clock moved during the read
  const block = badBlock(header, body, from);
  if (block !== -1) return { kind: 'drop', reason: `checksum mismatch in block ${block}` };
  return { kind: 'hit', chunks: [body.subarray(start - from, end - from + 1)], header };
}
