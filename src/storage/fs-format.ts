/**
 * The on-disk format of `fsStorage`'s files: encoding and checking only, no I/O. One file holds one
 * entry: a small checksummed header, then the body.
 *
 * Format version 1 (all integers big-endian):
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
 * `expiresAt` is `null` for "never expires" (JSON has no `Infinity`). Readers use `key`, `objectKey`,
 * `expiresAt`, `storedAt`, `length`, `blockSize` and `crc`; the other meta fields are written for people
 * reading a file by hand. Per-block checksums let a sub-range read verify only the blocks it touches.
 *
 * Versions: a file whose version is newer than {@link FORMAT_VERSION} is `foreign` — a newer writer sharing
 * the directory owns it, so it is neither served nor removed; any other version, and any failed check, is
 * `invalid`. A change to the fixed header, or to the meaning or type of a meta field readers use, needs a new
 * version; adding meta fields, or writing another block size (each file names its own), does not.
 *
 * @module
 */
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Chunks } from '../core/chunks.js';
import { SliceFetchError } from '../core/errors.js';
import type { ByteRange, CacheEntryMeta } from '../ports.js';

/** The version this code writes, and the newest it reads. */
export const FORMAT_VERSION = 1;
/** `SFCE`, the first four bytes of every file. */
export const MAGIC = 0x53464345;
/** Bytes before the meta JSON: magic, version, meta length, meta CRC-32. */
export const FIXED_HEADER = 16;
/** Body bytes per CRC-32 in the files this code writes. */
export const BLOCK_SIZE = 64 * 1024;
/** A meta JSON longer than this is invalid (a 64 MiB slice's 1024 block CRCs take ~11 KiB). */
export const MAX_META = 1024 * 1024;

/**
 * File names: only core-made keys (R15) — no separators, no dots to climb, fixed length. Each file lives
 * in `<first 2 hex>/<next 2 hex>/` of its key.
 */
export const ENTRY_NAME = /^[0-9a-f]{32}\.(?:[0-9a-f]{32}|meta)$/;
/** The names of the fan-out directories. */
export const FAN_NAME = /^[0-9a-f]{2}$/;

/**
 * Where the file of `key` lives: `dir/<2 hex>/<next 2 hex>/<key>` — the fan-out digits are the hash of the
 * object key, so every file of one object shares one directory.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CACHE` when `key` is not a core-made key (R15: no path escapes `dir`).
 */
export function entryPath(dir: string, key: string): string {
  if (typeof key !== 'string' || !ENTRY_NAME.test(key)) {
    const shown = String(key).slice(0, 100);
    throw new SliceFetchError(
      'ERR_SLICE_CACHE',
      `Expected \`key\` to be a slice-fetch cache key, got \`${shown}\`.`,
    );
  }
  return join(dir, key.slice(0, 2), key.slice(2, 4), key);
}

/** What a reader needs from a header. */
export interface Header {
  readonly key: string;
  readonly objectKey: string;
  /** Milliseconds since the epoch; `Infinity` when the entry never expires. */
  readonly expiresAt: number;
  readonly storedAt: number;
  /** Body bytes. */
  readonly length: number;
  readonly blockSize: number;
  /** One CRC-32 per `blockSize` bytes of the body. */
  readonly crc: readonly number[];
  /** Offset of the body in the file. */
  readonly bodyOffset: number;
}

/** A header check that saw every byte it needed: a header, a file from a newer writer, or an invalid file. */
export type Checked =
  | { readonly kind: 'ok'; readonly header: Header }
  | { readonly kind: 'foreign' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** What a header parse found: {@link Checked}, or a need for the first `need` bytes of the file. */
export type Parsed = Checked | { readonly kind: 'more'; readonly need: number };

/** What a whole-file check found: the header and the verified body, or why not. */
export type Decoded =
  | { readonly kind: 'ok'; readonly header: Header; readonly body: Buffer }
  | Exclude<Checked, { readonly kind: 'ok' }>;

/**
 * Encodes the header of an entry of `length` body bytes whose blocks have the CRC-32s `crc` (see
 * {@link blockCrcs}); the body follows it in the file.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CACHE` when `meta.expiresAt` is not a number or the meta is too long.
 */
export function encodeHeader(
  key: string,
  meta: CacheEntryMeta,
  length: number,
  storedAt: number,
  crc: readonly number[],
): Buffer {
  if (typeof meta.expiresAt !== 'number' || Number.isNaN(meta.expiresAt)) {
    throw new SliceFetchError(
      'ERR_SLICE_CACHE',
      `Expected \`expiresAt\` to be a number, got \`${String(meta.expiresAt)}\`.`,
    );
  }
  // The key order is part of version 1's bytes: keep it.
  const json = Buffer.from(
    JSON.stringify({
      key,
      kind: meta.kind,
      objectKey: meta.objectKey,
      validator: meta.validator,
      range: [meta.range.start, meta.range.end],
      size: meta.size,
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
  header.writeUInt32BE(FORMAT_VERSION, 4);
  header.writeUInt32BE(json.length, 8);
  header.writeUInt32BE(crc32(json), 12);
  json.copy(header, FIXED_HEADER);
  return header;
}

/**
 * Parses the header at the start of `bytes`, the first bytes of the file named `key`. When the header needs
 * more bytes than given, the answer is `more` — or, when `final` (no more bytes will come: the read hit the
 * end of the file, or this was the retry), `invalid`. Never throws.
 */
export function parseHeader(bytes: Buffer, key: string, final: true): Checked;
export function parseHeader(bytes: Buffer, key: string, final: boolean): Parsed;
export function parseHeader(bytes: Buffer, key: string, final: boolean): Parsed {
  const need = (bytes: number): Parsed =>
    final ? { kind: 'invalid', reason: 'truncated header' } : { kind: 'more', need: bytes };
  if (bytes.length < FIXED_HEADER) return need(FIXED_HEADER);
  if (bytes.readUInt32BE(0) !== MAGIC) return invalid('bad magic');
  const version = bytes.readUInt32BE(4);
  // A newer writer sharing the directory: not ours to read, not ours to delete.
  if (version > FORMAT_VERSION) return { kind: 'foreign' };
  if (version !== FORMAT_VERSION) return invalid(`unknown version ${version}`);
  const metaLength = bytes.readUInt32BE(8);
  if (metaLength > MAX_META) return invalid('oversized meta');
  if (bytes.length < FIXED_HEADER + metaLength) return need(FIXED_HEADER + metaLength);
  const json = bytes.subarray(FIXED_HEADER, FIXED_HEADER + metaLength);
  if (crc32(json) !== bytes.readUInt32BE(12)) return invalid('header checksum mismatch');
  let meta: unknown;
  try {
    meta = JSON.parse(json.toString('utf8'));
  } catch {
    return invalid('unparseable meta');
  }
  // `null` or an array parses too; neither has the fields, and destructuring `null` would throw.
  if (typeof meta !== 'object' || meta === null) return invalid('invalid meta');
  const fields = meta as Record<string, unknown>;
  const { length, blockSize, crc, objectKey, storedAt } = fields;
  const expiresAt = fields.expiresAt === null ? Number.POSITIVE_INFINITY : fields.expiresAt;
  if (
    fields.key !== key ||
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
    return invalid('invalid meta');
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

/**
 * Checks a whole file — `file` holds every byte of the file named `key` — header, body length and every
 * block's CRC-32. Never throws.
 */
export function decodeFile(file: Buffer, key: string): Decoded {
  const parsed = parseHeader(file, key, true);
  if (parsed.kind !== 'ok') return parsed;
  const { header } = parsed;
  const size = header.bodyOffset + header.length;
  if (file.length !== size) return invalid(file.length < size ? 'truncated body' : 'trailing bytes');
  const body = file.subarray(header.bodyOffset);
  const block = badBlock(header, body, 0);
  return block === -1 ? { kind: 'ok', header, body } : invalid(`checksum mismatch in block ${block}`);
}

/**
 * The index of the first block of `body` whose CRC-32 differs from the header's, or -1 when all match.
 * `body` holds whole blocks of the entry's body from offset `from` (a multiple of the block size) on; the
 * last block may be the body's short tail.
 */
export function badBlock(header: Header, body: Uint8Array, from: number): number {
  const { blockSize } = header;
  for (let offset = 0, block = from / blockSize; offset < body.length; offset += blockSize, block++) {
    const end = Math.min(offset + blockSize, body.length);
    if (crc32(body.subarray(offset, end)) !== header.crc[block]) return block;
  }
  return -1;
}

/** One CRC-32 per {@link BLOCK_SIZE} bytes of the body, computed across chunk boundaries. */
export function blockCrcs(chunks: Chunks): number[] {
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

function invalid(reason: string): { readonly kind: 'invalid'; readonly reason: string } {
  return { kind: 'invalid', reason };
}

/**
 * Checks a sub-range asked of an entry: `0 ≤ start ≤ end`, safe integers.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CACHE` naming the range otherwise.
 * @example
 * ```ts
 * assertRange({ start: 0, end: 99 }); // fine
 * assertRange({ start: 5, end: 4 }); // throws
 * ```
 */
export function assertRange(range: ByteRange): void {
  if (
    !Number.isSafeInteger(range.start) ||
    !Number.isSafeInteger(range.end) ||
    range.start < 0 ||
    range.end < range.start
  ) {
    throw new SliceFetchError(
      'ERR_SLICE_CACHE',
      `Expected a range with 0 ≤ start ≤ end, got \`${range.start}-${range.end}\`.`,
      { range: `${range.start}-${range.end}` },
    );
  }
}
