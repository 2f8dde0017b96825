import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { metadataKey, normalizeObjectUrl, objectKeyPrefix, sliceKey } from '../../src/core/keys.js';

const RUNS = { numRuns: 1000 };
const KEY = /^[0-9a-f]{32}\.[0-9a-f]{32}$/;

/** Strings built mostly from the separators an encoding could confuse, plus digits (length prefixes). */
const tricky = fc.oneof(
  fc.string({ unit: fc.constantFrom('|', ':', '.', '1', '2', '0', 'a'), maxLength: 12 }),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

const parts = fc.record({
  objectKey: tricky,
  validator: tricky,
  sliceSize: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  index: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.nat()),
});

describe('cache key properties', () => {
  it('P12, P27: distinct purge generations of one version give distinct slice and metadata keys', () => {
    fc.assert(
      fc.property(parts, tricky, tricky, tricky, (p, scope, a, b) => {
        fc.pre(a !== b);
        expect(sliceKey({ ...p, generation: a }) === sliceKey({ ...p, generation: b })).toBe(false);
        expect(metadataKey(p.objectKey, scope, a) === metadataKey(p.objectKey, scope, b)).toBe(false);
        // A metadata key is never a slice key, whatever the generations.
        expect(metadataKey(p.objectKey, scope, a) === sliceKey({ ...p, scope, generation: b })).toBe(false);
      }),
      RUNS,
    );
  });

  it('P12: distinct (objectKey, validator, sliceSize, index) give distinct keys', () => {
    fc.assert(
      fc.property(parts, parts, (a, b) => {
        const same =
          a.objectKey === b.objectKey &&
          a.validator === b.validator &&
          a.sliceSize === b.sliceSize &&
          a.index === b.index;
        expect(sliceKey(a) === sliceKey(b)).toBe(same);
      }),
      RUNS,
    );
  });

  it('P12: moving characters between adjacent fields never collides', () => {
    fc.assert(
      fc.property(tricky, tricky, fc.nat({ max: 12 }), (objectKey, validator, cut) => {
        const joined = objectKey + validator;
        const at = Math.min(cut, joined.length);
        const moved = { objectKey: joined.slice(0, at), validator: joined.slice(at) };
        fc.pre(moved.objectKey !== objectKey);
        const key = (o: string, v: string) =>
          sliceKey({ objectKey: o, validator: v, sliceSize: 1, index: 1 });
        expect(key(moved.objectKey, moved.validator)).not.toBe(key(objectKey, validator));
      }),
      RUNS,
    );
  });

  it('P12: shifting a separator-delimited part from one field to the other never collides', () => {
    fc.assert(
      fc.property(tricky, tricky, tricky, fc.constantFrom('|', ':', '.'), (x, y, z, sep) => {
        // Compare the part after the prefix: the encoding itself must keep the fields apart, not only the prefix.
        const key = (objectKey: string, validator: string) =>
          sliceKey({ objectKey, validator, sliceSize: 2, index: 3 }).slice(33);
        // Without length prefixes both would encode as `x|y|z…`.
        expect(key(`${x}${sep}${y}`, z)).not.toBe(key(x, `${y}${sep}${z}`));
      }),
      RUNS,
    );
  });

  it('P12: keys have a fixed length and a prefix that depends only on the object key', () => {
    fc.assert(
      fc.property(parts, tricky, (p, otherValidator) => {
        const key = sliceKey(p);
        expect(key).toMatch(KEY);
        expect(key.slice(0, 32)).toBe(objectKeyPrefix(p.objectKey));
        expect(sliceKey({ ...p, validator: otherValidator, index: p.index + 1 }).slice(0, 32)).toBe(
          key.slice(0, 32),
        );
        expect(metadataKey(p.objectKey)).toBe(`${key.slice(0, 32)}.meta`);
      }),
      RUNS,
    );
  });

  it('normalising a URL twice changes nothing', () => {
    const url = fc.webUrl({ withQueryParameters: true, withFragments: true });
    fc.assert(
      fc.property(url, (u) => {
        const once = normalizeObjectUrl(u);
        expect(normalizeObjectUrl(once)).toBe(once);
        expect(once.includes('#')).toBe(false);
      }),
      RUNS,
    );
  });
});
