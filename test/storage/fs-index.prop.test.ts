/**
 * The disk store's compact index (src/storage/fs-index.ts) against a plain `Map` model: random sequences of
 * writes, reads, scan adoptions, deletions, purges by object and evictions, over few object prefixes (long
 * chains per object) and enough keys to grow the columns and tables past their first size and to shift rows
 * back on deletion. R7's byte budget and P27 (a purge finds every key of the object) rest on it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsIndex, type IndexEntry } from '../../src/storage/fs-index.js';

/** A core-shaped key: 32 hex of object prefix, a dot, 32 hex or `meta`. */
const hex = (value: number, length: number): string => value.toString(16).padStart(length, '0');
/**
 * Objects below 6 share their prefix's first word in pairs, and the tables hash on that word: their rows collide
 * (probe runs, backward shifts across objects, a new head in a shared run); larger numbers spread.
 */
const prefixOf = (object: number): string =>
  object < 6
    ? `${hex(object >> 1, 8)}${hex(object, 8)}${'0'.repeat(16)}`
    : `${hex(Math.imul(object + 1, 2654435761) >>> 0, 8)}${'0'.repeat(24)}`;
const keyOf = (object: number, slice: number): string =>
  `${prefixOf(object)}.${slice < 0 ? 'meta' : `${hex(slice, 8)}${'ab'.repeat(12)}`}`;

type Op =
  | { kind: 'remember'; object: number; slice: number; bytes: number }
  | { kind: 'adopt'; object: number; slice: number; bytes: number }
  | { kind: 'forget'; object: number; slice: number }
  | { kind: 'purge'; object: number }
  | { kind: 'reserve'; entries: number }
  | { kind: 'evict'; maxBytes: number; object: number; slice: number };

const slot = { object: fc.integer({ min: 0, max: 5 }), slice: fc.integer({ min: -1, max: 400 }) };
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('remember' as const), ...slot, bytes: fc.nat(5000) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('adopt' as const), ...slot, bytes: fc.nat(5000) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('forget' as const), ...slot }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), object: slot.object }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reserve' as const), entries: fc.nat(6000) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('evict' as const), maxBytes: fc.nat(2_000_000), ...slot }),
  },
);

const entry = (bytes: number): IndexEntry => ({
  bytes,
  fileBytes: bytes + 100 + (bytes % 7),
  expiresAt: bytes,
});

describe('FsIndex', () => {
  it('agrees with a Map on entries, bytes, each object’s keys and what eviction may take', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 3000 }), (ops) => {
        const index = new FsIndex();
        const model = new Map<string, IndexEntry>();
        for (const step of ops) {
          if (step.kind === 'reserve') {
            index.reserve(step.entries); // room ahead of need: changes nothing the index answers
            continue;
          }
          if (step.kind === 'purge') {
            const prefix = prefixOf(step.object);
            const expected = [...model.keys()].filter((key) => key.startsWith(prefix)).sort();
            expect(index.keysOf(prefix).sort()).toEqual(expected);
            for (const key of expected) {
              index.forget(key);
              model.delete(key);
            }
            continue;
          }
          const key = keyOf(step.object, step.slice);
          if (step.kind === 'remember') {
            index.remember(key, entry(step.bytes));
            model.set(key, entry(step.bytes));
          } else if (step.kind === 'adopt') {
            index.adopt(key, entry(step.bytes), 1_700_000_000_000 + step.bytes);
            if (!model.has(key)) model.set(key, entry(step.bytes)); // a known key is newer than the scan's
          } else if (step.kind === 'forget') {
            index.forget(key);
            model.delete(key);
          } else {
            const victims = index.evict(step.maxBytes, key);
            expect(victims).not.toContain(key);
            expect(new Set(victims).size).toBe(victims.length);
            for (const victim of victims) {
              expect(model.has(victim)).toBe(true);
              model.delete(victim);
            }
            const left = [...model.values()].reduce((sum, { bytes }) => sum + bytes, 0);
            // Within the budget, unless only the kept entry is left over it.
            if (left > step.maxBytes) expect([...model.keys()]).toEqual([key]);
          }
          expect(index.size).toBe(model.size);
        }
        expect(index.bytes).toBe([...model.values()].reduce((sum, { bytes }) => sum + bytes, 0));
        for (let object = 0; object <= 5; object++) {
          for (let slice = -1; slice <= 400; slice++) {
            const key = keyOf(object, slice);
            expect(index.get(key)).toEqual(model.get(key));
          }
        }
      }),
      { numRuns: 120 },
    );
  });

  it('evicts exactly least recently used first while it holds few rows', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { minLength: 3, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 59 }), { maxLength: 40 }),
        (slices, touches) => {
          const index = new FsIndex();
          const order: string[] = [];
          const use = (key: string): void => {
            order.splice(order.indexOf(key) >>> 0, order.includes(key) ? 1 : 0);
            order.push(key);
            index.remember(key, entry(10));
          };
          for (const slice of slices) use(keyOf(1, slice));
          for (const touch of touches) use(keyOf(1, slices[touch % slices.length] as number));
          const newest = order.at(-1) as string;
          const victims = index.evict(10 * (slices.length - 2), newest);
          expect(victims).toEqual(order.slice(0, 2));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('puts entries found by the scan behind every entry used since, oldest write first', () => {
    const index = new FsIndex();
    index.remember(keyOf(0, 1), entry(10));
    index.adopt(keyOf(0, 2), entry(10), 2_000);
    index.adopt(keyOf(0, 3), entry(10), 1_000);
    index.adopt(keyOf(0, 1), entry(99), 500); // known already: the scan's copy is older, so ignored
    expect(index.get(keyOf(0, 1))).toEqual(entry(10));
    expect(index.evict(10, '')).toEqual([keyOf(0, 3), keyOf(0, 2)]);
  });

  it('holds no string or object per entry: a million entries in about 80 bytes each, off the heap', () => {
    const index = new FsIndex();
    for (let object = 0; object < 125_000; object++) {
      index.remember(keyOf(object, -1), entry(1));
      for (let slice = 0; slice < 7; slice++) index.remember(keyOf(object, slice), entry(1024));
    }
    expect(index.size).toBe(1_000_000);
    expect(index.memory / index.size).toBeLessThan(100);
    expect(index.keysOf(prefixOf(77)).sort()).toEqual(
      [-1, 0, 1, 2, 3, 4, 5, 6].map((slice) => keyOf(77, slice)).sort(),
    );
  });

  it('ignores keys the core does not make', () => {
    const index = new FsIndex();
    index.remember('../../etc/passwd', entry(1));
    expect(index.size).toBe(0);
    expect(index.get('../../etc/passwd')).toBeUndefined();
    expect(index.keysOf('zz')).toEqual([]);
  });
});
