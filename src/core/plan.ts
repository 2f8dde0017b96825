/**
 * Slice planning (R4): which aligned slices cover a byte interval, and which bytes of the first and last
 * slice are trimmed before they are sent. A plan is a handful of numbers — O(1) whatever the object size
 * (a 100 GB object in 64 KiB slices has 1.6 million slices) — and slices are produced lazily from it.
 *
 * Slices are aligned to multiples of the slice size from byte 0 whatever range the client asked for, so
 * every client range reuses the same cached slices; the last slice ends at size − 1. All arithmetic is exact
 * for integers up to 2^53 − 1: see {@link sliceIndexAt} for why the division is, and sums that could pass
 * 2^53 are never formed.
 *
 * @module
 */
import { SliceFetchError } from './errors.js';
import type { ByteRange } from './range.js';

/** The slices that cover one byte interval of an object, and how much of the first and last to trim. */
export interface SlicePlan {
  /** The object's total size in bytes. */
  readonly size: number;
  /** The slice size in bytes. */
  readonly sliceSize: number;
  /** The requested interval clamped into `[0, size − 1]`; `undefined` when there is nothing to send (size 0). */
  readonly range: ByteRange | undefined;
  /** Index of the first slice (0 when `count` is 0). */
  readonly firstIndex: number;
  /** Index of the last slice (−1 when `count` is 0). */
  readonly lastIndex: number;
  /** Number of slices; 0 means no slice at all (and no sub-request). */
  readonly count: number;
  /** Bytes to drop from the start of the first slice. */
  readonly skipStart: number;
  /** Bytes to drop from the end of the last slice. */
  readonly skipEnd: number;
}

/** One slice of a plan: its full aligned range, and the part of it to emit. */
export interface PlannedSlice {
  /** The slice index. */
  readonly index: number;
  /** The slice's full aligned byte range within the object (what the sub-request asks for). */
  readonly range: ByteRange;
  /** The bytes to emit, relative to the slice's first byte, inclusive. */
  readonly emit: ByteRange;
}

/**
 * Plans the slices for `range` of an object (default: the whole object). The range's end is clamped to
 * size − 1 (RFC 9110 §14.1.1: a last-pos past the end means "to the end"); a 0-byte object gets an empty
 * plan, so no `bytes=0-…` is ever sent to it.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` when a number is not a non-negative safe integer, `sliceSize`
 * is below 1, `range.start > range.end`, or `range.start >= size` on a non-empty object.
 * @example
 * ```ts
 * const plan = planSlices(10_000, 4096, { start: 5000, end: 9000 });
 * // { firstIndex: 1, lastIndex: 2, count: 2, skipStart: 904, skipEnd: 999, range: { start: 5000, end: 9000 }, … }
 * ```
 */
export function planSlices(size: number, sliceSize: number, range?: ByteRange): SlicePlan {
  checkInteger('size', size, 0);
  checkInteger('sliceSize', sliceSize, 1);
  if (range !== undefined) {
    checkInteger('range.start', range.start, 0);
    checkInteger('range.end', range.end, 0);
    if (range.start > range.end) {
      throw rangeError(
        `Expected \`range.start\` to be at most \`range.end\`, got \`${range.start}-${range.end}\`.`,
      );
    }
  }
  if (size === 0) {
    return {
      size,
      sliceSize,
      range: undefined,
      firstIndex: 0,
      lastIndex: -1,
      count: 0,
      skipStart: 0,
      skipEnd: 0,
    };
  }
  const start = range === undefined ? 0 : range.start;
  if (start >= size) {
    throw rangeError(`Expected \`range.start\` to be below the object size ${size}, got \`${start}\`.`);
  }
  const end = range === undefined || range.end > size - 1 ? size - 1 : range.end;
  const firstIndex = floorDiv(start, sliceSize);
  const lastIndex = floorDiv(end, sliceSize);
  return {
    size,
    sliceSize,
    range: { start, end },
    firstIndex,
    lastIndex,
    count: lastIndex - firstIndex + 1,
    skipStart: start - firstIndex * sliceSize,
    skipEnd: sliceEnd(lastIndex * sliceSize, size, sliceSize) - end,
  };
}

/**
 * The number of slices of an object of `size` bytes (0 for an empty object).
 *
 * @example
 * ```ts
 * sliceCount(10_000, 4096); // 3
 * ```
 */
export function sliceCount(size: number, sliceSize: number): number {
  return size === 0 ? 0 : floorDiv(size - 1, sliceSize) + 1;
}

/**
 * The index of the slice holding byte `offset`. `Math.floor(offset / sliceSize)` is exact for safe integers:
 * a non-integer quotient q = a / b lies at least 1/b below the next integer, while its rounding error is at
 * most q × 2^−53 < 2^53 / b × 2^−53 = 1/b, so rounding can never reach that integer. (Tests check it
 * against BigInt division.)
 *
 * @example
 * ```ts
 * sliceIndexAt(4096, 4096); // 1
 * ```
 */
export function sliceIndexAt(offset: number, sliceSize: number): number {
  return floorDiv(offset, sliceSize);
}

/**
 * The full aligned byte range of slice `index`: `[index × sliceSize, min(start + sliceSize − 1, size − 1)]`.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` when `index` is not a slice of the object.
 * @example
 * ```ts
 * sliceRange(2, 10_000, 4096); // { start: 8192, end: 9999 }
 * ```
 */
export function sliceRange(index: number, size: number, sliceSize: number): ByteRange {
  if (!Number.isSafeInteger(index) || index < 0 || index >= sliceCount(size, sliceSize)) {
    throw rangeError(
      `Expected slice \`index\` to be an integer between 0 and ${sliceCount(size, sliceSize) - 1}, got \`${index}\`.`,
    );
  }
  const start = index * sliceSize;
  return { start, end: sliceEnd(start, size, sliceSize) };
}

/**
 * Slice `index` of `plan`: its full range, and the part to emit — trimmed by `skipStart` on the first slice
 * and by `skipEnd` on the last.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` when `index` is outside `[plan.firstIndex, plan.lastIndex]`.
 * @example
 * ```ts
 * const plan = planSlices(10_000, 4096, { start: 5000, end: 9000 });
 * plannedSlice(plan, 1); // { index: 1, range: { start: 4096, end: 8191 }, emit: { start: 904, end: 4095 } }
 * ```
 */
export function plannedSlice(plan: SlicePlan, index: number): PlannedSlice {
  if (!Number.isSafeInteger(index) || index < plan.firstIndex || index > plan.lastIndex) {
    throw rangeError(
      `Expected slice \`index\` to be an integer between ${plan.firstIndex} and ${plan.lastIndex}, got \`${index}\`.`,
    );
  }
  const start = index * plan.sliceSize;
  const end = sliceEnd(start, plan.size, plan.sliceSize);
  const emitStart = index === plan.firstIndex ? plan.skipStart : 0;
  const emitEnd = end - start - (index === plan.lastIndex ? plan.skipEnd : 0);
  return { index, range: { start, end }, emit: { start: emitStart, end: emitEnd } };
}

/**
 * The slices of `plan` in order, produced lazily (nothing is held per slice).
 *
 * @example
 * ```ts
 * for (const slice of plannedSlices(planSlices(10_000, 4096))) console.log(`bytes=${slice.range.start}-${slice.range.end}`);
 * ```
 */
export function* plannedSlices(plan: SlicePlan): IterableIterator<PlannedSlice> {
  for (let index = plan.firstIndex; index <= plan.lastIndex; index++) yield plannedSlice(plan, index);
}

// ---- module-private helpers ------------------------------------------------------------------------------

/** ⌊a / b⌋ for non-negative safe integers, exact (see {@link sliceIndexAt}). */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Last byte of the slice starting at `start`, computed without ever exceeding 2^53 − 1. */
function sliceEnd(start: number, size: number, sliceSize: number): number {
  return sliceSize > size - 1 - start ? size - 1 : start + sliceSize - 1;
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw rangeError(`Expected \`${name}\` to be an integer between ${min} and 2^53 - 1, got \`${value}\`.`);
  }
}

function rangeError(message: string): SliceFetchError {
  return new SliceFetchError('ERR_SLICE_RANGE', message);
}
