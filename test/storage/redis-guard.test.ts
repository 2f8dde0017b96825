/**
 * What a failing Redis costs (R7, R22), against real `redis-server` processes: a hung one (SIGSTOP) opens the
 * circuit breaker after a few timeouts, so a many-slice cold download makes a bounded number of them, and
 * the breaker probes and closes once Redis answers again; a full one (`maxmemory` + `noeviction`) refuses
 * writes and claims, and requests still succeed — fetched uncoordinated, logged once, never a cache error.
 * Every count is read from the store's stats, never from the clock.
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryStorage, tieredStorage } from '../../src/index.js';
import { prometheusMetrics } from '../../src/metrics/prometheus.js';
import type { Logger } from '../../src/ports.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import { closeFetchers, drain, KiB, makeFetcher } from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const SLICE = 64 * KiB;
const CONCURRENCY = 4;

let origin: TestOrigin;
const stores: RedisStorage[] = [];

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  origin.resetStats();
});
afterAll(async () => {
  await origin?.close();
});

/** A logger that keeps what it is told. */
function recorder(): Logger & { readonly lines: { level: string; message: string | undefined }[] } {
  const lines: { level: string; message: string | undefined }[] = [];
  const at =
    (level: string) =>
    (_object: Record<string, unknown>, message?: string): void => {
      lines.push({ level, message });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function track(store: RedisStorage): RedisStorage {
  stores.push(store);
  return store;
}

describe('the circuit breaker, with a hung Redis (SIGSTOP)', () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('makes a bounded number of cache timeouts over a many-slice cold download, then asks Redis nothing', async () => {
    const logger = recorder();
    const store = track(
      redisStorage({
        url: redis.url,
        timeoutMs: 200,
        breakerFailures: 3,
        breakerCooldownMs: 600_000,
        logger,
      }),
    );
    await store.stats(); // connected
    const slices = 48;
    const { seed } = origin.setObject('/hung.bin', { size: slices * SLICE });
    const fetcher = makeFetcher({ cache: store, sliceSize: SLICE, concurrency: CONCURRENCY });
    redis.pause();
    try {
      const { bytes, error } = await drain(await fetcher.fetch(origin.url('/hung.bin')));
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seed, 0, slices * SLICE - 1))).toBe(true);
      const stats = await store.stats(); // open: answered from the last sample, without asking Redis
      expect(stats.breaker).toBe('open');
      expect(stats.breakerOpened).toBe(1);
      // The calls in flight when the breaker opened time out; nothing after. Each slice makes at least three
      // store calls (read, claim, write): without the breaker that would be ≥ 144 timeouts.
      expect(stats.timeouts).toBeGreaterThanOrEqual(3);
      expect(stats.timeouts).toBeLessThanOrEqual(3 + 3 * CONCURRENCY);
      expect(stats.shortCircuited).toBeGreaterThan(2 * slices);
      expect(logger.lines.filter((line) => line.level === 'warn')).toHaveLength(1);
      // And /metrics says so, for the store alone and as a tier of another (2 = open).
      for (const cache of [store, tieredStorage([memoryStorage(), store])]) {
        const { registry } = prometheusMetrics({ cache });
        expect(
          (await (await registry.getSingleMetric('slice_fetch_cache_breaker_state')?.get())?.values[0])
            ?.value,
        ).toBe(2);
      }
    } finally {
      redis.resume();
    }
  });

  it('probes after the cooldown and closes once Redis answers, then serves from it again', async () => {
    const logger = recorder();
    const store = track(
      redisStorage({ url: redis.url, timeoutMs: 200, breakerFailures: 2, breakerCooldownMs: 100, logger }),
    );
    const key = `${'cd'.repeat(16)}.slice`;
    const meta = {
      kind: 'slice' as const,
      objectKey: 'http://example.com/probe.bin',
      validator: 'etag:"v1"',
      range: { start: 0, end: 2 },
      size: 3,
      expiresAt: Date.now() + 60_000,
    };
    await store.set(key, [Buffer.from('abc')], meta);
    redis.pause();
    try {
      await Promise.all([store.get(key), store.get(key)].map((p) => p.catch(() => undefined)));
      expect((await store.stats()).breaker).toBe('open');
      expect(await store.get(key)).toBeUndefined(); // a miss at once, not a timeout
    } finally {
      redis.resume();
    }
    // The probe goes out once the cooldown has passed: poll until a read is answered by Redis again.
    await vi.waitFor(async () => expect(Buffer.concat((await store.get(key)) ?? []).toString()).toBe('abc'), {
      timeout: 10_000,
      interval: 20,
    });
    const stats = await store.stats();
    expect(stats.breaker).toBe('closed');
    expect(logger.lines.map((line) => line.level)).toEqual(['warn', 'info']);
  });
});

describe('a full Redis (maxmemory + noeviction)', () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer({ args: ['--maxmemory', '1mb', '--maxmemory-policy', 'noeviction'] });
    // Fill it to the brim, so every write and every claim is refused with OOM.
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      for (let i = 0; ; i++) await client.set(`filler:${i}`, Buffer.alloc(16 * KiB));
    } catch (error) {
      expect(String(error)).toMatch(/OOM/);
    } finally {
      client.destroy();
    }
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('serves every request byte-exact, uncoordinated, with no cache error, and logs the refusal once', async () => {
    const size = 8 * SLICE;
    const { seed } = origin.setObject('/full.bin', { size });
    const loggers = [recorder(), recorder()];
    const cacheErrors: string[] = [];
    const fetchers = loggers.map((logger) =>
      makeFetcher({
        cache: track(redisStorage({ url: redis.url, prefix: 'full:', logger })),
        sliceSize: SLICE,
        concurrency: CONCURRENCY,
        hooks: { onCacheError: (event) => cacheErrors.push(`${event.operation}: ${String(event.error)}`) },
      }),
    );
    const bodies = await Promise.all(
      Array.from({ length: 6 }, async (_, i) =>
        drain(await (fetchers[i % 2] as (typeof fetchers)[0]).fetch(origin.url('/full.bin'))),
      ),
    );
    for (const { bytes, error } of bodies) {
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    }
    // Writes (slices, metadata), claims and purge generations (read instead of created) degrade quietly.
    expect(cacheErrors).toEqual([]);
    for (const [i, logger] of loggers.entries()) {
      const stats = await (stores[i] as RedisStorage).stats();
      expect(stats.refusals).toBeGreaterThan(0);
      expect(stats.breaker).toBe('closed'); // a refusal is an answer, not a failure
      expect(logger.lines.filter((line) => /refuses writes/.test(line.message ?? ''))).toHaveLength(1);
    }
    // Every slice came from the origin (nothing could be stored), each at least once.
    expect(origin.rangeCounts('/full.bin').size).toBe(8);
  });
});
