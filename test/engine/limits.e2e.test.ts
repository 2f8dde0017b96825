/**
 * Resource limits end to end: in-flight sub-requests stay within the per-request `concurrency` and the
 * per-origin `originConnections` (P7, measured at the origin), and memory stays within the window and the
 * global budget however large the object and however slow the consumer (P23, R6).
 */
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openSymbol } from '../../src/engine/fetcher-types.js';
import { contentBytes, fillContent } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, MiB, makeFetcher, makeGate } from './e2e-helpers.js';

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

const GiB = 1024 * MiB;

describe('in-flight sub-requests (P7)', () => {
  it('never has more than `concurrency` slices of one request in flight', async () => {
    const slice = 64 * KiB;
    for (const concurrency of [1, 3, 6]) {
      const path = `/p7/one-${concurrency}.bin`;
      const size = 20 * slice + 5;
      const { seed } = origin.setObject(path, { size });
      const gate = makeGate();
      origin.addFault({
        path,
        times: Infinity,
        match: (r) => (r.range?.start ?? 0) > 0,
        fault: { type: 'wait', until: gate.promise },
      });
      let clientPeak = 0;
      const fetcher = makeFetcher({
        sliceSize: slice,
        concurrency,
        originConnections: 16,
        hooks: {
          onSliceStart: () => {
            clientPeak = Math.max(clientPeak, fetcher.stats().inFlightSlices);
          },
        },
      });
      origin.resetStats();
      const res = await fetcher.fetch(origin.url(path));
      const body = drain(res);
      // Slice 0 is in hand; the window (slices 1…concurrency) is all held at the origin.
      await origin.waitFor((s) => s.inFlight === concurrency);
      gate.open();
      const { bytes, error } = await body;
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
      expect(origin.stats.maxInFlight).toBe(concurrency);
      expect(clientPeak).toBeLessThanOrEqual(concurrency);
      origin.clearFaults();
    }
  });

  it('never has more than `originConnections` sub-requests in flight across concurrent requests', async () => {
    const slice = 64 * KiB;
    const concurrency = 3;
    const originConnections = 5;
    const paths = ['/p7/many-a.bin', '/p7/many-b.bin', '/p7/many-c.bin', '/p7/many-d.bin'];
    const size = 12 * slice + 1;
    const seeds = paths.map((path) => origin.setObject(path, { size }).seed);
    const gate = makeGate();
    origin.addFault({ times: Infinity, fault: { type: 'wait', until: gate.promise } });
    const inFlight = new Map<string, number>();
    const peak = new Map<string, number>();
    const onRequest = (entry: { path: string }): void => {
      const now = (inFlight.get(entry.path) ?? 0) + 1;
      inFlight.set(entry.path, now);
      peak.set(entry.path, Math.max(peak.get(entry.path) ?? 0, now));
    };
    const onResponse = (entry: { path: string }): void => {
      inFlight.set(entry.path, (inFlight.get(entry.path) ?? 0) - 1);
    };
    origin.on('request', onRequest);
    origin.on('response', onResponse);
    try {
      const fetcher = makeFetcher({ sliceSize: slice, concurrency, originConnections });
      origin.resetStats();
      const bodies = paths.map(async (path) => drain(await fetcher.fetch(origin.url(path))));
      // The four references fill four of the five slots; the fifth goes to whichever request runs ahead.
      await origin.waitFor((s) => s.inFlight === 4);
      gate.open();
      const results = await Promise.all(bodies);
      results.forEach(({ bytes, error }, i) => {
        expect(error).toBeUndefined();
        expect(bytes.equals(contentBytes(seeds[i] as number, 0, size - 1))).toBe(true);
      });
      expect(origin.stats.maxInFlight).toBeLessThanOrEqual(originConnections);
      expect(origin.stats.maxInFlight).toBeGreaterThanOrEqual(4);
      for (const path of paths) expect(peak.get(path)).toBeLessThanOrEqual(concurrency);
    } finally {
      origin.off('request', onRequest);
      origin.off('response', onResponse);
    }
  });

  it('keeps the origin limit with many requests in flight at once, all released together', async () => {
    const slice = 64 * KiB;
    const originConnections = 4;
    const paths = Array.from({ length: 6 }, (_, i) => `/p7/burst-${i}.bin`);
    const size = 6 * slice;
    const seeds = paths.map((path) => origin.setObject(path, { size }).seed);
    const gate = makeGate();
    origin.addFault({ times: Infinity, fault: { type: 'wait', until: gate.promise } });
    const fetcher = makeFetcher({ sliceSize: slice, concurrency: 4, originConnections });
    origin.resetStats();
    const bodies = paths.map(async (path) => drain(await fetcher.fetch(origin.url(path))));
    await origin.waitFor((s) => s.inFlight === originConnections);
    gate.open();
    const results = await Promise.all(bodies);
    results.forEach(({ bytes, error }, i) => {
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seeds[i] as number, 0, size - 1))).toBe(true);
    });
    expect(origin.stats.maxInFlight).toBe(originConnections);
  });
});

/**
 * Reads a piece stream in paused mode, a few event-loop turns per piece (a consumer slower than loopback),
 * checking every byte against the object and calling `onPiece` after each piece.
 */
async function readSlowly(
  stream: Readable,
  seed: number,
  onPiece: (offset: number) => void,
  turns = 2,
): Promise<number> {
  let offset = 0;
  let ended = false;
  let failure: unknown;
  stream.once('end', () => {
    ended = true;
  });
  stream.once('error', (error) => {
    failure = error;
  });
  const scratch = Buffer.allocUnsafe(MiB);
  for (;;) {
    const piece = stream.read() as Uint8Array[] | null;
    if (piece !== null) {
      for (const chunk of piece) {
        for (let at = 0; at < chunk.byteLength; at += scratch.length) {
          const n = Math.min(scratch.length, chunk.byteLength - at);
          fillContent(seed, offset + at, scratch, 0, n);
          const got = Buffer.from(chunk.buffer, chunk.byteOffset + at, n);
          if (!got.equals(scratch.subarray(0, n))) throw new Error(`wrong bytes at offset ${offset + at}`);
        }
        offset += chunk.byteLength;
      }
      onPiece(offset);
      for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      continue;
    }
    if (failure !== undefined) throw failure;
    if (ended) return offset;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('error', done);
        resolve();
      };
      stream.once('readable', done);
      stream.once('end', done);
      stream.once('error', done);
    });
  }
}

describe('memory stays within the window and the budget (P23)', () => {
  for (const { sliceSize, concurrency, size } of [
    { sliceSize: MiB, concurrency: 8, size: GiB },
    { sliceSize: 64 * KiB, concurrency: 4, size: 128 * MiB + 12_345 },
  ]) {
    it(`streams ${size} bytes in ${sliceSize}-byte slices to a slow consumer within concurrency × sliceSize`, async () => {
      const path = `/p23/big-${sliceSize}.bin`;
      const { seed } = origin.setObject(path, { size });
      const fetcher = makeFetcher({ sliceSize, concurrency, cache: false });
      origin.resetStats();
      const result = await fetcher[openSymbol](origin.url(path));
      expect(result.status).toBe(200);
      const body = result.body as Readable;
      let worstLead = 0;
      const read = await readSlowly(body, seed, (offset) => {
        // Backpressure: the origin never gets more than a window ahead of what the consumer has taken.
        const consumedSlices = Math.ceil(offset / sliceSize);
        worstLead = Math.max(worstLead, (origin.stats.byPath.get(path) ?? 0) - consumedSlices);
      });
      expect(read).toBe(size);
      expect(worstLead).toBeLessThanOrEqual(concurrency + 2);
      const stats = fetcher.stats();
      expect(stats.peakWindowBytes).toBeGreaterThan(0);
      expect(stats.peakWindowBytes).toBeLessThanOrEqual(concurrency * sliceSize);
      expect(stats.peakBufferedBytes).toBeLessThanOrEqual(concurrency * sliceSize);
      expect(stats.peakBufferedBytes).toBeLessThanOrEqual(fetcher.config.maxBufferedBytes);
      expect(stats.bufferedBytes).toBe(0);
    });
  }

  it('shares the global budget between concurrent streams without exceeding maxBufferedBytes', async () => {
    const sliceSize = MiB;
    const size = 48 * MiB + 3;
    const maxBufferedBytes = 3 * MiB;
    const paths = ['/p23/shared-a.bin', '/p23/shared-b.bin', '/p23/shared-c.bin'];
    const seeds = paths.map((path) => origin.setObject(path, { size }).seed);
    const fetcher = makeFetcher({ sliceSize, concurrency: 8, maxBufferedBytes, cache: false });
    const reads = paths.map(async (path, i) => {
      const result = await fetcher[openSymbol](origin.url(path));
      return readSlowly(result.body as Readable, seeds[i] as number, () => {}, 1);
    });
    expect(await Promise.all(reads)).toEqual([size, size, size]);
    const stats = fetcher.stats();
    expect(stats.peakBufferedBytes).toBeLessThanOrEqual(maxBufferedBytes);
    expect(stats.peakBufferedBytes).toBeGreaterThan(0);
    expect(stats.bufferedBytes).toBe(0);
  });
});
