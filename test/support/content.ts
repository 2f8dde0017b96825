/**
 * @module Deterministic, seekable test content: any byte range of a virtual object of up to 2^40 bytes is
 * computed on demand from a seed, so tests and benchmarks compare bytes without ever holding an object in memory.
 *
 * Layout: a pseudo-random pattern with a prime period ({@link CONTENT_PERIOD} = 65521) fills the object, and
 * the first 8 bytes of every 4 KiB block are overwritten with the block index (uint64 big-endian) XOR a
 * seed-derived mask. Because the period is prime it is coprime with every power-of-two slice size, and because
 * every block carries its own index, bytes moved by any multiple of 4096 — a slice placed at the wrong index —
 * never compare equal; two seeds give unrelated patterns, so bytes of two objects (or two versions) never mix
 * unnoticed either.
 */
import { createHash } from 'node:crypto';

/**
 * Period of the background pattern; prime, so no power-of-two shift aligns it with itself.
 *
 * @example
 * contentBytes(1, 100, 107).equals(contentBytes(1, 100 + CONTENT_PERIOD, 107 + CONTENT_PERIOD)); // true (no stamp there)
 */
export const CONTENT_PERIOD = 65_521;

/**
 * Size of a stamped block; the first {@link CONTENT_STAMP_BYTES} bytes of each block hold its index.
 *
 * @example
 * contentBytes(1, 0, CONTENT_BLOCK - 1).equals(contentBytes(1, CONTENT_BLOCK, 2 * CONTENT_BLOCK - 1)); // false
 */
export const CONTENT_BLOCK = 4096;

/**
 * Bytes of the block stamp at the start of every block.
 *
 * @example
 * const stamp = contentBytes(1, 5 * CONTENT_BLOCK, 5 * CONTENT_BLOCK + CONTENT_STAMP_BYTES - 1);
 */
export const CONTENT_STAMP_BYTES = 8;

/**
 * Largest object size supported (2^40 bytes).
 *
 * @example
 * origin.setObject('/huge', { size: MAX_CONTENT_SIZE });
 */
export const MAX_CONTENT_SIZE = 2 ** 40;

/**
 * Fills `target[offset, offset + length)` with the content bytes of object `seed` starting at `position`.
 * This is the serving path: a few `Buffer#copy` calls from the cached pattern plus one stamp per 4 KiB block,
 * no per-byte loop.
 *
 * @example
 * const chunk = Buffer.allocUnsafe(65536);
 * fillContent(7, 1_048_576, chunk); // bytes 1048576..1114111 of object 7
 */
export function fillContent(
  seed: number,
  position: number,
  target: Buffer,
  offset = 0,
  length = target.length - offset,
): Buffer {
  checkPosition(position, 'position');
  if (length < 0 || offset < 0 || offset + length > target.length || position + length > MAX_CONTENT_SIZE) {
    throw new RangeError(`fillContent: offset ${offset} + length ${length} out of bounds`);
  }
  const state = stateFor(seed);
  const pattern = state.pattern;
  let written = 0;
  while (written < length) {
    const at = (position + written) % CONTENT_PERIOD;
    const n = Math.min(length - written, pattern.length - at);
    pattern.copy(target, offset + written, at, at + n);
    written += n;
  }
  stampBlocks(state, position, target, offset, length);
  return target;
}

/**
 * Returns a new Buffer with the content bytes `[start, endInclusive]` of object `seed`
 * (`endInclusive = start - 1` gives an empty Buffer).
 *
 * @example
 * const bytes = contentBytes(1, 0, 1023); // first KiB of object 1
 * contentBytes(1, 0, 4095).subarray(100, 200).equals(contentBytes(1, 100, 199)); // true
 */
export function contentBytes(seed: number, start: number, endInclusive: number): Buffer {
  checkRange(start, endInclusive);
  const length = endInclusive - start + 1;
  return fillContent(seed, start, Buffer.allocUnsafe(length), 0, length);
}

/**
 * SHA-256 (hex) of the content bytes `[start, endInclusive]` of object `seed`, computed in 1 MiB chunks so
 * multi-gigabyte ranges hash in constant memory. Compare with {@link hashStream} of a downloaded body.
 *
 * @example
 * const { hash } = await hashStream(response.body);
 * expect(hash).toBe(contentHash(seed, 0, size - 1));
 */
export function contentHash(seed: number, start: number, endInclusive: number): string {
  checkRange(start, endInclusive);
  const hash = createHash('sha256');
  const scratch = Buffer.allocUnsafe(HASH_CHUNK);
  for (let pos = start; pos <= endInclusive; pos += HASH_CHUNK) {
    const n = Math.min(HASH_CHUNK, endInclusive - pos + 1);
    // `update` copies synchronously, so one scratch buffer serves every chunk.
    hash.update(fillContent(seed, pos, scratch, 0, n).subarray(0, n));
  }
  return hash.digest('hex');
}

/**
 * Consumes a byte stream (a Node `Readable`, a web `ReadableStream` or any async iterable) and returns the
 * SHA-256 (hex) of everything it yielded and the byte count.
 *
 * @example
 * const { body } = await request(origin.url('/big'));
 * const { hash, bytes } = await hashStream(body);
 */
export async function hashStream(
  source: AsyncIterable<Uint8Array>,
): Promise<{ readonly hash: string; readonly bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { hash: hash.digest('hex'), bytes };
}

/**
 * The default strong ETag the test origin gives an object of `seed` and `size`: a new seed or size is a new
 * version with a new validator.
 *
 * @example
 * contentEtag(7, 1024); // '"7-400"'
 */
export function contentEtag(seed: number, size: number): string {
  return `"${normaliseSeed(seed).toString(16)}-${size.toString(16)}"`;
}

// ---- module-private helpers

interface SeedState {
  /** The period-long pattern followed by its own first {@link PATTERN_TAIL} bytes, so one copy spans a wrap. */
  readonly pattern: Buffer;
  readonly maskHi: number;
  readonly maskLo: number;
}

const HASH_CHUNK = 1 << 20;
const PATTERN_TAIL = 256 * 1024;
const MAX_CACHED_SEEDS = 64;
const TWO_32 = 2 ** 32;
const states = new Map<number, SeedState>();
const stampScratch = Buffer.allocUnsafe(CONTENT_STAMP_BYTES);

function stateFor(seed: number): SeedState {
  const key = normaliseSeed(seed);
  let state = states.get(key);
  if (state === undefined) {
    if (states.size >= MAX_CACHED_SEEDS) {
      const oldest = states.keys().next().value;
      if (oldest !== undefined) states.delete(oldest);
    }
    state = buildState(key);
    states.set(key, state);
  }
  return state;
}

/** Builds the pattern with mulberry32: a per-byte loop, but once per seed, never on the serving path. */
function buildState(seed: number): SeedState {
  const pattern = Buffer.allocUnsafe(CONTENT_PERIOD + PATTERN_TAIL);
  let s = seed ^ 0x5bd1e995;
  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  for (let i = 0; i < CONTENT_PERIOD; i++) pattern[i] = next() & 0xff;
  for (let i = CONTENT_PERIOD; i < pattern.length; i += CONTENT_PERIOD) {
    pattern.copy(pattern, i, 0, Math.min(CONTENT_PERIOD, pattern.length - i));
  }
  return { pattern, maskHi: next(), maskLo: next() };
}

/** Overwrites the stamp bytes of every block whose first 8 bytes intersect the filled window. */
function stampBlocks(
  state: SeedState,
  position: number,
  target: Buffer,
  offset: number,
  length: number,
): void {
  if (length === 0) return;
  const last = position + length - 1;
  for (let block = Math.floor(position / CONTENT_BLOCK); block * CONTENT_BLOCK <= last; block++) {
    const blockStart = block * CONTENT_BLOCK;
    if (blockStart + CONTENT_STAMP_BYTES - 1 < position) continue;
    const hi = (Math.floor(block / TWO_32) ^ state.maskHi) >>> 0;
    const lo = ((block % TWO_32) ^ state.maskLo) >>> 0;
    if (blockStart >= position && blockStart + CONTENT_STAMP_BYTES - 1 <= last) {
      const at = offset + blockStart - position;
      target.writeUInt32BE(hi, at);
      target.writeUInt32BE(lo, at + 4);
    } else {
      // The window cuts through this stamp: write the intersecting part only.
      stampScratch.writeUInt32BE(hi, 0);
      stampScratch.writeUInt32BE(lo, 4);
      const from = Math.max(blockStart, position);
      const to = Math.min(blockStart + CONTENT_STAMP_BYTES - 1, last);
      stampScratch.copy(target, offset + from - position, from - blockStart, to - blockStart + 1);
    }
  }
}

function normaliseSeed(seed: number): number {
  if (!Number.isSafeInteger(seed))
    throw new RangeError(`Expected \`seed\` to be an integer, got \`${seed}\`.`);
  return seed >>> 0;
}

function checkPosition(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_CONTENT_SIZE) {
    throw new RangeError(
      `Expected \`${name}\` to be an integer between 0 and ${MAX_CONTENT_SIZE}, got \`${value}\`.`,
    );
  }
}

function checkRange(start: number, endInclusive: number): void {
  checkPosition(start, 'start');
  if (!Number.isSafeInteger(endInclusive) || endInclusive < start - 1 || endInclusive >= MAX_CONTENT_SIZE) {
    throw new RangeError(
      `Expected \`endInclusive\` to be an integer between ${start - 1} and ${MAX_CONTENT_SIZE - 1}, got \`${endInclusive}\`.`,
    );
  }
}
