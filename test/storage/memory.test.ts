import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { sliceKey } from '../../src/core/keys.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';

runCacheStorageConformance('memoryStorage', ({ maxBytes, now }) => ({
  store: memoryStorage({ maxBytes, now }),
}));

const OBJECT = 'https://memory.test/a.bin';

function key(index: number): string {
  return sliceKey({ objectKey: OBJECT, validator: 'etag:"v1"', sliceSize: 1 << 20, index });
}

function meta(index: number, length: number): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey: OBJECT,
    validator: 'etag:"v1"',
    range: { start: index << 20, end: (index << 20) + length - 1 },
    size: 100 << 20,
    expiresAt: Date.now() + 60_000,
  };
}

describe('memoryStorage', () => {
  it('rejects a bad maxBytes with ERR_SLICE_CONFIG, in the wording of every other option', () => {
    for (const maxBytes of [-1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      let error: unknown;
      try {
        memoryStorage({ maxBytes });
      } catch (caught) {
        error = caught;
      }
      expect(isSliceFetchError(error)).toBe(true);
      if (!isSliceFetchError(error)) continue;
      expect(error.code).toBe('ERR_SLICE_CONFIG');
      expect(error.message).toBe(
        `Expected \`maxBytes\` to be a positive integer, got \`${String(maxBytes)}\`.`,
      );
      expect(error.details.paths).toEqual(['maxBytes']);
    }
  });

  it('answers has synchronously, without making the entry more recent', () => {
    const store = memoryStorage({ maxBytes: 30 });
    store.set(key(0), [new Uint8Array(10)], meta(0, 10));
    store.set(key(1), [new Uint8Array(10)], meta(1, 10));
    store.set(key(2), [new Uint8Array(10)], meta(2, 10));
    expect(store.has?.(key(0))).toBe(true); // a boolean, not a promise
    store.set(key(3), [new Uint8Array(10)], meta(3, 10)); // evicts the least recently used
    expect(store.has?.(key(0))).toBe(false);
    expect(store.has?.(key(1))).toBe(true);
    expect(store.get(key(1))).toBeDefined(); // a read does make it more recent
    store.set(key(4), [new Uint8Array(10)], meta(4, 10));
    expect([1, 2, 3, 4].map((index) => store.has?.(key(index)))).toEqual([true, false, true, true]);
  });
});
