import { describe, expect, it } from 'vitest';
import {
  formatContentRange,
  formatUnsatisfiedRange,
  parseContentRange,
} from '../../src/core/content-range.js';
import { isSliceFetchError } from '../../src/core/errors.js';
import {
  formatRange,
  parseRange,
  rangeLength,
  resolveRange,
  resolveRangeHeader,
} from '../../src/core/range.js';

function expectRangeError(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isSliceFetchError(thrown) && thrown.code).toBe('ERR_SLICE_RANGE');
}

describe('parseRange', () => {
  it('reports a missing header as absent', () => {
    expect(parseRange(undefined)).toEqual({ type: 'absent' });
    expect(parseRange(null)).toEqual({ type: 'absent' });
    expect(parseRange([])).toEqual({ type: 'absent' });
  });

  it('parses int, open and suffix ranges in the order written', () => {
    expect(parseRange('bytes=0-99,200-,-5')).toEqual({
      type: 'specs',
      specs: [{ first: 0, last: 99 }, { first: 200 }, { suffix: 5 }],
    });
  });

  it('compares the range unit case-insensitively', () => {
    for (const header of ['Bytes=0-5', 'BYTES=0-5', 'bYtEs=0-5']) {
      expect(parseRange(header)).toEqual({ type: 'specs', specs: [{ first: 0, last: 5 }] });
    }
  });

  it('trims whitespace around the field value', () => {
    expect(parseRange(' \tbytes=0-5 \t')).toEqual({ type: 'specs', specs: [{ first: 0, last: 5 }] });
  });

  it('accepts list whitespace around commas and empty list elements', () => {
    const expected = {
      type: 'specs',
      specs: [
        { first: 0, last: 1 },
        { first: 2, last: 3 },
      ],
    };
    for (const header of [
      'bytes=0-1,,2-3',
      'bytes=0-1 , 2-3',
      'bytes=0-1\t,\t2-3',
      'bytes=,0-1, ,2-3,',
      'bytes=, 0-1,2-3',
    ]) {
      expect(parseRange(header)).toEqual(expected);
    }
  });

  it.each([
    ['BYTES = 0-5'],
    ['bytes =0-5'],
    ['bytes= 0-5'],
    ['bytes=0--1'],
    ['bytes=17-13'],
    ['bytes='],
    ['bytes=-'],
    ['bytes=,'],
    ['bytes=, ,'],
    ['items=0-1'],
    ['bytes=a-b'],
    ['bytes=5'],
    ['bytes=+1-2'],
    ['bytes=1 -2'],
    ['bytes=1- 2'],
    ['bytes=0x10-'],
    ['bytes=-1-2'],
    ['bytes=1-2-3'],
    ['bytes=0-1 2-3'],
    ['bytes=0-1;2-3'],
    ['bytes=0-1,bytes=2-3'],
    ['bytes=٠-١'],
    [''],
    ['bytes'],
  ])('ignores the malformed %j', (header) => {
    expect(parseRange(header).type).toBe('ignored');
  });

  it('ignores two Range fields', () => {
    expect(parseRange(['bytes=0-1', 'bytes=2-3'])).toEqual({
      type: 'ignored',
      reason: 'more than one Range field',
    });
    expect(parseRange(['bytes=0-1'])).toEqual({ type: 'specs', specs: [{ first: 0, last: 1 }] });
  });

  it('keeps -0 as a suffix of zero for the resolver to refuse', () => {
    expect(parseRange('bytes=-0')).toEqual({ type: 'specs', specs: [{ suffix: 0 }] });
  });

  it('reads 2^53 - 1 exactly and anything larger as Infinity, never rounded', () => {
    expect(parseRange('bytes=9007199254740991-')).toEqual({
      type: 'specs',
      specs: [{ first: 9007199254740991 }],
    });
    expect(parseRange('bytes=9007199254740992-')).toEqual({ type: 'specs', specs: [{ first: Infinity }] });
    expect(parseRange('bytes=0-9007199254740993')).toEqual({
      type: 'specs',
      specs: [{ first: 0, last: Infinity }],
    });
    expect(parseRange('bytes=-12345678901234567890')).toEqual({
      type: 'specs',
      specs: [{ suffix: Infinity }],
    });
  });

  it('compares by value, so leading zeros do not count', () => {
    expect(parseRange('bytes=0000000000000000000001-00000000000000000000002')).toEqual({
      type: 'specs',
      specs: [{ first: 1, last: 2 }],
    });
  });

  it('orders two offsets above 2^53 - 1 exactly', () => {
    expect(parseRange('bytes=99999999999999999999-99999999999999999998').type).toBe('ignored');
    expect(parseRange('bytes=099999999999999999998-99999999999999999999')).toEqual({
      type: 'specs',
      specs: [{ first: Infinity, last: Infinity }],
    });
    expect(parseRange('bytes=99999999999999999999-99999999999999999999').type).toBe('specs');
  });

  it('ignores a header longer than maxLength without parsing it', () => {
    const header = `bytes=${'0-1,'.repeat(25_600)}0-1`;
    expect(header.length).toBeGreaterThan(100_000);
    const parsed = parseRange(header);
    expect(parsed.type).toBe('ignored');
    expect(parsed.type === 'ignored' && parsed.reason).toContain('8192');
    expect(parseRange('bytes=0-1', { maxLength: 8 }).type).toBe('ignored');
  });

  it('parses a 100 KB header in one pass when maxLength allows it', () => {
    const many = parseRange(`bytes=${'0-1,'.repeat(25_600)}0-1`, { maxLength: Infinity });
    expect(many.type === 'specs' && many.specs.length).toBe(25_601);
    const digits = parseRange(`bytes=${'9'.repeat(100_000)}-`, { maxLength: Infinity });
    expect(digits).toEqual({ type: 'specs', specs: [{ first: Infinity }] });
    const spaces = parseRange(`bytes=0-1${' '.repeat(100_000)}x`, { maxLength: Infinity });
    expect(spaces.type).toBe('ignored');
  });
});

describe('resolveRange', () => {
  it('resolves an int range inside the object', () => {
    expect(resolveRangeHeader('bytes=0-99', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: 99 }],
    });
  });

  it('clamps an end past EOF and an open range to the last byte', () => {
    expect(resolveRangeHeader('bytes=900-5000', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 900, end: 999 }],
    });
    expect(resolveRangeHeader('bytes=900-', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 900, end: 999 }],
    });
  });

  it('serves the whole object for a suffix larger than it', () => {
    expect(resolveRangeHeader('bytes=-5000', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: 999 }],
    });
    expect(resolveRangeHeader('bytes=-1', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 999, end: 999 }],
    });
  });

  it('finds a start equal to the size unsatisfiable', () => {
    expect(resolveRangeHeader('bytes=1000-', 1000)).toEqual({ type: 'unsatisfiable' });
    expect(resolveRangeHeader('bytes=1000-1000', 1000)).toEqual({ type: 'unsatisfiable' });
    expect(resolveRangeHeader('bytes=999-', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 999, end: 999 }],
    });
  });

  it('finds -0 unsatisfiable and drops it from a list with a satisfiable spec', () => {
    expect(resolveRangeHeader('bytes=-0', 1000)).toEqual({ type: 'unsatisfiable' });
    expect(resolveRangeHeader('bytes=-0,5000-,0-1', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: 1 }],
    });
  });

  it('finds every spec unsatisfiable on a zero-length object', () => {
    for (const header of ['bytes=0-', 'bytes=0-0', 'bytes=-1', 'bytes=-0', 'bytes=0-5,-3']) {
      expect(resolveRangeHeader(header, 0)).toEqual({ type: 'unsatisfiable' });
    }
  });

  it('resolves offsets above 2^53 - 1 exactly', () => {
    const size = 2 ** 40;
    expect(resolveRangeHeader('bytes=9007199254740992-', size)).toEqual({ type: 'unsatisfiable' });
    expect(resolveRangeHeader('bytes=12345678901234567890-', size)).toEqual({ type: 'unsatisfiable' });
    expect(resolveRangeHeader('bytes=10-12345678901234567890', size)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 10, end: size - 1 }],
    });
    expect(resolveRangeHeader('bytes=-12345678901234567890', size)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: size - 1 }],
    });
    const max = Number.MAX_SAFE_INTEGER;
    expect(resolveRangeHeader('bytes=9007199254740990-', max)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: max - 1, end: max - 1 }],
    });
  });

  it('merges overlapping and adjacent ranges and keeps the order they were asked in (regression: sorted)', () => {
    expect(resolveRangeHeader('bytes=500-599,0-10,5-20', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [
        { start: 500, end: 599 },
        { start: 0, end: 20 },
      ],
    });
    expect(resolveRangeHeader('bytes=3-3,0-0', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [
        { start: 3, end: 3 },
        { start: 0, end: 0 },
      ],
    });
    expect(resolveRangeHeader('bytes=10-19,0-9,-980', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: 999 }],
    });
    expect(resolveRangeHeader('bytes=0-9,11-19', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [
        { start: 0, end: 9 },
        { start: 11, end: 19 },
      ],
    });
    expect(resolveRangeHeader('bytes=0-99,10-20', 1000)).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: 99 }],
    });
  });

  it('ignores 1000 disjoint ranges, naming the cap', () => {
    const header = `bytes=${Array.from({ length: 1000 }, (_, k) => `${k * 10}-${k * 10 + 1}`).join(',')}`;
    const resolved = resolveRangeHeader(header, 100_000, { maxLength: Infinity });
    expect(resolved.type).toBe('ignored');
    expect(resolved.type === 'ignored' && resolved.reason).toMatch(/cap of 16 \(maxRanges\)/);
  });

  it('applies the cap after coalescing', () => {
    const header = `bytes=${Array.from({ length: 1000 }, (_, k) => `${k}-${k}`).join(',')}`;
    expect(resolveRangeHeader(header, 100_000, { maxLength: Infinity })).toEqual({
      type: 'satisfiable',
      ranges: [{ start: 0, end: 999 }],
    });
    expect(resolveRangeHeader('bytes=0-1,5-6', 100, { maxRanges: 1 }).type).toBe('ignored');
    expect(resolveRangeHeader('bytes=0-1,2-6', 100, { maxRanges: 1 }).type).toBe('satisfiable');
  });

  it('passes absent and ignored through unchanged', () => {
    const ignored = { type: 'ignored', reason: 'x' } as const;
    expect(resolveRange(ignored, 10)).toBe(ignored);
    expect(resolveRangeHeader(undefined, 10)).toEqual({ type: 'absent' });
    expect(resolveRangeHeader('bytes=oops', 10).type).toBe('ignored');
  });

  it('throws ERR_SLICE_RANGE for a size or spec that is not a non-negative integer', () => {
    expectRangeError(() => resolveRangeHeader('bytes=0-1', -1));
    expectRangeError(() => resolveRangeHeader('bytes=0-1', 1.5));
    expectRangeError(() => resolveRangeHeader('bytes=0-1', Infinity));
    expectRangeError(() => resolveRange({ type: 'specs', specs: [{ first: -1 }] }, 10));
    expectRangeError(() => resolveRange({ type: 'specs', specs: [{ first: 5, last: 2 }] }, 10));
    expectRangeError(() => resolveRange({ type: 'specs', specs: [{ suffix: Number.NaN }] }, 10));
  });
});

describe('formatRange', () => {
  it('formats specs and byte ranges without spaces', () => {
    expect(formatRange([{ first: 0, last: 99 }, { first: 200 }, { suffix: 5 }])).toBe('bytes=0-99,200-,-5');
    expect(formatRange([{ start: 0, end: 1_048_575 }])).toBe('bytes=0-1048575');
    expect(formatRange([{ start: 9007199254740990, end: 9007199254740991 }])).toBe(
      'bytes=9007199254740990-9007199254740991',
    );
  });

  it('refuses Infinity, negatives, fractions, inverted ranges and an empty list', () => {
    expectRangeError(() => formatRange([]));
    expectRangeError(() => formatRange([{ first: Infinity }]));
    expectRangeError(() => formatRange([{ first: 0, last: Infinity }]));
    expectRangeError(() => formatRange([{ suffix: Infinity }]));
    expectRangeError(() => formatRange([{ start: -1, end: 3 }]));
    expectRangeError(() => formatRange([{ start: 0.5, end: 3 }]));
    expectRangeError(() => formatRange([{ start: 4, end: 3 }]));
    expectRangeError(() => formatRange([{ first: 4, last: 3 }]));
    expectRangeError(() => formatRange([{ first: 2 ** 53 }]));
  });
});

describe('formatContentRange and formatUnsatisfiedRange', () => {
  it('formats the exact 206 and 416 values', () => {
    expect(formatContentRange({ start: 0, end: 99 }, 1000)).toBe('bytes 0-99/1000');
    expect(formatContentRange({ start: 0, end: 0 }, 1)).toBe('bytes 0-0/1');
    expect(formatContentRange({ start: 0, end: 9007199254740990 }, 9007199254740991)).toBe(
      'bytes 0-9007199254740990/9007199254740991',
    );
    expect(formatUnsatisfiedRange(1000)).toBe('bytes */1000');
    expect(formatUnsatisfiedRange(0)).toBe('bytes */0');
  });

  it('refuses a range outside the object', () => {
    expectRangeError(() => formatContentRange({ start: 0, end: 1000 }, 1000));
    expectRangeError(() => formatContentRange({ start: 0, end: 0 }, 0));
    expectRangeError(() => formatContentRange({ start: 5, end: 4 }, 1000));
    expectRangeError(() => formatContentRange({ start: 0, end: 1 }, Infinity));
    expectRangeError(() => formatUnsatisfiedRange(-1));
    expectRangeError(() => formatUnsatisfiedRange(2 ** 53));
  });
});

describe('parseContentRange', () => {
  it('parses a byte range with its complete length', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ kind: 'range', start: 0, end: 99, size: 1000 });
    expect(parseContentRange('BYTES 0-0/1')).toEqual({ kind: 'range', start: 0, end: 0, size: 1 });
    expect(parseContentRange(['bytes 5-9/10'])).toEqual({ kind: 'range', start: 5, end: 9, size: 10 });
    expect(parseContentRange('bytes 0-9007199254740990/9007199254740991')).toEqual({
      kind: 'range',
      start: 0,
      end: 9007199254740990,
      size: 9007199254740991,
    });
  });

  it('reports `bytes */N` as unsatisfied', () => {
    expect(parseContentRange('bytes */100')).toEqual({ kind: 'unsatisfied', size: 100 });
    expect(parseContentRange('bytes */0')).toEqual({ kind: 'unsatisfied', size: 0 });
  });

  it('rejects an unknown complete length', () => {
    expect(parseContentRange('bytes 0-1/*')).toEqual({
      kind: 'invalid',
      reason: 'unknown complete length (*)',
    });
  });

  it('rejects a missing value and two values', () => {
    expect(parseContentRange(undefined)).toEqual({ kind: 'invalid', reason: 'missing' });
    expect(parseContentRange([])).toEqual({ kind: 'invalid', reason: 'missing' });
    expect(parseContentRange(['bytes 0-1/2', 'bytes 0-1/2'])).toEqual({
      kind: 'invalid',
      reason: 'more than one Content-Range value',
    });
  });

  it('rejects offsets above 2^53 - 1 instead of rounding them', () => {
    for (const value of [
      'bytes 0-1/9007199254740992',
      'bytes 0-9007199254740992/9007199254740993',
      'bytes 9007199254740992-9007199254740992/99999999999999999999',
      'bytes */9007199254740992',
    ]) {
      expect(parseContentRange(value)).toEqual({ kind: 'invalid', reason: 'offset above 2^53 - 1' });
    }
  });

  it('rejects inverted ranges, ends at or past the total and a zero total', () => {
    expect(parseContentRange('bytes 1-0/2').kind).toBe('invalid');
    expect(parseContentRange('bytes 0-2/2').kind).toBe('invalid');
    expect(parseContentRange('bytes 0-0/0').kind).toBe('invalid');
  });

  it.each([
    [''],
    ['bytes'],
    ['bytes '],
    ['bytes 0-1'],
    ['bytes 0-1/'],
    ['bytes 0-/2'],
    ['bytes -1/2'],
    ['bytes -1-2/3'],
    ['bytes  0-1/2'],
    ['bytes=0-1/2'],
    ['bytes\t0-1/2'],
    ['xbytes 0-1/2'],
    ['items 0-1/2'],
    ['bytes 0-1/2x'],
    ['bytes 0-1/2 3'],
    ['bytes 0-1/2,bytes 0-1/2'],
    ['bytes 0 -1/2'],
    ['bytes 0-1 /2'],
    ['bytes +0-1/2'],
    ['bytes */'],
    ['bytes */*'],
    ['bytes *-1/2'],
    ['bytes 0-1/*x'],
    ['bytes 0-1/-2'],
  ])('rejects the junk %j', (value) => {
    expect(parseContentRange(value).kind).toBe('invalid');
  });
});

describe('rangeLength', () => {
  it('counts the bytes of an inclusive range', () => {
    expect(rangeLength({ start: 0, end: 99 })).toBe(100);
    expect(rangeLength({ start: 7, end: 7 })).toBe(1);
  });
});
