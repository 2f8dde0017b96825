import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plannedSlices, planSlices } from '../../src/core/plan.js';
import { ReorderBuffer } from '../../src/core/reorder.js';

const RUNS = { numRuns: 1000 };

interface Item {
  readonly index: number;
  readonly bytes: number;
}

/**
 * A run of items with sizes, a random arrival preference (a permutation), a look-ahead k, and a consumer
 * that drains only a random number of ready items after each arrival (a slow reader).
 */
const runCase = fc
  .record({
    firstIndex: fc.integer({ min: 0, max: 1_000_000 }),
    sizes: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 0, maxLength: 40 }),
    lookAhead: fc.integer({ min: 1, max: 8 }),
    slack: fc.integer({ min: 0, max: 200 }),
    seed: fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
  })
  .chain((base) =>
    fc.record({
      base: fc.constant(base),
      order: fc.shuffledSubarray(
        base.sizes.map((_, i) => i),
        { minLength: base.sizes.length, maxLength: base.sizes.length },
      ),
    }),
  );

/**
 * Pushes the first not-yet-pushed index in `order` that the scheduler admits: below nextIndex + k and
 * fitting the window. Returns undefined when nothing is admissible.
 */
function admit(
  order: number[],
  pushed: Set<number>,
  buffer: ReorderBuffer<Item>,
  firstIndex: number,
  sizes: number[],
  k: number,
) {
  for (const offset of order) {
    const index = firstIndex + offset;
    if (pushed.has(index) || index >= buffer.nextIndex + k) continue;
    if (!buffer.canAccept(sizes[offset]!)) continue;
    return index;
  }
  return undefined;
}

describe('reorder buffer properties', () => {
  it('P10/P23: any admitted arrival order leaves in index order, within the window', () => {
    fc.assert(
      fc.property(runCase, ({ base, order }) => {
        const { firstIndex, sizes, lookAhead, slack, seed } = base;
        const largest = Math.max(0, ...sizes);
        // The window fits any k items, as the engine's window fits its concurrency: the next index always enters.
        const windowBytes = lookAhead * largest + slack;
        const buffer = new ReorderBuffer<Item>(
          { firstIndex, lastIndex: firstIndex + sizes.length - 1, windowBytes },
          (item) => item.bytes,
        );
        const pushed = new Set<number>();
        const out: Item[] = [];
        let step = 0;
        while (!buffer.done) {
          // The next index always fits, so every round makes progress; this bound only turns a bug into a failure.
          expect(step).toBeLessThan(10_000);
          const index = admit(order, pushed, buffer, firstIndex, sizes, lookAhead);
          if (index !== undefined) {
            buffer.push(index, { index, bytes: sizes[index - firstIndex]! });
            pushed.add(index);
          }
          expect(buffer.bytesHeld).toBeLessThanOrEqual(windowBytes);
          // A slow consumer: drain a random number of ready items (all of them when nothing could be admitted).
          let drain = index === undefined ? Number.POSITIVE_INFINITY : seed[step % seed.length]! % 3;
          step++;
          while (drain-- > 0) {
            const item = buffer.shift();
            if (item === undefined) break;
            out.push(item);
          }
          const held = [...pushed].filter((i) => i >= buffer.nextIndex);
          expect(buffer.size).toBe(held.length);
          expect(buffer.bytesHeld).toBe(held.reduce((sum, i) => sum + sizes[i - firstIndex]!, 0));
        }
        expect(out.map((item) => item.index)).toEqual(sizes.map((_, i) => firstIndex + i));
        expect(buffer.bytesHeld).toBe(0);
        expect(buffer.size).toBe(0);
      }),
      RUNS,
    );
  });

  it('P10: bytes emitted through the buffer equal object[range] whatever the arrival order', () => {
    const objectCase = fc
      .record({
        object: fc.uint8Array({ minLength: 1, maxLength: 400 }),
        sliceSize: fc.integer({ min: 1, max: 64 }),
        a: fc.nat(),
        b: fc.nat(),
      })
      .chain(({ object, sliceSize, a, b }) => {
        const start = a % object.length;
        const end = start + (b % (object.length - start + 20));
        const plan = planSlices(object.length, sliceSize, { start, end });
        const indexes = [...plannedSlices(plan)].map((slice) => slice.index);
        return fc.record({
          object: fc.constant(object),
          plan: fc.constant(plan),
          order: fc.shuffledSubarray(indexes, { minLength: indexes.length, maxLength: indexes.length }),
        });
      });
    fc.assert(
      fc.property(objectCase, ({ object, plan, order }) => {
        const windowBytes = plan.count * plan.sliceSize;
        const buffer = new ReorderBuffer<Uint8Array>(
          { firstIndex: plan.firstIndex, lastIndex: plan.lastIndex, windowBytes },
          (slice) => slice.length,
        );
        const slices = new Map([...plannedSlices(plan)].map((slice) => [slice.index, slice]));
        const emitted: number[] = [];
        for (const index of order) {
          const slice = slices.get(index)!;
          buffer.push(index, object.slice(slice.range.start, slice.range.end + 1));
          for (let bytes = buffer.shift(); bytes !== undefined; bytes = buffer.shift()) {
            const emit = slices.get(buffer.nextIndex - 1)!.emit;
            emitted.push(...bytes.subarray(emit.start, emit.end + 1));
          }
        }
        const range = plan.range!;
        expect(buffer.done).toBe(true);
        expect(Uint8Array.from(emitted)).toEqual(object.slice(range.start, range.end + 1));
      }),
      RUNS,
    );
  });

  it('P23: pushing past the window throws ERR_SLICE_WINDOW and leaves the buffer unchanged', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 400 }),
        (sizes, windowBytes) => {
          const buffer = new ReorderBuffer<number>(
            { firstIndex: 0, lastIndex: sizes.length, windowBytes },
            (bytes) => bytes,
          );
          // Push out of order (index 0 last) so nothing can leave and the held bytes only grow.
          let held = 0;
          for (const [offset, bytes] of sizes.entries()) {
            const index = offset + 1;
            if (held + bytes <= windowBytes) {
              buffer.push(index, bytes);
              held += bytes;
            } else {
              expect(buffer.canAccept(bytes)).toBe(false);
              expect(() => buffer.push(index, bytes)).toThrow(
                expect.objectContaining({ code: 'ERR_SLICE_WINDOW' }),
              );
            }
            expect(buffer.bytesHeld).toBe(held);
            expect(buffer.bytesHeld).toBeLessThanOrEqual(windowBytes);
          }
        },
      ),
      RUNS,
    );
  });
});
