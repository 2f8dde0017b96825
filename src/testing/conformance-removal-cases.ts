/**
 * The `CacheStorage` conformance cases about how entries leave a store and what it counts: `delete`,
 * `purgeObject` (every version of one object) and `generation`, `stats`, and eviction within the byte budget.
 *
 * @module
 */
import { expect } from 'vitest';
import { metadataKey } from '../core/keys.js';
import {
  A,
  B,
  bytes,
  type DeclareCase,
  expectChunks,
  json,
  key,
  METADATA,
  meta,
  metadataMeta,
} from './conformance-fixtures.js';

/** Declares the removal cases (`delete` to `byte-budget`) through `test`. */
export function declareRemovalCases(test: DeclareCase): void {
  test('delete', 'deletes one entry and reports whether something was removed', async (open) => {
    const store = await open();
    await store.set(key(A, 0), [bytes(10, 1)], meta(A, 0, 10));
    await store.set(key(A, 1), [bytes(10, 2)], meta(A, 1, 10));
    expect(await store.delete(key(A, 0))).toBe(true);
    expect(await store.delete(key(A, 0))).toBe(false);
    expect(await store.delete(key(B, 0))).toBe(false);
    expect(await store.get(key(A, 0))).toBeUndefined();
    expectChunks(await store.get(key(A, 1)), bytes(10, 2));
    expect(await store.stats()).toMatchObject({ bytes: 10, entries: 1 });
  });

  test(
    'purge-object',
    "purges every entry of an object in every version, and no other object's",
    async (open) => {
      const store = await open();
      await store.set(key(A, 0, 'etag:"v1"'), [bytes(10, 1)], meta(A, 0, 10, 'etag:"v1"'));
      await store.set(key(A, 1, 'etag:"v1"'), [bytes(10, 2)], meta(A, 1, 10, 'etag:"v1"'));
      await store.set(key(A, 0, 'etag:"v2"'), [bytes(10, 3)], meta(A, 0, 10, 'etag:"v2"'));
      await store.set(metadataKey(A), [json({ a: 1 })], metadataMeta(A));
      await store.set(key(B, 0, 'etag:"v1"'), [bytes(10, 4)], meta(B, 0, 10, 'etag:"v1"'));
      await store.set(metadataKey(B), [json({ b: 1 })], metadataMeta(B));

      expect(await store.purgeObject(A)).toBe(4);
      for (const k of [key(A, 0, 'etag:"v1"'), key(A, 1, 'etag:"v1"'), key(A, 0, 'etag:"v2"')]) {
        expect(await store.get(k)).toBeUndefined();
      }
      expect(await store.get(metadataKey(A), undefined, METADATA)).toBeUndefined();
      expectChunks(await store.get(key(B, 0, 'etag:"v1"')), bytes(10, 4));
      expectChunks(await store.get(metadataKey(B), undefined, METADATA), json({ b: 1 }));
      expect(await store.stats()).toMatchObject({ entries: 2 });
      expect(await store.purgeObject(A)).toBe(0);
      expect(await store.purgeObject('https://conformance.test/never-written')).toBe(0);
    },
  );

  test(
    'purge-generation',
    "keeps an object's generation until a purge moves it to one it never had, other objects' untouched (when it has `generation`)",
    async (open, _closing, skipCase) => {
      const store = await open();
      const generation = store.generation?.bind(store);
      if (generation === undefined) return skipCase('the store has no `generation`');
      const first = await generation(A);
      const other = await generation(B);
      expect(typeof first).toBe('string');
      expect(await generation(A)).toBe(first); // stable while nothing purges it
      const seen = new Set([first]);
      for (let round = 0; round < 3; round++) {
        await store.purgeObject(A);
        const next = await generation(A);
        expect(seen.has(next)).toBe(false); // never a generation it had before: old keys stay unread
        seen.add(next);
        expect(await generation(A)).toBe(next);
      }
      expect(await generation(B)).toBe(other);
    },
  );

  test('stats', 'reports the bytes and entries held', async (open) => {
    const store = await open();
    expect(await store.stats()).toMatchObject({ bytes: 0, entries: 0 });
    await store.set(key(A, 0), [bytes(10, 1)], meta(A, 0, 10));
    await store.set(key(A, 1), [bytes(5, 2), bytes(15, 3)], meta(A, 1, 20));
    await store.set(key(B, 0), [bytes(30, 4)], meta(B, 0, 30));
    expect(await store.stats()).toMatchObject({ bytes: 60, entries: 3 });
    await store.delete(key(A, 1));
    expect(await store.stats()).toMatchObject({ bytes: 40, entries: 2 });
  });

  test(
    'byte-budget',
    'keeps the bytes held within maxBytes, evicting the least recently used',
    async (open) => {
      const size = 4096;
      const maxBytes = 10 * size;
      const store = await open({ maxBytes });
      for (let index = 0; index < 10; index++) {
        await store.set(key(A, index), [bytes(size, index)], meta(A, index, size));
        expect((await store.stats()).bytes).toBeLessThanOrEqual(maxBytes);
      }
      expectChunks(await store.get(key(A, 0)), bytes(size, 0)); // entry 0 becomes the most recently used
      for (let index = 10; index < 15; index++) {
        await store.set(key(A, index), [bytes(size, index)], meta(A, index, size));
        expect((await store.stats()).bytes).toBeLessThanOrEqual(maxBytes);
      }
      await store.set(key(B, 0), [bytes(maxBytes + 1, 99)], meta(B, 0, maxBytes + 1)); // larger than the budget
      expect((await store.stats()).bytes).toBeLessThanOrEqual(maxBytes);
      expect(await store.get(key(A, 1))).toBeUndefined(); // the least recently used went first
      for (const index of [0, 10, 11, 12, 13, 14]) {
        expectChunks(await store.get(key(A, index)), bytes(size, index));
      }
    },
  );
}
