/**
 * The answer from memory (design.md "Small-range fast path"): a warm request within one slice, with fresh
 * metadata in memory and the slice in the memory store, is answered with the store's own chunks and none of
 * the general machinery — and it is the same answer as the general path's: status, headers, bytes,
 * `x-slice-cache`, hooks and outcome.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openSymbol } from '../../src/engine/fetcher-types.js';
import { type CacheStorage, type Metrics, memoryStorage } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(closeFetchers);
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;

/** Every hook call, as a count per hook and outcome. */
function recorder(): { hooks: Metrics; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  return {
    calls,
    hooks: {
      onCacheHit: () => count('hit'),
      onCacheMiss: () => count('miss'),
      onBytes: (e) => count(`bytes ${e.source} ${e.bytes}`),
      onRequestEnd: (e) => count(`end ${e.status} ${e.outcome} ${e.bytes}`),
    },
  };
}

/** The memory store as a store elsewhere would be: the general path reads it. */
function notInProcess(): CacheStorage {
  return { ...memoryStorage(), inProcess: false, checksummed: true };
}

describe('the answer from memory', () => {
  it('answers a warm range within one slice with the store’s chunks, no stream to read', async () => {
    const path = '/memory/direct.bin';
    const size = 4 * SLICE;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    await drain(await fetcher.fetch(origin.url(path)));
    origin.resetStats();
    const result = await fetcher[openSymbol](origin.url(path), {
      range: `bytes=${SLICE + 10}-${SLICE + 4105}`,
    });
    expect(result.pieces).toBeDefined();
    expect(
      Buffer.concat(result.pieces?.flat() ?? []).equals(contentBytes(seed, SLICE + 10, SLICE + 4105)),
    ).toBe(true);
    expect(result.cacheStatus).toBe('HIT');
    expect(origin.stats.requests).toBe(0);
    // A range across two slices is left to the general path.
    const across = await fetcher[openSymbol](origin.url(path), {
      range: `bytes=${SLICE - 10}-${SLICE + 10}`,
    });
    expect(across.pieces).toBeUndefined();
    across.body?.destroy();
  });

  it('gives the same status, headers, bytes, cache status and hooks as the general path', async () => {
    const scenario = fc.record({
      size: fc.integer({ min: 0, max: 6 * SLICE }),
      first: fc.nat(),
      length: fc.nat({ max: 2 * SLICE }),
      kind: fc.constantFrom(
        'range',
        'whole',
        'head',
        'suffix',
        'past-end',
        'if-none-match',
        'if-match-other',
      ),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ size, first, length, kind }) => {
        const path = `/memory/same-${run++}.bin`;
        const { seed, etag } = origin.setObject(path, { size });
        const start = size === 0 ? 0 : first % size;
        const init: { range?: string; method?: 'HEAD'; headers?: Record<string, string> } = {};
        if (kind === 'range') init.range = `bytes=${start}-${start + length}`;
        if (kind === 'suffix') init.range = `bytes=-${length + 1}`;
        if (kind === 'past-end') init.range = `bytes=${size + first}-`;
        if (kind === 'head') init.method = 'HEAD';
        if (kind === 'if-none-match') init.headers = { 'if-none-match': etag as string };
        if (kind === 'if-match-other') init.headers = { 'if-match': '"other"' };
        const answers = [];
        for (const cache of [undefined, notInProcess()]) {
          const { hooks, calls } = recorder();
          const fetcher = makeFetcher({ sliceSize: SLICE, hooks, ...(cache === undefined ? {} : { cache }) });
          await drain(await fetcher.fetch(origin.url(path)));
          calls.clear();
          const res = await fetcher.fetch(origin.url(path), init);
          const { bytes, error } = await drain(res);
          expect(error).toBeUndefined();
          const headers: Record<string, string> = {};
          res.headers.forEach((value, name) => {
            headers[name] = value;
          });
          answers.push({
            status: res.status,
            headers,
            bytes,
            calls: Object.fromEntries(calls),
          });
          await fetcher.close();
        }
        const [fast, general] = answers as [(typeof answers)[0], (typeof answers)[0]];
        expect(fast).toEqual(general);
        if (fast.status === 206 && kind === 'range')
          expect(fast.bytes.equals(contentBytes(seed, start, Math.min(start + length, size - 1)))).toBe(true);
      }),
      { numRuns: 80 },
    );
  });
});
