/**
 * What the {@link CacheStorage} conformance cases share: the signature of a case and of the function that
 * declares one, the two object URLs they write under, slice keys and entry metadata for them, deterministic
 * bytes, and the assertion that a read holds exactly the expected bytes.
 *
 * @module
 */
import { expect } from 'vitest';
import { sliceKey } from '../core/keys.js';
import type { CacheChunks, CacheEntryMeta, CacheGetOptions, CacheStorage } from '../ports.js';
import type { CacheStorageConformanceCase, CacheStorageFactoryOptions } from './conformance.js';

/** Opens a fresh store for the running case; `options` override the suite's defaults. */
export type Open = (options?: Partial<CacheStorageFactoryOptions>) => Promise<CacheStorage>;

/**
 * A case: opens its stores through `open`; a case that closes a store itself reports it through `closing`; a
 * case that does not apply to the store it got (an optional method missing) ends itself through `skip`.
 */
export type CaseBody = (
  open: Open,
  closing: (store: CacheStorage) => void,
  skip: (note: string) => never,
) => Promise<void>;

/** Declares one case as a vitest `it` under its stable id and title (or as a skipped one, when it is skipped). */
export type DeclareCase = (id: CacheStorageConformanceCase, title: string, body: CaseBody) => void;

/** The object most cases write under. */
export const A = 'https://conformance.test/a.bin';
/** A second object, to show a case touches only the object it names. */
export const B = 'https://conformance.test/b.bin';
const SLICE_SIZE = 1 << 20;

/** How the engine reads a metadata entry: it says so (`CacheGetOptions.kind`), and a store may route by it. */
export const METADATA: CacheGetOptions = { kind: 'metadata' };

/** The store's `has`, bound to it; skips the case when the store has none. */
export function hasOf(store: CacheStorage, skip: (note: string) => never): (key: string) => Promise<boolean> {
  const has = store.has;
  if (has === undefined) return skip('the store has no `has`');
  return async (k) => has.call(store, k);
}

/** The cache key of slice `index` of `objectKey` in version `validator`. */
export function key(objectKey: string, index: number, validator = 'etag:"v1"'): string {
  return sliceKey({ objectKey, validator, sliceSize: SLICE_SIZE, index });
}

/** The metadata of slice `index` of `objectKey`, holding `length` bytes and fresh for an hour. */
export function meta(
  objectKey: string,
  index: number,
  length: number,
  validator = 'etag:"v1"',
): CacheEntryMeta {
  const start = index * SLICE_SIZE;
  return {
    kind: 'slice',
    objectKey,
    validator,
    range: { start, end: start + Math.max(length, 1) - 1 },
    size: 100 * SLICE_SIZE,
    expiresAt: Date.now() + 3_600_000,
  };
}

/** The metadata of the metadata entry of `objectKey` (kind `metadata`, the whole object's range). */
export function metadataMeta(objectKey: string): CacheEntryMeta {
  return {
    ...meta(objectKey, 0, 100 * SLICE_SIZE),
    kind: 'metadata',
    range: { start: 0, end: 100 * SLICE_SIZE - 1 },
  };
}

/** Deterministic bytes that differ per `seed` and cover every byte value. */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** `value` as UTF-8 JSON bytes, as a metadata entry holds it. */
export function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** A chunk list as one buffer. */
export function concat(chunks: CacheChunks): Buffer {
  return Buffer.concat(chunks);
}

/** Asserts a read is a chunk list of Uint8Arrays whose bytes equal `expected`, naming the first difference. */
export function expectChunks(got: CacheChunks | undefined, expected: Uint8Array): void {
  expect(got).toBeDefined();
  expect(Array.isArray(got)).toBe(true);
  for (const chunk of got ?? []) expect(chunk).toBeInstanceOf(Uint8Array);
  const actual = concat(got ?? []);
  const want = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  let firstDifference = -1;
  if (Buffer.compare(actual, want) !== 0) {
    firstDifference = Math.min(actual.length, want.length);
    for (let i = 0; i < firstDifference; i++) {
      if (actual[i] !== want[i]) {
        firstDifference = i;
        break;
      }
    }
  }
  expect({ length: actual.length, firstDifference }).toEqual({ length: want.length, firstDifference: -1 });
}
