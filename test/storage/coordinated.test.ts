/**
 * The coordinated store (R22): Redis coordinates (locks, metadata, purge generations), each node keeps the
 * slice bytes on its own disk. Real redis-server, real disk directories, real sockets. Fetchers with stores of
 * their own stand for nodes of a fleet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import { isSliceFetchError } from '../../src/index.js';
import type { CacheStorage } from '../../src/ports.js';
import { coordinatedStorage } from '../../src/storage/coordinated.js';
import { fsStorage } from '../../src/storage/fs.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { redisStorage } from '../../src/storage/redis.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';
import { closeFetchers, KiB, makeFetcher } from '../engine/e2e-helpers.js';
import { FIXED_VALIDATORS as FIXED, readThrough as read } from '../engine/purge-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const SLICE = 64 * KiB;

let redis: TestRedisServer;
let origin: TestOrigin;
let raw: ReturnType<typeof createClient>;
let prefixes = 0;
const dirs: string[] = [];
const stores: CacheStorage[] = [];

beforeAll(async () => {
  [redis, origin] = await Promise.all([startRedisServer(), startOrigin()]);
  raw = createClient({ url: redis.url });
  await raw.connect();
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  origin.resetStats();
});
afterAll(async () => {
  await raw.close();
  await Promise.all([redis.dispose(), origin.close()]);
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slice-coordinated-'));
  dirs.push(dir);
  return dir;
}

/** One node: its own disk, the shared Redis under `prefix`. */
function node(prefix: string): CacheStorage {
  const store = coordinatedStorage({
    coordinator: redisStorage({ url: redis.url, prefix }),
    bytes: fsStorage({ dir: tempDir() }),
  });
  stores.push(store);
  return store;
}

/** Calls per command since the last `CONFIG RESETSTAT` (`INFO commandstats`). */
async function commandCalls(): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const [, name, n] of (await raw.info('commandstats')).matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g))
    calls[name as string] = Number(n);
  return calls;
}

/** Total commands Redis has processed (`INFO stats`). */
async function commandsProcessed(): Promise<number> {
  return Number((await raw.info('stats')).match(/total_commands_processed:(\d+)/)?.[1]);
}

runCacheStorageConformance('coordinatedStorage (disk bytes, Redis coordinating)', ({ maxBytes, now }) => {
  const dir = mkdtempSync(join(tmpdir(), 'slice-coordinated-'));
  return {
    store: coordinatedStorage({
      coordinator: redisStorage({ url: redis.url, prefix: `conf${++prefixes}:`, now, statsSource: 'scan' }),
      bytes: fsStorage({ dir, maxBytes, now }),
    }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('coordinatedStorage', () => {
  it('refuses a coordinator that cannot lock or keep generations, and bytes that are not a store', () => {
    const bad = [
      () => coordinatedStorage({ coordinator: memoryStorage(), bytes: memoryStorage() }),
      () => coordinatedStorage({ coordinator: {} as CacheStorage, bytes: memoryStorage() }),
      () =>
        coordinatedStorage({
          coordinator: redisStorage({ url: redis.url, prefix: 'refused:' }),
          bytes: {} as CacheStorage,
        }),
      () => coordinatedStorage({ bytes: memoryStorage() } as never),
    ];
    for (const make of bad) {
      let caught: unknown;
      try {
        make();
      } catch (error) {
        caught = error;
      }
      expect(isSliceFetchError(caught) && caught.code).toBe('ERR_SLICE_CONFIG');
    }
  });

  it('keeps slice bytes on the node and only metadata, generations and locks in Redis: a few commands per slice', async () => {
    const path = '/coordinated/cold.bin';
    const slices = 32;
    const { seed } = origin.setObject(path, { size: slices * SLICE });
    const prefix = `bytes${++prefixes}:`;
    const fetcher = makeFetcher({ cache: node(prefix), sliceSize: SLICE, concurrency: 4 });
    await raw.configResetStat();
    const before = await commandsProcessed();
    expect(
      (await read(fetcher, origin.url(path))).bytes.equals(contentBytes(seed, 0, slices * SLICE - 1)),
    ).toBe(true);
    await fetcher.close();
    const commands = (await commandsProcessed()) - before - 1; // the INFO above is counted
    const calls = await commandCalls();
    // Per slice, two round trips: the claim (`SET NX PX`) and its release (`EVAL` of a compare-and-delete,
    // whose own `GET` and `DEL` Redis counts as commands too); per object a few more (generation, metadata).
    expect(((calls.set ?? 0) + (calls.eval ?? 0)) / slices).toBeLessThanOrEqual(2.25);
    expect(commands / slices).toBeLessThanOrEqual(4.5);
    // Nothing in Redis is a slice: its largest value is the metadata document.
    let largest = 0;
    for await (const keys of raw.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 }))
      for (const key of keys) largest = Math.max(largest, Number(await raw.memoryUsage(key)));
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThan(SLICE / 8);
  });

  it('serves warm from the node’s own disk, and a purge through one node reaches the other’s disk copy', async () => {
    const path = '/coordinated/purge.bin';
    const size = 8 * SLICE + 123;
    origin.setObject(path, { size, seed: 1, ...FIXED });
    const url = origin.url(path);
    const prefix = `purge${++prefixes}:`;
    const [one, two] = [node(prefix), node(prefix)].map((cache) =>
      makeFetcher({ cache, sliceSize: SLICE, concurrency: 4 }),
    ) as [InternalSliceFetcher, InternalSliceFetcher];
    await expect
      .poll(async () => Number((await raw.pubSubNumSub(`${prefix}#purge`))[`${prefix}#purge`]), {
        timeout: 5000,
      })
      .toBe(2);
    for (const fetcher of [one, two]) {
      expect((await read(fetcher, url)).bytes.equals(contentBytes(1, 0, size - 1))).toBe(true);
      // Served from this node's disk once its writes landed (they finish after the body does).
      await expect.poll(async () => (await read(fetcher, url)).status, { timeout: 5000 }).toBe('HIT');
      expect((await read(fetcher, url)).bytes.equals(contentBytes(1, 0, size - 1))).toBe(true);
    }
    // A new version the validators cannot tell apart: only the purge can.
    origin.setObject(path, { size, seed: 2, ...FIXED });
    expect(await one.purge(url)).toBeGreaterThan(0);
    expect((await read(one, url)).bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
    // The other node still has the old bytes on its disk; the notice makes it forget them.
    await expect
      .poll(async () => (await read(two, url)).bytes.equals(contentBytes(2, 0, size - 1)), { timeout: 5000 })
      .toBe(true);
    // A node started after the purge never sees the old generation either.
    const later = makeFetcher({ cache: node(prefix), sliceSize: SLICE, concurrency: 4 });
    expect((await read(later, url)).bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
  });

  it('claims fills fleet-wide: two nodes filling one object at once never fetch a slice at the same time', async () => {
    const path = '/coordinated/together.bin';
    const slices = 16;
    const { seed } = origin.setObject(path, { size: slices * SLICE });
    const prefix = `together${++prefixes}:`;
    const [one, two] = [node(prefix), node(prefix)].map((cache) =>
      makeFetcher({ cache, sliceSize: SLICE, concurrency: 4 }),
    ) as [InternalSliceFetcher, InternalSliceFetcher];
    const bodies = await Promise.all([one, two].map((fetcher) => read(fetcher, origin.url(path))));
    for (const { bytes } of bodies)
      expect(bytes.equals(contentBytes(seed, 0, slices * SLICE - 1))).toBe(true);
    // Each node needs every slice on its own disk, so a slice may reach the origin twice — but one node after
    // the other (the second waited for the first one's claim), never both at once.
    for (const count of origin.rangeCounts(path).values()) expect(count).toBeLessThanOrEqual(2);
  });
});
