/**
 * Coalescing across processes (R12, R16): two fetchers — two "processes", each with its own Redis store
 * on one real `redis-server` — claim each slice's fill in Redis, so concurrent cold requests split across
 * both fetch every slice from the origin once; the second serves what the first cached without the origin;
 * and a Redis killed mid-download changes nothing the client gets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CacheStorage } from '../../src/ports.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { activeResources, closeFetchers, drain, KiB, leakedResources, makeFetcher } from './e2e-helpers.js';

const SLICE = 64 * KiB;

let origin: TestOrigin;
let redis: TestRedisServer;
let prefixes = 0;
const stores: RedisStorage[] = [];

beforeAll(async () => {
  [origin, redis] = await Promise.all([startOrigin(), startRedisServer()]);
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  origin.configure({ throttleBytesPerSecond: 0 });
  origin.resetStats();
});
afterAll(async () => {
  await Promise.all([origin.close(), redis.dispose()]);
});

/** Two fetchers, each with its own Redis store on one shared namespace (a fresh one per test). */
function twoProcesses(): [ReturnType<typeof makeFetcher>, ReturnType<typeof makeFetcher>] {
  const prefix = `dc${++prefixes}:`;
  const make = () => {
    // `scan`: the tests count this namespace's entries exactly (`INFO` would count the whole database).
    const cache = redisStorage({ url: redis.url, prefix, statsSource: 'scan' });
    stores.push(cache);
    return makeFetcher({ cache, sliceSize: SLICE, concurrency: 4 });
  };
  return [make(), make()];
}

describe('fill claims in the Redis store', () => {
  it('grants a claim to one store at a time, releases only its own, and never counts claims as entries', async () => {
    const prefix = `dc${++prefixes}:`;
    const [a, b] = [
      redisStorage({ url: redis.url, prefix, statsSource: 'scan' }),
      redisStorage({ url: redis.url, prefix }),
    ];
    stores.push(a, b);
    const key = `${'ab'.repeat(16)}.slice-7`;
    expect(await a.lock(key, 60_000)).toBe(true);
    expect(await b.lock(key, 60_000)).toBe(false);
    expect(await a.lock(key, 60_000)).toBe(false); // not re-entrant: one fill per process is the engine's job
    await b.unlock(key); // not b's claim: it stays
    expect(await b.lock(key, 60_000)).toBe(false);
    expect(await a.stats()).toMatchObject({ bytes: 0, entries: 0 });
    await a.unlock(key);
    expect(await b.lock(key, 60_000)).toBe(true);
  });
});

describe('coalescing across fetchers sharing one Redis', () => {
  it('fetches every slice of an object from the origin once when 20 cold requests are split across two fetchers', async () => {
    const { seed } = origin.setObject('/shared.bin', { size: 16 * SLICE });
    const fetchers = twoProcesses();
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const fetcher = fetchers[i % 2] as (typeof fetchers)[0];
        return drain(await fetcher.fetch(origin.url('/shared.bin')));
      }),
    );
    const expected = contentBytes(seed, 0, 16 * SLICE - 1);
    for (const { bytes, error } of bodies) {
      expect(error).toBeUndefined();
      expect(bytes.equals(expected)).toBe(true);
    }
    const counts = origin.rangeCounts('/shared.bin');
    // The reference slice too: the fetcher that claims the object learns it, the other waits for its metadata.
    expect([...counts.keys()].sort()).toEqual(
      Array.from({ length: 16 }, (_, i) => `${i * SLICE}-${(i + 1) * SLICE - 1}`).sort(),
    );
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  it('serves from the second fetcher an object the first cached, with no origin request', async () => {
    const { seed } = origin.setObject('/warm.bin', { size: 5 * SLICE + 123 });
    const [first, second] = twoProcesses();
    const cold = await drain(await first.fetch(origin.url('/warm.bin')));
    expect(cold.error).toBeUndefined();
    // The cache writes are held off the response path: wait until the six slices and the metadata landed.
    const store = stores[0] as RedisStorage;
    await vi.waitFor(async () => expect((await store.stats()).entries).toBe(7));
    origin.resetStats();
    const res = await second.fetch(origin.url('/warm.bin'));
    const warm = await drain(res);
    expect(warm.error).toBeUndefined();
    expect(warm.bytes.equals(contentBytes(seed, 0, 5 * SLICE + 122))).toBe(true);
    expect(origin.stats.requests).toBe(0);
  });
});

/**
 * A Redis store on which every slice is claimed by some other process that never fills it; `onPoll` sees
 * each read of a refused slice (a waiter polling for the other process's value).
 */
function claimedElsewhere(onPoll: () => void = () => {}): CacheStorage {
  const inner = redisStorage({ url: redis.url, prefix: `dc${++prefixes}:` });
  stores.push(inner);
  const refused = new Set<string>();
  let learning = true;
  return {
    ...inner,
    async get(key, range) {
      const value = await inner.get(key, range);
      if (refused.has(key)) onPoll();
      return value;
    },
    // Slices are claimed by "another process"; the object itself — the first claim, on its metadata key, whose
    // shape names the purge generation — is free to learn here.
    lock: (key) => {
      if (learning) {
        learning = false;
        return true;
      }
      refused.add(key);
      return false;
    },
    unlock: () => {},
  };
}

describe('waiting on a claim another process holds', () => {
  it('fetches the slices itself once the coalescing wait is over', async () => {
    const size = 4 * SLICE;
    const { seed } = origin.setObject('/orphan.bin', { size });
    const fetcher = makeFetcher({
      cache: claimedElsewhere(),
      sliceSize: SLICE,
      concurrency: 4,
      timeouts: { coalesceMs: 100 },
    });
    const { bytes, error } = await drain(await fetcher.fetch(origin.url('/orphan.bin')));
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect([...origin.rangeCounts('/orphan.bin').values()]).toEqual([1, 1, 1, 1]);
  });

  it('leaves no timer behind when the request aborts while it waits', async () => {
    origin.setObject('/waiting.bin', { size: 4 * SLICE });
    let polled: () => void = () => {};
    const waiting = new Promise<void>((resolve) => {
      polled = resolve;
    });
    const cache = claimedElsewhere(() => polled());
    await cache.stats(); // connected before the snapshot
    const before = activeResources();
    const fetcher = makeFetcher({
      cache,
      sliceSize: SLICE,
      concurrency: 4,
      timeouts: { coalesceMs: 60_000 },
    });
    const controller = new AbortController();
    const res = await fetcher.fetch(origin.url('/waiting.bin'), { signal: controller.signal });
    const body = drain(res);
    await waiting;
    // One turn later the waiter, having missed, sleeps in its back-off: abort right in it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    controller.abort();
    const { error } = await body;
    expect(error).toBeDefined();
    await fetcher.close();
    await origin.waitForIdle();
    expect(await leakedResources(before)).toEqual([]);
    // Only the reference slice reached the origin: the others were waiting on the other process.
    expect([...origin.rangeCounts('/waiting.bin').keys()]).toEqual([`0-${SLICE - 1}`]);
  });
});

describe('a Redis that dies mid-download', () => {
  it('completes the download byte-exact, and the next request works once Redis is back on its port', async () => {
    const size = 24 * SLICE;
    const { seed } = origin.setObject('/killed.bin', { size });
    const [fetcher] = twoProcesses();
    origin.configure({ throttleBytesPerSecond: 4 * 1024 * 1024 });
    const res = await fetcher.fetch(origin.url('/killed.bin'));
    const body = drain(res);
    await origin.waitFor((stats) => stats.bytesSent >= 4 * SLICE);
    await redis.kill();
    const { bytes, error } = await body;
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);

    await redis.start();
    origin.configure({ throttleBytesPerSecond: 0 });
    const again = await drain(await fetcher.fetch(origin.url('/killed.bin')));
    expect(again.error).toBeUndefined();
    expect(again.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });
});
