/**
 * The head of a body laid out once per version (src/engine/response-heads.ts): `singleRangeFields()` is the
 * same head as `singleRangeHeaders(sliceHeaders(meta), …)` — every name, value and position — whatever headers
 * the version kept, including names a record orders first (integer-like) and framing fields a store could hand
 * back; the version's record is shared and cannot be changed by a caller.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ObjectMetadata } from '../../src/engine/metadata.js';
import {
  headFields,
  headRecord,
  singleRangeFields,
  singleRangeHeaders,
  sliceHeaders,
} from '../../src/engine/response-heads.js';

/** A version with these kept headers (as the metadata cache would hold it). */
function version(size: number, headers: Record<string, string>, etag?: string): ObjectMetadata {
  return {
    objectKey: 'http://origin.test/a.bin',
    size,
    etag,
    lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT',
    validator: etag === undefined ? `size:${size}` : `etag:${etag}`,
    headers,
    cacheable: true,
    expiresAt: Number.MAX_SAFE_INTEGER,
    base: '',
    vary: [],
    scope: '',
    generation: '',
  } as ObjectMetadata;
}

const NAMES = [
  'cache-control',
  'content-type',
  'etag',
  'x-origin',
  'content-length',
  'content-range',
  'accept-ranges',
  '7',
  '42',
  'access-control-expose-headers',
];

describe('head fields of a version', () => {
  it('are the fields of singleRangeHeaders(sliceHeaders(meta)), in its order, for any kept headers and range', () => {
    const scenario = fc.record({
      size: fc.integer({ min: 1, max: 10_000_000 }),
      kept: fc.dictionary(fc.constantFrom(...NAMES), fc.constantFrom('content-length', 'x', '1', 'bytes')),
      etag: fc.option(fc.constantFrom('"v1"', 'W/"v2"'), { nil: undefined }),
      start: fc.nat(),
      length: fc.nat({ max: 100_000 }),
      status: fc.constantFrom(200, 206),
      empty: fc.boolean(),
    });
    fc.assert(
      fc.property(scenario, ({ size, kept, etag, start, length, status, empty }) => {
        const meta = version(size, kept, etag);
        const first = start % size;
        const range = empty ? undefined : { start: first, end: Math.min(first + length, size - 1) };
        const record = singleRangeHeaders(sliceHeaders(meta), range, status, size);
        const fields = singleRangeFields(meta, range, status);
        expect(fields).toEqual(headFields(record));
        expect(headRecord(fields)).toEqual(record);
        // Asked again, the version's layout is reused, and this request's framing did not leak into it.
        expect(singleRangeFields(meta, range, status)).toEqual(fields);
        expect(Object.keys(sliceHeaders(meta))).toEqual(Object.keys(sliceHeaders(version(size, kept, etag))));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps one record per version, which a caller cannot change', () => {
    const meta = version(100, { 'cache-control': 'max-age=60' }, '"v1"');
    const base = sliceHeaders(meta);
    expect(sliceHeaders(meta)).toBe(base);
    expect(() => {
      (base as Record<string, string>)['x-added'] = 'no';
    }).toThrow(TypeError);
    expect(singleRangeHeaders(base, { start: 0, end: 9 }, 206, 100)).toMatchObject({
      'cache-control': 'max-age=60',
      etag: '"v1"',
      'content-length': '10',
      'content-range': 'bytes 0-9/100',
    });
  });
});
