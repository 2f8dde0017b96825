/**
 * Where the Redis store keeps things, and how a value is written. An entry lives at `<prefix>{<tag>}:<key>`
 * where `<tag>` is the key's part before the first `.` (the 32-hex object prefix of the core's keys); every
 * object has an index set `<prefix>{<objectKeyPrefix(objectKey)>}#index` naming its keys; a fill claim is
 * `<prefix>{<tag>}#lock:<key>`. For the core's keys all tags are the same, so a Redis Cluster keeps an
 * object's slices, its index and its claims on one slot. Only entries match {@link entryPattern}.
 *
 * Chunks: node-redis takes one `Buffer` per argument, so a multi-chunk slice is joined with one
 * `Buffer.concat` before `SET`. `SET` + `APPEND`s in a `MULTI` would avoid that copy but cost one command
 * and one server-side copy per chunk and lose Redis's zero-copy path for big arguments; the write is off
 * the response path, where ~0.1 ms per MiB is cheap. A single chunk is sent as a view, without a copy.
 *
 * @module
 */
import { objectKeyPrefix } from '../core/keys.js';
import type { CacheChunks } from '../ports.js';

/** `<prefix>{<part before the first '.'>}:<key>` — the braces are the Redis Cluster hash tag. */
export function entryKey(prefix: string, key: string): string {
  const dot = key.indexOf('.');
  return `${prefix}{${dot === -1 ? key : key.slice(0, dot)}}:${key}`;
}

/**
 * `<prefix>{<tag>}#lock:<key>` — the entry's hash tag (same slot), and a shape the stats walk's
 * `<prefix>{*}:*` pattern never matches, so claims are not counted as entries.
 */
export function lockKey(prefix: string, key: string): string {
  const dot = key.indexOf('.');
  return `${prefix}{${dot === -1 ? key : key.slice(0, dot)}}#lock:${key}`;
}

/** `<prefix>{<objectKeyPrefix(objectKey)>}#index` — the set naming every key stored for the object. */
export function indexKey(prefix: string, objectKey: string): string {
  return `${prefix}{${objectKeyPrefix(objectKey)}}#index`;
}

/** The `SCAN MATCH` pattern of this prefix's entries: index sets and claims never match it. */
export function entryPattern(prefix: string): string {
  return `${escapeGlob(prefix)}{*}:*`;
}

/** The bytes of an entry as one `Buffer` argument: a single chunk as a view, several joined once. */
export function toBuffer(chunks: CacheChunks): Buffer {
  if (chunks.length === 1) {
    const chunk = chunks[0] as Uint8Array;
    return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  return chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------------------

const EMPTY = Buffer.alloc(0);

/** Escapes Redis glob characters, so a prefix like `a*` matches itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
