/**
 * Slices read from the origin straight into recycled memory (engine/read-into.ts, `Transport.requestInto`): a
 * reader that gives its pieces back and a slice the store will not keep. The danger is memory reused while
 * someone still holds it, so every released piece is "poisoned" at once — as if the next slice had already been
 * read into it — and the bytes every reader kept are compared. The origin faults of faults.e2e.test.ts must be
 * retried or fail the body exactly as on the stream path.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Chunks } from '../../src/core/chunks.js';
import {
  type InternalOpenInit,
  type InternalSliceFetcher,
  openSymbol,
} from '../../src/engine/fetcher-types.js';
import { memoryStorage } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, KiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await closeFetchers();
  origin.clearFaults();
});
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;
const POISON = 0xee;
/** The size of the engine's pooled buffers (a slice and a disk header, engine/fetcher.ts): memory it lent. */
const POOLED = SLICE + 64 * KiB;

/** What a recycling reader kept: a copy of each piece, the pooled memory under them, and the failure if any. */
interface Recycled {
  readonly bytes: Buffer;
  readonly memory: Set<ArrayBufferLike>;
  readonly error?: unknown;
}

/**
 * Reads `url` as the Node handler does — `recycle`, each piece given back once used — and overwrites the pooled
 * memory it gives back, as if the next slice had been read into it already. Other memory (a store's, a reference
 * slice's socket chunks) may be shared with other readers and is left alone.
 */
async function readRecycling(
  fetcher: InternalSliceFetcher,
  url: string,
  init: InternalOpenInit = {},
): Promise<Recycled> {
  const result = await fetcher[openSymbol](url, { ...init, recycle: true });
  const copies: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  try {
    for await (const piece of (result.body ?? []) as AsyncIterable<Chunks>) {
      for (const chunk of piece) copies.push(Buffer.from(chunk));
      const pooled = piece.filter((chunk) => chunk.buffer.byteLength === POOLED);
      for (const chunk of pooled) memory.add(chunk.buffer);
      result.release?.(piece);
      for (const chunk of pooled) new Uint8Array(chunk.buffer).fill(POISON);
    }
    return { bytes: Buffer.concat(copies), memory };
  } catch (error) {
    return { bytes: Buffer.concat(copies), memory, error };
  }
}

describe('slices read into recycled memory', () => {
  it('reads exact bytes into a few reused buffers when nothing is stored', async () => {
    const path = '/into/plain.bin';
    const size = 40 * SLICE + 123;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4, cache: false });
    const read = await readRecycling(fetcher, origin.url(path));
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    // 40 slices after the reference, each read into pooled memory that comes back: far fewer distinct buffers.
    expect(read.memory.size).toBeGreaterThan(0);
    expect(read.memory.size).toBeLessThan(20);
    const again = await readRecycling(fetcher, origin.url(path), {
      headers: { range: 'bytes=100000-1000000' },
    });
    expect(again.bytes.equals(contentBytes(seed, 100_000, 1_000_000))).toBe(true);
  });

  it('reads into recycled memory a response larger than the store, and never lends a slice the store keeps', async () => {
    const big = '/into/big.bin';
    const small = '/into/small.bin';
    const bigSeed = origin.setObject(big, { size: 24 * SLICE }).seed;
    const smallSeed = origin.setObject(small, { size: 6 * SLICE }).seed;
    const fetcher = makeFetcher({
      sliceSize: SLICE,
      concurrency: 4,
      cache: memoryStorage({ maxBytes: 8 * SLICE }),
    });
    const first = await readRecycling(fetcher, origin.url(big));
    expect(first.bytes.equals(contentBytes(bigSeed, 0, 24 * SLICE - 1))).toBe(true);
    expect(first.memory.size).toBeGreaterThan(0);
    expect(first.memory.size).toBeLessThan(16);
    // Stored slices are the store's: poisoning what the reader gave back must not reach the next read's hits.
    const stored = await readRecycling(fetcher, origin.url(small));
    expect(stored.bytes.equals(contentBytes(smallSeed, 0, 6 * SLICE - 1))).toBe(true);
    expect(stored.memory.size).toBe(0);
    const hit = await readRecycling(fetcher, origin.url(small));
    expect(hit.bytes.equals(contentBytes(smallSeed, 0, 6 * SLICE - 1))).toBe(true);
  });

  it('gives a reader that joins a fill read into lent memory a copy of its own', async () => {
    const path = '/into/joined.bin';
    const size = 12 * SLICE;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4, cache: false });
    const reads = await Promise.all(
      Array.from({ length: 4 }, () => readRecycling(fetcher, origin.url(path))),
    );
    for (const read of reads) expect(read.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });

  it('retries truncated, reset, lying and refused slices, and serves exact bytes', async () => {
    const path = '/into/faults.bin';
    const size = 8 * SLICE;
    const { seed } = origin.setObject(path, { size });
    const at = (index: number) => (r: { range?: { start: number } }) => r.range?.start === index * SLICE;
    origin.addFault({ path, match: at(2), fault: { type: 'truncate', afterBytes: 1000 } });
    origin.addFault({ path, match: at(3), fault: { type: 'reset', afterBytes: 5000 } });
    origin.addFault({ path, match: at(4), fault: { type: 'content-range', start: 0 } });
    origin.addFault({ path, match: at(5), fault: { type: 'status', status: 503, retryAfter: '0' } });
    origin.addFault({ path, match: at(6), fault: { type: 'no-length' } });
    const fetcher = makeFetcher({
      sliceSize: SLICE,
      concurrency: 4,
      cache: false,
      retry: { retries: 2, baseDelayMs: 0 },
    });
    const read = await readRecycling(fetcher, origin.url(path));
    expect(read.error).toBeUndefined();
    expect(read.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    const counts = origin.rangeCounts(path);
    for (const index of [2, 3, 4, 5, 6])
      expect(counts.get(`${index * SLICE}-${(index + 1) * SLICE - 1}`)).toBe(2);
    expect(fetcher.stats()).toMatchObject({ retries: 5 });
  });

  it('fails the body, after exact bytes only, when the object changes mid-read', async () => {
    const path = '/into/changed.bin';
    const size = 8 * SLICE;
    const { seed } = origin.setObject(path, { size });
    origin.addFault({ path, match: (r) => r.range?.start === 5 * SLICE, fault: { type: 'change-object' } });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2, cache: false });
    const read = await readRecycling(fetcher, origin.url(path));
    expect(read.error).toMatchObject({ code: 'ERR_SLICE_VERSION_CHANGED' });
    expect(read.bytes.length).toBeLessThan(size);
    expect(read.bytes.equals(contentBytes(seed, 0, read.bytes.length - 1))).toBe(true);
  });

  it('stops every sub-request when the reader is aborted mid-body, and the next read is exact', async () => {
    const path = '/into/aborted.bin';
    const size = 64 * SLICE;
    const { seed } = origin.setObject(path, { size });
    origin.configure({ throttleBytesPerSecond: 4 * 1024 * 1024 });
    try {
      const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 4, cache: false });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const read = await readRecycling(fetcher, origin.url(path), { signal: controller.signal });
      expect(read.error).toMatchObject({ code: 'ERR_SLICE_ABORTED' });
      expect(read.bytes.equals(contentBytes(seed, 0, read.bytes.length - 1))).toBe(true);
      origin.configure({ throttleBytesPerSecond: 0 });
      const next = await readRecycling(fetcher, origin.url(path));
      expect(next.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    } finally {
      origin.configure({ throttleBytesPerSecond: 0 });
    }
  });
});
