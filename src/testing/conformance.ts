/**
 * The shared conformance suite of the {@link CacheStorage} port: every store (memory, disk, Redis, tiered, or
 * yours) runs the same cases, so "keeps every byte intact, never serves an expired entry, respects its byte
 * budget, purges every version of an object" (R7, P13) is checked once, the same way, for all of them.
 * Shipped as `slice-fetch/testing`; it needs vitest (an optional peer).
 *
 * @module
 */
import { describe, expect, it } from 'vitest';
import { metadataKey, sliceKey } from '../core/keys.js';
import type { Awaitable, CacheChunks, CacheEntryMeta, CacheGetOptions, CacheStorage } from '../ports.js';

/** What the suite asks a factory for: a fresh, empty store sized for the case. */
export interface CacheStorageFactoryOptions {
  /** The store's byte budget for this case. */
  readonly maxBytes: number;
  /** A clock to use for expiry checks, when the case controls time; pass it to stores that accept one. */
  readonly now?: () => number;
}

/** A fresh store, and how to remove what it left behind (a temp directory, a Redis namespace). */
export interface CacheStorageUnderTest {
  /** The store, empty. */
  readonly store: CacheStorage;
  /** Called after the case, once the store is closed. */
  readonly cleanup?: () => Awaitable<void>;
}

/** Makes a fresh, empty store for one case. */
export type CacheStorageFactory = (options: CacheStorageFactoryOptions) => Awaitable<CacheStorageUnderTest>;

/** The stable ids of the conformance cases, as used in {@link CacheStorageConformanceOptions.skip}. */
export type CacheStorageConformanceCase =
  | 'missing'
  | 'round-trip'
  | 'overwrite'
  | 'sub-range'
  | 'allocate'
  | 'expired-at-set'
  | 'expiry-clock'
  | 'has'
  | 'has-expiry'
  | 'delete'
  | 'purge-object'
  | 'purge-generation'
  | 'stats'
  | 'byte-budget'
  | 'concurrent-writers'
  | 'binary-safety'
  | 'metadata'
  | 'close';

/** Options of {@link runCacheStorageConformance}. */
export interface CacheStorageConformanceOptions {
  /**
   * Cases that do not apply to the store, each with the reason (shown in the skipped test's title) — e.g.
   * `{ 'expiry-clock': 'Redis expires keys by its own clock (PX)' }`.
   * @default {}
   */
  readonly skip?: Partial<Record<CacheStorageConformanceCase, string>>;
}

/**
 * Registers the {@link CacheStorage} conformance cases as a vitest `describe` block. Each case gets a fresh
 * store from `factory` and closes it (then calls `cleanup`) afterwards.
 *
 * @example
 * ```ts
 * import { memoryStorage } from 'slice-fetch';
 * import { runCacheStorageConformance } from 'slice-fetch/testing';
 *
 * runCacheStorageConformance('memoryStorage', ({ maxBytes, now }) => ({ store: memoryStorage({ maxBytes, now }) }));
 * ```
 */
export function runCacheStorageConformance(
  name: string,
  factory: CacheStorageFactory,
  options: CacheStorageConformanceOptions = {},
): void {
  const skip = options.skip ?? {};
  const test = (id: CacheStorageConformanceCase, title: string, body: CaseBody): void => {
    const reason = skip[id];
    if (reason !== undefined) {
      it.skip(`${title} (skipped: ${reason})`, () => {});
      return;
    }
    it(title, (context) => withStores(factory, body, (note) => context.skip(note)));
  };

  describe(`CacheStorage conformance: ${name}`, () => {
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

    test('close', 'closes, and a write racing the close still settles', async (open, closing) => {
      const store = await open();
      await store.set(key(A, 0), [bytes(10, 1)], meta(A, 0, 10));
      const write = (async () => store.set(key(A, 1), [bytes(10, 2)], meta(A, 1, 10)))(); // starts before close
      closing(store);
      await expect(Promise.resolve(store.close())).resolves.toBeUndefined();
      await Promise.allSettled([write]); // resolved or rejected, but never left hanging
    });
  });
}

// ---------------------------------------------------------------------------------------------------------

type Open = (options?: Partial<CacheStorageFactoryOptions>) => Promise<CacheStorage>;
/**
 * A case: opens its stores through `open`; a case that closes a store itself reports it through `closing`; a
 * case that does not apply to the store it got (an optional method missing) ends itself through `skip`.
 */
type CaseBody = (
  open: Open,
  closing: (store: CacheStorage) => void,
  skip: (note: string) => never,
) => Promise<void>;

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const A = 'https://conformance.test/a.bin';
const B = 'https://conformance.test/b.bin';
const SLICE_SIZE = 1 << 20;

/** Runs one case; closes every store it opened (unless the case did) and calls the factory's cleanups. */
async function withStores(
  factory: CacheStorageFactory,
  body: CaseBody,
  skip: (note: string) => never,
): Promise<void> {
  const opened: CacheStorageUnderTest[] = [];
  const closedByCase = new WeakSet<CacheStorage>();
  const open: Open = async (options) => {
    const underTest = await factory({ maxBytes: DEFAULT_MAX_BYTES, ...options });
    opened.push(underTest);
    return underTest.store;
  };
  try {
    await body(open, (store) => closedByCase.add(store), skip);
  } finally {
    for (const { store, cleanup } of opened) {
      if (!closedByCase.has(store)) await store.close();
      await cleanup?.();
    }
  }
}

/** The store's `has`, bound to it; skips the case when the store has none. */
function hasOf(store: CacheStorage, skip: (note: string) => never): (key: string) => Promise<boolean> {
  const has = store.has;
  if (has === undefined) return skip('the store has no `has`');
  return async (k) => has.call(store, k);
}

function key(objectKey: string, index: number, validator = 'etag:"v1"'): string {
  return sliceKey({ objectKey, validator, sliceSize: SLICE_SIZE, index });
}

function meta(objectKey: string, index: number, length: number, validator = 'etag:"v1"'): CacheEntryMeta {
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

/** How the engine reads a metadata entry: it says so (`CacheGetOptions.kind`), and a store may route by it. */
const METADATA: CacheGetOptions = { kind: 'metadata' };

function metadataMeta(objectKey: string): CacheEntryMeta {
  return {
    ...meta(objectKey, 0, 100 * SLICE_SIZE),
    kind: 'metadata',
    range: { start: 0, end: 100 * SLICE_SIZE - 1 },
  };
}

/** Deterministic bytes that differ per `seed` and cover every byte value. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function concat(chunks: CacheChunks): Buffer {
  return Buffer.concat(chunks);
}

/** Asserts a read is a chunk list of Uint8Arrays whose bytes equal `expected`, naming the first difference. */
function expectChunks(got: CacheChunks | undefined, expected: Uint8Array): void {
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
