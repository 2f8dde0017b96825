import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import {
  plannedSlice,
  plannedSlices,
  planSlices,
  sliceCount,
  sliceIndexAt,
  sliceRange,
} from '../../src/core/plan.js';

const KiB = 1024;
const MAX = Number.MAX_SAFE_INTEGER;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isSliceFetchError(error) ? error.code : 'not a SliceFetchError';
  }
  return undefined;
}

describe('planSlices', () => {
  it('plans every slice of the whole object when no range is given', () => {
    const plan = planSlices(10_000, 4096);
    expect(plan).toEqual({
      size: 10_000,
      sliceSize: 4096,
      range: { start: 0, end: 9999 },
      firstIndex: 0,
      lastIndex: 2,
      count: 3,
      skipStart: 0,
      skipEnd: 0,
    });
  });

  it('trims the first and last slice to the requested interval', () => {
    const plan = planSlices(10_000, 4096, { start: 5000, end: 9000 });
    expect(plan).toMatchObject({ firstIndex: 1, lastIndex: 2, count: 2, skipStart: 904, skipEnd: 999 });
    expect(plan.range).toEqual({ start: 5000, end: 9000 });
  });

  it('clamps an end past the last byte to size - 1', () => {
    const plan = planSlices(10_000, 4096, { start: 9000, end: 1_000_000 });
    expect(plan.range).toEqual({ start: 9000, end: 9999 });
    expect(plan).toMatchObject({ firstIndex: 2, lastIndex: 2, count: 1, skipStart: 808, skipEnd: 0 });
  });

  it('plans one slice for a range inside a single slice', () => {
    const plan = planSlices(1 << 20, 64 * KiB, { start: 70_000, end: 70_000 });
    expect(plan).toMatchObject({ firstIndex: 1, lastIndex: 1, count: 1, skipStart: 70_000 - 65_536 });
    expect(plan.skipEnd).toBe(131_071 - 70_000);
  });

  it('plans exact multiples of the slice size without a short last slice', () => {
    const plan = planSlices(8192, 4096);
    expect(plan).toMatchObject({ count: 2, lastIndex: 1, skipEnd: 0 });
    expect(sliceRange(1, 8192, 4096)).toEqual({ start: 4096, end: 8191 });
  });

  it('plans nothing for a zero-length object, so no bytes=0-… is ever sent', () => {
    const plan = planSlices(0, 4096);
    expect(plan).toMatchObject({ count: 0, range: undefined, firstIndex: 0, lastIndex: -1 });
    expect([...plannedSlices(plan)]).toEqual([]);
    expect(planSlices(0, 4096, { start: 0, end: 10 }).count).toBe(0);
  });

  it('plans the last byte of the largest safe object exactly', () => {
    const plan = planSlices(MAX, 64 * KiB, { start: MAX - 1, end: MAX - 1 });
    expect(plan.firstIndex).toBe(Number((BigInt(MAX) - 1n) / 65_536n));
    const slices = [...plannedSlices(plan)];
    expect(slices).toHaveLength(1);
    expect(slices[0]?.range.end).toBe(MAX - 1);
    expect(slices[0]?.emit).toEqual({
      start: MAX - 1 - slices[0]!.range.start,
      end: MAX - 1 - slices[0]!.range.start,
    });
  });

  it('rejects a start after the end', () => {
    expect(codeOf(() => planSlices(100, 10, { start: 5, end: 4 }))).toBe('ERR_SLICE_RANGE');
  });

  it('rejects a start at or past the end of a non-empty object', () => {
    expect(codeOf(() => planSlices(100, 10, { start: 100, end: 200 }))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(100, 10, { start: 99, end: 200 }))).toBeUndefined();
  });

  it('rejects non-integers, negatives, unsafe integers and a slice size below 1', () => {
    expect(codeOf(() => planSlices(1.5, 10))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(-1, 10))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(MAX + 1, 10))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(100, 0))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(100, Number.NaN))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(100, 10, { start: 0.5, end: 3 }))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => planSlices(100, 10, { start: -1, end: 3 }))).toBe('ERR_SLICE_RANGE');
  });

  it('reports the bad value in the error message', () => {
    expect(() => planSlices(100, 0)).toThrow(
      'Expected `sliceSize` to be an integer between 1 and 2^53 - 1, got `0`.',
    );
  });
});

describe('sliceCount, sliceIndexAt and sliceRange', () => {
  it('counts slices, rounding a partial last slice up', () => {
    expect(sliceCount(0, 10)).toBe(0);
    expect(sliceCount(1, 10)).toBe(1);
    expect(sliceCount(10, 10)).toBe(1);
    expect(sliceCount(11, 10)).toBe(2);
    expect(sliceCount(MAX, 1)).toBe(MAX);
  });

  it('finds the slice holding an offset at slice boundaries', () => {
    expect(sliceIndexAt(0, 4096)).toBe(0);
    expect(sliceIndexAt(4095, 4096)).toBe(0);
    expect(sliceIndexAt(4096, 4096)).toBe(1);
    expect(sliceIndexAt(MAX - 1, MAX)).toBe(0);
    expect(sliceIndexAt(MAX, MAX - 1)).toBe(1);
  });

  it('ends the last slice at size - 1', () => {
    expect(sliceRange(2, 10_000, 4096)).toEqual({ start: 8192, end: 9999 });
    expect(sliceRange(0, MAX, MAX)).toEqual({ start: 0, end: MAX - 1 });
  });

  it('rejects a slice index outside the object', () => {
    expect(codeOf(() => sliceRange(3, 10_000, 4096))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => sliceRange(-1, 10_000, 4096))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => sliceRange(0, 0, 4096))).toBe('ERR_SLICE_RANGE');
  });
});

describe('plannedSlice and plannedSlices', () => {
  it('gives each slice its full range and the relative part to emit', () => {
    const plan = planSlices(10_000, 4096, { start: 5000, end: 9000 });
    expect([...plannedSlices(plan)]).toEqual([
      { index: 1, range: { start: 4096, end: 8191 }, emit: { start: 904, end: 4095 } },
      { index: 2, range: { start: 8192, end: 9999 }, emit: { start: 0, end: 808 } },
    ]);
  });

  it('trims both ends of a slice that is first and last', () => {
    const plan = planSlices(10_000, 4096, { start: 10, end: 20 });
    expect(plannedSlice(plan, 0)).toEqual({
      index: 0,
      range: { start: 0, end: 4095 },
      emit: { start: 10, end: 20 },
    });
  });

  it('rejects an index outside the plan', () => {
    const plan = planSlices(10_000, 4096, { start: 5000, end: 9000 });
    expect(codeOf(() => plannedSlice(plan, 0))).toBe('ERR_SLICE_RANGE');
    expect(codeOf(() => plannedSlice(plan, 3))).toBe('ERR_SLICE_RANGE');
  });

  it('iterates lazily over a plan with millions of slices', () => {
    const plan = planSlices(100 * 1024 ** 3, 64 * KiB);
    expect(plan.count).toBe(1_638_400);
    const iterator = plannedSlices(plan);
    expect(iterator.next().value).toEqual({
      index: 0,
      range: { start: 0, end: 65_535 },
      emit: { start: 0, end: 65_535 },
    });
    expect(iterator.next().value?.range).toEqual({ start: 65_536, end: 131_071 });
  });
});
