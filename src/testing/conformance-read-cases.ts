/**
 * The `CacheStorage` conformance cases about what a read gives back: a miss, whole entries and
 * overwrites byte for byte, reads into caller memory, sub-ranges across chunk boundaries, expiry (at write time
 * and by the injected clock), and `has`.
 *
 * @module
 */
import { expect } from 'vitest';
import { metadataKey } from '../core/keys.js';
import {
  A,
  B,
  bytes,
  concat,
  type DeclareCase,
  expectChunks,
  hasOf,
  json,
  key,
  METADATA,
  meta,
  metadataMeta,
} from './conformance-fixtures.js';

/** Declares the read cases (`missing` to `has-expiry`) through `test`. */
export function declareReadCases(test: DeclareCase): void {
  test('missing', 'misses a key that was never written, whole or by sub-range', async (open) => {
    const store = await open();
    expect(await store.get(key(A, 0))).toBeUndefined();
    expect(await store.get(key(A, 0), { start: 0, end: 0 })).toBeUndefined();
  });

  test('round-trip', 'reads back a chunk list byte for byte, each key its own value', async (open) => {
    const store = await open();
    const first = [bytes(1000, 1), bytes(1, 2), bytes(7000, 3)];
    const second = [bytes(4096, 4)];
    await store.set(key(A, 0), first, meta(A, 0, 8001));
    await store.set(key(A, 1), second, meta(A, 1, 4096));
    expectChunks(await store.get(key(A, 0)), concat(first));
    expectChunks(await store.get(key(A, 1)), concat(second));
    expectChunks(await store.get(key(A, 0)), concat(first)); // a second read is as good as the first
  });

  test('overwrite', 'replaces an entry written twice under one key', async (open) => {
    const store = await open();
    await store.set(key(A, 0), [bytes(300, 1)], meta(A, 0, 300));
    await store.set(key(A, 0), [bytes(200, 2), bytes(100, 3)], meta(A, 0, 300));
    expectChunks(await store.get(key(A, 0)), concat([bytes(200, 2), bytes(100, 3)]));
    expect(await store.stats()).toMatchObject({ bytes: 300, entries: 1 });
  });

  test(
    'allocate',
    'reads the same bytes with options.allocate, and keeps none of the memory it got from it',
    async (open) => {
      const store = await open();
      const value = [bytes(5000, 1), bytes(3000, 2)];
      const whole = concat(value);
      await store.set(key(A, 0), value, meta(A, 0, whole.length));
      const lent: Uint8Array[] = [];
      const allocate = (length: number): Uint8Array => {
        const memory = new Uint8Array(length);
        lent.push(memory);
        return memory;
      };
      const got = await store.get(key(A, 0), undefined, { allocate });
      expectChunks(got, whole);
      expectChunks(
        await store.get(key(A, 0), { start: 10, end: 6000 }, { allocate }),
        whole.subarray(10, 6001),
      );
      // The caller reuses that memory at once (CacheGetOptions): the store's next read must not see it.
      for (const memory of lent) memory.fill(0xee);
      expectChunks(await store.get(key(A, 0)), whole);
    },
  );

  test(
    'sub-range',
    'reads sub-ranges: first byte, last byte, inside a chunk, across chunk boundaries',
    async (open) => {
      const store = await open();
      const chunks = [bytes(100, 1), bytes(50, 2), bytes(200, 3)];
      const whole = concat(chunks);
      await store.set(key(A, 0), chunks, meta(A, 0, whole.length));
      for (const [start, end] of [
        [0, 0],
        [349, 349],
        [10, 20],
        [99, 100],
        [100, 149],
        [90, 160],
        [0, 349],
        [149, 150],
      ] as const) {
        expectChunks(await store.get(key(A, 0), { start, end }), whole.subarray(start, end + 1));
      }
    },
  );

  test(
    'expired-at-set',
    'never returns an entry whose expiresAt is already past when written',
    async (open) => {
      const store = await open();
      await store.set(key(A, 0), [bytes(64, 1)], { ...meta(A, 0, 64), expiresAt: Date.now() - 60_000 });
      expect(await store.get(key(A, 0))).toBeUndefined();
      expect(await store.get(key(A, 0), { start: 0, end: 9 })).toBeUndefined();
    },
  );

  test(
    'expiry-clock',
    'stops returning an entry once the injected clock passes its expiresAt',
    async (open) => {
      let time = 1_900_000_000_000;
      const store = await open({ now: () => time });
      await store.set(key(A, 0), [bytes(64, 1)], { ...meta(A, 0, 64), expiresAt: time + 1000 });
      time += 999;
      expectChunks(await store.get(key(A, 0)), bytes(64, 1));
      time += 2;
      expect(await store.get(key(A, 0))).toBeUndefined();
      expect(await store.get(key(A, 0), { start: 0, end: 0 })).toBeUndefined();
    },
  );

  test(
    'has',
    'says whether it holds an entry: not before set, yes after, not after delete or purge (when it has `has`)',
    async (open, _closing, skipCase) => {
      const store = await open();
      const has = hasOf(store, skipCase);
      expect(await has(key(A, 0))).toBe(false);
      await store.set(key(A, 0), [bytes(10, 1)], meta(A, 0, 10));
      await store.set(key(A, 1, 'etag:"v2"'), [bytes(10, 2)], meta(A, 1, 10, 'etag:"v2"'));
      await store.set(metadataKey(A), [json({ a: 1 })], metadataMeta(A));
      await store.set(key(B, 0), [bytes(10, 3)], meta(B, 0, 10));
      await store.set(key(B, 1), [bytes(10, 4)], { ...meta(B, 1, 10), expiresAt: Date.now() - 60_000 });
      expect(await has(key(A, 0))).toBe(true);
      expect(await has(key(A, 1, 'etag:"v2"'))).toBe(true);
      expect(await store.get(metadataKey(A), undefined, METADATA)).toBeDefined();
      expect(await has(key(A, 1))).toBe(false); // another version's key
      expect(await has(key(B, 1))).toBe(false); // expired when written
      expect(await store.delete(key(A, 0))).toBe(true);
      expect(await has(key(A, 0))).toBe(false);
      expect(await store.purgeObject(A)).toBe(2);
      expect(await has(key(A, 1, 'etag:"v2"'))).toBe(false);
      expect(await store.get(metadataKey(A), undefined, METADATA)).toBeUndefined();
      expect(await has(key(B, 0))).toBe(true);
      expectChunks(await store.get(key(B, 0)), bytes(10, 3)); // asking read nothing away
    },
  );

  test(
    'has-expiry',
    'stops saying it holds an entry once the injected clock passes its expiresAt (when it has `has`)',
    async (open, _closing, skipCase) => {
      let time = 1_900_000_000_000;
      const store = await open({ now: () => time });
      const has = hasOf(store, skipCase);
      await store.set(key(A, 0), [bytes(64, 1)], { ...meta(A, 0, 64), expiresAt: time + 1000 });
      time += 999;
      expect(await has(key(A, 0))).toBe(true);
      time += 2;
      expect(await has(key(A, 0))).toBe(false);
    },
  );
}
