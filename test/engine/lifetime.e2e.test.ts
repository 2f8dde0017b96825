/**
 * A proxy runs for months: a request must leave nothing behind on what outlives it. The structural check for the
 * leak `AbortSignal.any([perRequest, longLived])` causes on Node 20 (every call registers a dependant on the
 * long-lived signal, never removed): thousands of requests of every kind — hits, misses, HEADs, 416s, origin
 * errors, aborts mid-body — under one long-lived caller signal leave no listener and no dependant on it.
 */
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, makeFetcher, quiescent } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await closeFetchers();
  await origin.close();
});

const SLICE = 64 * KiB;
const REQUESTS = 3000;

/** What `AbortSignal.any()` registers on a source signal (an internal set of Node's; absent when never used). */
function dependants(signal: AbortSignal): number {
  const symbol = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set =
    symbol === undefined ? undefined : (signal as unknown as Record<symbol, { size?: number }>)[symbol];
  return set?.size ?? 0;
}

describe('what outlives a request', () => {
  it(`keeps nothing per request on a long-lived caller signal over ${REQUESTS} requests of every kind`, async () => {
    origin.setObject('/lifetime/a.bin', { size: 8 * SLICE });
    origin.setObject('/lifetime/b.bin', { size: 3 * SLICE + 5 });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 3 });
    const shutdown = new AbortController(); // a server's lifetime signal, handed to every request
    const kinds = [
      (signal: AbortSignal) =>
        fetcher.fetch(origin.url('/lifetime/a.bin'), { signal, range: 'bytes=10-4000' }),
      (signal: AbortSignal) => fetcher.fetch(origin.url('/lifetime/b.bin'), { signal }),
      (signal: AbortSignal) => fetcher.fetch(origin.url('/lifetime/a.bin'), { signal, method: 'HEAD' }),
      (signal: AbortSignal) =>
        fetcher.fetch(origin.url('/lifetime/a.bin'), { signal, range: 'bytes=999999-' }),
      (signal: AbortSignal) => fetcher.fetch(origin.url('/lifetime/missing.bin'), { signal }),
    ];
    for (let at = 0; at < REQUESTS; at += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const n = at + i;
          const res = await (kinds[n % kinds.length] as (s: AbortSignal) => Promise<Response>)(
            shutdown.signal,
          );
          // Every seventh request leaves after its first chunk.
          if (n % 7 === 0 && res.body !== null) await res.body.cancel();
          else await drain(res);
        }),
      );
    }
    const stats = await quiescent(fetcher);
    expect(stats.requests).toBe(REQUESTS);
    expect(stats.activeRequests).toBe(0);
    expect(stats.bufferedBytes).toBe(0);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    expect(dependants(shutdown.signal)).toBe(0);
  }, 60_000);
});
