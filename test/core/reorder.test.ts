import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { ReorderBuffer } from '../../src/core/reorder.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isSliceFetchError(error) ? error.code : 'not a SliceFetchError';
  }
  return undefined;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const lengthOf = (item: Uint8Array) => item.length;

describe('ReorderBuffer', () => {
  it('holds an early item until the items before it have left', () => {
    const buffer = new ReorderBuffer({ firstIndex: 0, lastIndex: 2, windowBytes: 100 }, lengthOf);
    const [a, b, c] = [bytes('aa'), bytes('bbb'), bytes('c')];
    buffer.push(1, b);
    expect(buffer.shift()).toBeUndefined();
    expect(buffer).toMatchObject({ nextIndex: 0, bytesHeld: 3, size: 1, done: false });
    buffer.push(0, a);
    expect(buffer.shift()).toBe(a);
    expect(buffer.shift()).toBe(b);
    expect(buffer.shift()).toBeUndefined();
    buffer.push(2, c);
    expect(buffer.shift()).toBe(c);
    expect(buffer).toMatchObject({ nextIndex: 3, bytesHeld: 0, size: 0, done: true });
  });

  it('starts at firstIndex and is done at once for an empty run', () => {
    const buffer = new ReorderBuffer({ firstIndex: 7, lastIndex: 8, windowBytes: 10 }, lengthOf);
    expect(buffer.nextIndex).toBe(7);
    expect(() => buffer.push(6, bytes('x'))).toThrow(expect.objectContaining({ code: 'ERR_SLICE_WINDOW' }));
    expect(new ReorderBuffer({ firstIndex: 3, lastIndex: 2, windowBytes: 0 }, lengthOf).done).toBe(true);
  });

  it('says whether more bytes fit in the window', () => {
    const buffer = new ReorderBuffer({ firstIndex: 0, lastIndex: 5, windowBytes: 10 }, lengthOf);
    buffer.push(2, bytes('123456'));
    expect(buffer.canAccept(4)).toBe(true);
    expect(buffer.canAccept(5)).toBe(false);
  });

  it('throws ERR_SLICE_WINDOW and keeps its state when an item would exceed the window', () => {
    const buffer = new ReorderBuffer({ firstIndex: 0, lastIndex: 5, windowBytes: 10 }, lengthOf);
    buffer.push(1, bytes('123456'));
    expect(codeOf(() => buffer.push(0, bytes('12345')))).toBe('ERR_SLICE_WINDOW');
    expect(buffer).toMatchObject({ bytesHeld: 6, size: 1 });
    buffer.push(0, bytes('1234'));
    expect(buffer.bytesHeld).toBe(10);
  });

  it('rejects an index already left, past lastIndex, not an integer, or already held', () => {
    const buffer = new ReorderBuffer({ firstIndex: 0, lastIndex: 3, windowBytes: 100 }, lengthOf);
    buffer.push(0, bytes('a'));
    buffer.shift();
    expect(codeOf(() => buffer.push(0, bytes('a')))).toBe('ERR_SLICE_WINDOW');
    expect(codeOf(() => buffer.push(4, bytes('a')))).toBe('ERR_SLICE_WINDOW');
    expect(codeOf(() => buffer.push(1.5, bytes('a')))).toBe('ERR_SLICE_WINDOW');
    buffer.push(2, bytes('a'));
    expect(codeOf(() => buffer.push(2, bytes('b')))).toBe('ERR_SLICE_WINDOW');
    expect(buffer).toMatchObject({ size: 1, bytesHeld: 1 });
  });

  it('rejects an item whose size is negative or not a number', () => {
    const buffer = new ReorderBuffer<number>({ firstIndex: 0, lastIndex: 3, windowBytes: 100 }, (n) => n);
    expect(codeOf(() => buffer.push(0, -1))).toBe('ERR_SLICE_WINDOW');
    expect(codeOf(() => buffer.push(0, Number.NaN))).toBe('ERR_SLICE_WINDOW');
    expect(buffer.size).toBe(0);
  });

  it('measures each item once, so a later change to the item cannot skew bytesHeld', () => {
    let calls = 0;
    const item = { length: 4 };
    const buffer = new ReorderBuffer<{ length: number }>(
      { firstIndex: 0, lastIndex: 0, windowBytes: 10 },
      (x) => {
        calls++;
        return x.length;
      },
    );
    buffer.push(0, item);
    item.length = 9;
    buffer.shift();
    expect(calls).toBe(1);
    expect(buffer.bytesHeld).toBe(0);
  });

  it('clears on abort, returning the held items in index order and refusing later pushes', () => {
    const buffer = new ReorderBuffer({ firstIndex: 0, lastIndex: 5, windowBytes: 100 }, lengthOf);
    const [c, b] = [bytes('c'), bytes('b')];
    buffer.push(3, c);
    buffer.push(1, b);
    expect(buffer.clear()).toEqual([b, c]);
    expect(buffer).toMatchObject({ size: 0, bytesHeld: 0, done: false });
    expect(buffer.shift()).toBeUndefined();
    expect(codeOf(() => buffer.push(0, bytes('a')))).toBe('ERR_SLICE_ABORTED');
    expect(buffer.clear()).toEqual([]);
  });

  it('rejects invalid options with ERR_SLICE_CONFIG', () => {
    expect(codeOf(() => new ReorderBuffer({ firstIndex: -1, lastIndex: 0, windowBytes: 1 }, lengthOf))).toBe(
      'ERR_SLICE_CONFIG',
    );
    expect(codeOf(() => new ReorderBuffer({ firstIndex: 5, lastIndex: 3, windowBytes: 1 }, lengthOf))).toBe(
      'ERR_SLICE_CONFIG',
    );
    expect(codeOf(() => new ReorderBuffer({ firstIndex: 0, lastIndex: 3, windowBytes: 0.5 }, lengthOf))).toBe(
      'ERR_SLICE_CONFIG',
    );
  });
});

describe('ReorderBuffer.drop', () => {
  it('gives back every held item in order and takes the same indexes again', () => {
    const buffer = new ReorderBuffer<string>(
      { firstIndex: 0, lastIndex: 3, windowBytes: 10 },
      (s) => s.length,
    );
    buffer.push(2, 'cc');
    buffer.push(0, 'a');
    expect(buffer.drop()).toEqual(['a', 'cc']);
    expect(buffer.bytesHeld).toBe(0);
    expect(buffer.shift()).toBeUndefined();
    buffer.push(0, 'a');
    expect(buffer.shift()).toBe('a');
    expect(buffer.done).toBe(false);
  });
});
