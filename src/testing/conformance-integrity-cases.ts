/**
 * The `CacheStorage` conformance cases about values staying intact under stress: writers and readers
 * racing on one key, every byte value, empty and 4 MiB values, metadata entries beside slices, a store that
 * says it copies values keeping none of the memory it was given, and a write racing `close`.
 *
 * @module
 */
import { expect } from 'vitest';
import { metadataKey } from '../core/keys.js';
import type { CacheChunks } from '../ports.js';
import {
  A,
  bytes,
  concat,
  type DeclareCase,
  expectChunks,
  json,
  key,
  METADATA,
  meta,
  metadataMeta,
} from './conformance-fixtures.js';

/** Declares the integrity cases (`concurrent-writers` to `close`) through `test`. */
export function declareIntegrityCases(test: DeclareCase): void {
  test(
    'concurrent-writers',
    'keeps one intact value when writers and readers race on one key',
    async (open) => {
      const store = await open();
      const values = Array.from({ length: 8 }, (_, writer) => [
        bytes(65_536, writer),
        bytes(3000, writer + 50),
      ]);
      const wholes = values.map(concat);
      const reads: Promise<CacheChunks | undefined>[] = [];
      await Promise.all(
        values.map((value) => {
          reads.push(Promise.resolve(store.get(key(A, 0))));
          return store.set(key(A, 0), value, meta(A, 0, 68_536));
        }),
      );
      for (const read of await Promise.all([...reads, store.get(key(A, 0))])) {
        if (read === undefined) continue; // a read that ran before any write finished may miss
        const got = concat(read);
        expect(wholes.findIndex((whole) => Buffer.compare(whole, got) === 0)).toBeGreaterThanOrEqual(0);
      }
      expect(await store.get(key(A, 0))).toBeDefined();
      expect(await store.stats()).toMatchObject({ bytes: 68_536, entries: 1 });
    },
  );

  test(
    'binary-safety',
    'keeps all 256 byte values, an empty value and a 4 MiB value intact',
    async (open) => {
      const store = await open({ maxBytes: 64 * 1024 * 1024 });
      const every = Uint8Array.from({ length: 512 }, (_, i) => (i * 167) % 256);
      const big = bytes(4 * 1024 * 1024, 7);
      await store.set(key(A, 0), [every.subarray(0, 256), every.subarray(256)], meta(A, 0, 512));
      await store.set(key(A, 1), [], meta(A, 1, 0));
      await store.set(key(A, 2), [new Uint8Array(0)], meta(A, 2, 0));
      await store.set(
        key(A, 3),
        [big.subarray(0, 1_000_000), big.subarray(1_000_000)],
        meta(A, 3, big.length),
      );
      expectChunks(await store.get(key(A, 0)), every);
      expectChunks(await store.get(key(A, 1)), new Uint8Array(0));
      expectChunks(await store.get(key(A, 2)), new Uint8Array(0));
      expectChunks(await store.get(key(A, 3)), big);
      const tail = { start: big.length - 70_000, end: big.length - 1 };
      expectChunks(await store.get(key(A, 3), tail), big.subarray(tail.start));
    },
  );

  test(
    'metadata',
    'stores metadata entries (kind `metadata`) beside the slices of their object',
    async (open) => {
      const store = await open();
      await store.set(key(A, 0), [bytes(10, 1)], meta(A, 0, 10));
      await store.set(metadataKey(A), [json({ size: 1, etag: '"é"' })], metadataMeta(A));
      expectChunks(await store.get(metadataKey(A), undefined, METADATA), json({ size: 1, etag: '"é"' }));
      await store.set(metadataKey(A), [json({ size: 2 })], metadataMeta(A));
      expectChunks(await store.get(metadataKey(A), undefined, METADATA), json({ size: 2 }));
      expectChunks(await store.get(key(A, 0)), bytes(10, 1));
    },
  );

  test(
    'copies-values',
    'keeps no reference to what `set` was given once it settled, when it says so (`copiesValues`)',
    async (open, _closing, skipCase) => {
      const store = await open();
      if (store.copiesValues !== true) skipCase('the store does not say it copies values');
      const value = [bytes(70_000, 3), bytes(1000, 4)];
      const whole = concat(value);
      await store.set(key(A, 0), value, meta(A, 0, whole.length));
      for (const chunk of value) chunk.fill(0xee); // the engine reuses that memory for the next slice
      expectChunks(await store.get(key(A, 0)), whole);
      expectChunks(await store.get(key(A, 0), { start: 69_000, end: 70_999 }), whole.subarray(69_000));
    },
  );

  test('close', 'closes, and a write racing the close still settles', async (open, closing) => {
    const store = await open();
    await store.set(key(A, 0), [bytes(10, 1)], meta(A, 0, 10));
    const write = (async () => store.set(key(A, 1), [bytes(10, 2)], meta(A, 1, 10)))(); // starts before close
    closing(store);
    await expect(Promise.resolve(store.close())).resolves.toBeUndefined();
    await Promise.allSettled([write]); // resolved or rejected, but never left hanging
  });
}
