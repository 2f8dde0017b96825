import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type PlannedSlice,
  plannedSlice,
  plannedSlices,
  planSlices,
  sliceCount,
  sliceIndexAt,
  sliceRange,
} from '../../src/core/plan.js';
import type { ByteRange } from '../../src/core/range.js';

const MAX = Number.MAX_SAFE_INTEGER;
const RUNS = { numRuns: 1000 };
const RANGE_HEADER = /^bytes=(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/;

/** A small object, a slice size and an optional range (end may run past the object). */
const smallCase = fc
  .record({ size: fc.integer({ min: 1, max: 300 }), sliceSize: fc.integer({ min: 1, max: 70 }) })
  .chain(({ size, sliceSize }) =>
    fc.record({
      size: fc.constant(size),
      sliceSize: fc.constant(sliceSize),
      range: fc.option(
        fc
          .integer({ min: 0, max: size - 1 })
          .chain((start) =>
            fc.record({ start: fc.constant(start), end: fc.integer({ min: start, max: size + 80 }) }),
          ),
        { nil: undefined },
      ),
    }),
  );

/** Any safe object size, a slice size that is small, huge or near the size, and a range anywhere in it. */
const largeCase = fc
  .integer({ min: 1, max: MAX })
  .chain((size) =>
    fc.record({
      size: fc.constant(size),
      sliceSize: fc.oneof(
        fc.integer({ min: 1, max: 1 << 26 }),
        fc.integer({ min: 1, max: MAX }),
        fc.integer({ min: Math.max(1, size - 3), max: Math.min(MAX, size + 3) }),
      ),
      start: fc.integer({ min: 0, max: size - 1 }),
      endOffset: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: MAX })),
    }),
  )
  .map(({ size, sliceSize, start, endOffset }) => ({
    size,
    sliceSize,
    range: { start, end: Math.min(MAX, start + endOffset) },
  }));

function header(range: ByteRange): string {
  return `bytes=${range.start}-${range.end}`;
}

/** P6: aligned to the slice size, ends at min(start + sliceSize − 1, size − 1), well-formed as a header. */
function expectAligned(slice: PlannedSlice, size: number, sliceSize: number): void {
  const { start, end } = slice.range;
  expect(start % sliceSize).toBe(0);
  expect(start).toBe(slice.index * sliceSize);
  expect(BigInt(end)).toBe(minBig(start, sliceSize, size));
  expect(end).toBeGreaterThanOrEqual(start);
  expect(end).toBeLessThan(size);
  const match = RANGE_HEADER.exec(header(slice.range));
  expect(match).not.toBeNull();
  expect(Number(match?.[1])).toBe(start);
  expect(Number(match?.[2])).toBe(end);
  expect(slice.emit.start).toBeGreaterThanOrEqual(0);
  expect(slice.emit.end).toBeGreaterThanOrEqual(slice.emit.start);
  expect(slice.emit.end).toBeLessThanOrEqual(end - start);
}

function minBig(start: number, sliceSize: number, size: number): bigint {
  const a = BigInt(start) + BigInt(sliceSize) - 1n;
  const b = BigInt(size) - 1n;
  return a < b ? a : b;
}

describe('slice planning properties', () => {
  it('P4/P5: the emitted parts of the planned slices tile the interval with no gap and no overlap', () => {
    fc.assert(
      fc.property(smallCase, ({ size, sliceSize, range }) => {
        const plan = planSlices(size, sliceSize, range);
        const wanted = { start: range?.start ?? 0, end: Math.min(range?.end ?? size - 1, size - 1) };
        expect(plan.range).toEqual(wanted);
        let next = wanted.start;
        let previousEnd = -1;
        let count = 0;
        for (const slice of plannedSlices(plan)) {
          count++;
          // P5: slice ranges follow each other with no overlap (and, inside the plan, no gap).
          if (previousEnd >= 0) expect(slice.range.start).toBe(previousEnd + 1);
          previousEnd = slice.range.end;
          // P4: each emitted part starts right where the previous one ended.
          expect(slice.range.start + slice.emit.start).toBe(next);
          next = slice.range.start + slice.emit.end + 1;
        }
        expect(next).toBe(wanted.end + 1);
        expect(count).toBe(plan.count);
      }),
      RUNS,
    );
  });

  it('P4/P5: the slices of a whole object cover 0 … size − 1 exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 600 }), (size, sliceSize) => {
        const covered = new Uint8Array(size);
        const plan = planSlices(size, sliceSize);
        expect(plan.count).toBe(sliceCount(size, sliceSize));
        for (const slice of plannedSlices(plan)) {
          expect(slice.emit).toEqual({ start: 0, end: slice.range.end - slice.range.start });
          for (let byte = slice.range.start; byte <= slice.range.end; byte++) covered[byte]!++;
        }
        expect(covered.every((times) => times === 1)).toBe(true);
      }),
      RUNS,
    );
  });

  it('P6: every sub-request range is aligned, well-formed and formats as a valid bytes= header', () => {
    fc.assert(
      fc.property(smallCase, ({ size, sliceSize, range }) => {
        for (const slice of plannedSlices(planSlices(size, sliceSize, range)))
          expectAligned(slice, size, sliceSize);
      }),
      RUNS,
    );
  });

  it('P18: a client range plans exactly the slices that intersect it, and the emitted bytes add up to its length', () => {
    fc.assert(
      fc.property(smallCase, ({ size, sliceSize, range }) => {
        const plan = planSlices(size, sliceSize, range);
        const start = range?.start ?? 0;
        const end = Math.min(range?.end ?? size - 1, size - 1);
        const intersecting: number[] = [];
        for (let index = 0; index < sliceCount(size, sliceSize); index++) {
          const full = sliceRange(index, size, sliceSize);
          if (full.start <= end && full.end >= start) intersecting.push(index);
        }
        const planned = [...plannedSlices(plan)];
        expect(planned.map((slice) => slice.index)).toEqual(intersecting);
        const emitted = planned.reduce((sum, slice) => sum + slice.emit.end - slice.emit.start + 1, 0);
        expect(emitted).toBe(end - start + 1);
      }),
      RUNS,
    );
  });

  it('P18: plans for objects up to 2^53 − 1 match exact BigInt arithmetic', () => {
    fc.assert(
      fc.property(largeCase, ({ size, sliceSize, range }) => {
        const plan = planSlices(size, sliceSize, range);
        const S = BigInt(size);
        const B = BigInt(sliceSize);
        const start = BigInt(range.start);
        const end = BigInt(range.end) < S - 1n ? BigInt(range.end) : S - 1n;
        const first = start / B;
        const last = end / B;
        expect(BigInt(plan.firstIndex)).toBe(first);
        expect(BigInt(plan.lastIndex)).toBe(last);
        expect(BigInt(plan.count)).toBe(last - first + 1n);
        expect(BigInt(plan.skipStart)).toBe(start - first * B);
        const lastEnd = last * B + B - 1n < S - 1n ? last * B + B - 1n : S - 1n;
        expect(BigInt(plan.skipEnd)).toBe(lastEnd - end);
        expect(BigInt(sliceCount(size, sliceSize))).toBe((S - 1n) / B + 1n);
        expect(BigInt(sliceIndexAt(range.start, sliceSize))).toBe(first);

        // Check the ends of the plan and their neighbours without walking millions of slices.
        const probes = new Set([plan.firstIndex, plan.firstIndex + 1, plan.lastIndex - 1, plan.lastIndex]);
        const emitLength = (slice: PlannedSlice) => BigInt(slice.emit.end - slice.emit.start + 1);
        for (const index of probes) {
          if (index < plan.firstIndex || index > plan.lastIndex) continue;
          const slice = plannedSlice(plan, index);
          expectAligned(slice, size, sliceSize);
          expect(BigInt(slice.range.start)).toBe(BigInt(index) * B);
          if (index > plan.firstIndex) {
            expect(sliceRange(index - 1, size, sliceSize).end + 1).toBe(slice.range.start);
          }
        }
        const firstSlice = plannedSlice(plan, plan.firstIndex);
        const lastSlice = plannedSlice(plan, plan.lastIndex);
        expect(BigInt(firstSlice.range.start + firstSlice.emit.start)).toBe(start);
        expect(BigInt(lastSlice.range.start + lastSlice.emit.end)).toBe(end);
        const middle = BigInt(Math.max(0, plan.count - 2)) * B;
        const total =
          plan.count === 1 ? emitLength(firstSlice) : emitLength(firstSlice) + middle + emitLength(lastSlice);
        expect(total).toBe(end - start + 1n);
      }),
      RUNS,
    );
  });

  it('P18: a zero-length object always plans zero slices', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX }),
        fc.option(
          fc.nat().map((start) => ({ start, end: start + 1 })),
          { nil: undefined },
        ),
        (sliceSize, range) => {
          const plan = planSlices(0, sliceSize, range);
          expect(plan.count).toBe(0);
          expect(plan.range).toBeUndefined();
          expect([...plannedSlices(plan)]).toHaveLength(0);
        },
      ),
      RUNS,
    );
  });

  it('rejects every range whose start is past its end or past the object', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX }),
        fc.integer({ min: 1, max: MAX }),
        fc.nat(),
        (size, sliceSize, extra) => {
          expect(() => planSlices(size, sliceSize, { start: Math.min(MAX, size + extra), end: MAX })).toThrow(
            expect.objectContaining({ code: 'ERR_SLICE_RANGE' }),
          );
          if (size > 1) {
            expect(() => planSlices(size, sliceSize, { start: 1, end: 0 })).toThrow(
              expect.objectContaining({ code: 'ERR_SLICE_RANGE' }),
            );
          }
        },
      ),
      RUNS,
    );
  });
});
