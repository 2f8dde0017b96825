/**
 * Purges across a fleet (R16, R22, P27): fetchers with stores of their own on one Redis or one cache directory
 * stand for processes on several machines or one host. A purge through any of them moves the object to a new
 * generation, so no fetcher — the purger, another one once the notice reached it, or one started afterwards —
 * serves bytes of the purged generation again, whatever `maxmemory` eviction did to the store's bookkeeping.
 * The origin keeps the validators across versions (same size, same Last-Modified, no ETag): only the purge can
 * tell the versions apart, and the metadata stays fresh for an hour, so only the notice can reach a fetcher
 * that holds it in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import type { CacheStorage, Metrics } from '../../src/ports.js';
import { fsStorage } from '../../src/storage/fs.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { redisStorage } from '../../src/storage/redis.js';
import { tieredStorage } from '../../src/storage/tiered.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { closeFetchers, KiB, makeFetcher } from './e2e-helpers.js';
import {
  expectRangesOfVersion,
  FIXED_VALIDATORS as FIXED,
  readThrough as read,
  servesVersion,
} from './purge-helpers.js';

const SLICE = 64 * KiB;

let origin: TestOrigin;
let redis: TestRedisServer;
let raw: ReturnType<typeof createClient>;
const stores: CacheStorage[] = [];
const dirs: string[] = [];
let prefixes = 0;

beforeAll(async () => {
  origin = await startOrigin();
  // Far less memory than one object's slices: eviction takes index sets, slices and metadata alike.
  redis = await startRedisServer({ args: ['--maxmemory', '3mb', '--maxmemory-policy', 'allkeys-lru'] });
  raw = createClient({ url: redis.url });
  await raw.connect();
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await raw.close();
  await redis.dispose();
  await origin.close();
});

function kept<T extends CacheStorage>(store: T): T {
  stores.push(store);
  return store;
}

function fetcherOn(cache: CacheStorage, hooks: Metrics = {}): InternalSliceFetcher {
  return makeFetcher({ cache, sliceSize: SLICE, concurrency: 4, hooks });
}

/** Resolves once `count` connections listen on the purge channel of `prefix` (subscribing is asynchronous). */
async function listening(prefix: string, count: number): Promise<void> {
  const channel = `${prefix}#purge`;
  await expect
    .poll(async () => Number((await raw.pubSubNumSub(channel))[channel]), { timeout: 5000 })
    .toBe(count);
}

describe('a purge under Redis memory pressure (regression: eviction of the index set left old slices servable)', () => {
  it('leaves nothing of the purged generation servable by any fetcher on the Redis', async () => {
    const path = '/fleet/pressure.bin';
    const size = 40 * SLICE; // 2.5 MiB of slices on a Redis of 3 MiB, on top of its own needs
    origin.setObject(path, { size, seed: 1, ...FIXED });
    const url = origin.url(path);
    const prefix = `pressure${++prefixes}:`;
    const [one, two] = [1, 2].map(() => fetcherOn(kept(redisStorage({ url: redis.url, prefix }))));
    await listening(prefix, 2);
    for (const fetcher of [one, two, one, two])
      expect(
        (await read(fetcher as InternalSliceFetcher, url)).bytes.equals(contentBytes(1, 0, size - 1)),
      ).toBe(true);
    expect(Number((await raw.info('stats')).match(/evicted_keys:(\d+)/)?.[1])).toBeGreaterThan(0);
    origin.setObject(path, { size, seed: 2, ...FIXED });
    await (one as InternalSliceFetcher).purge(url);
    expect((await read(one as InternalSliceFetcher, url)).bytes.equals(contentBytes(2, 0, size - 1))).toBe(
      true,
    );
    await servesVersion(two as InternalSliceFetcher, url, 2, size);
    // A fetcher started after the purge, and ranges through every fetcher: the new version only.
    const later = fetcherOn(kept(redisStorage({ url: redis.url, prefix })));
    await expectRangesOfVersion([one, two, later] as InternalSliceFetcher[], url, 2, size, SLICE);
  });
});

describe('tiered memory + Redis on two fetchers', () => {
  it('promotes what the other fetcher stored into the memory tier, and drops it there on a purge through the other', async () => {
    const path = '/fleet/tiered.bin';
    const size = 6 * SLICE;
    origin.setObject(path, { size, seed: 3, ...FIXED });
    const url = origin.url(path);
    const prefix = `tiered${++prefixes}:`;
    const fronts = [memoryStorage(), memoryStorage()];
    let stored = 0; // slices the first fetcher's writes landed (they complete after its response)
    const [one, two] = fronts.map((front, n) =>
      fetcherOn(
        kept(tieredStorage([front, redisStorage({ url: redis.url, prefix })])),
        n === 0 ? { onCacheStore: () => void stored++ } : {},
      ),
    ) as [InternalSliceFetcher, InternalSliceFetcher];
    await listening(prefix, 2);
    expect((await read(one, url)).status).toBe('MISS');
    await expect.poll(() => stored).toBe(6);
    // The second fetcher reads the slices the first stored in Redis — and keeps them in its memory tier.
    expect(await read(two, url)).toMatchObject({ status: 'HIT' });
    expect((await fronts[1]?.stats())?.entries).toBeGreaterThanOrEqual(6);
    origin.setObject(path, { size, seed: 4, ...FIXED });
    expect(await one.purge(url)).toBeGreaterThan(0);
    await servesVersion(two, url, 4, size);
    const again = await read(two, url);
    expect(again.bytes.equals(contentBytes(4, 0, size - 1))).toBe(true);
  });
});

describe('fetchers sharing one cache directory', () => {
  it('serve nothing old after a purge through another, or through one that never cached the object, or after a restart', async () => {
    const path = '/fleet/disk.bin';
    const size = 5 * SLICE;
    const dir = tempDir();
    origin.setObject(path, { size, seed: 5, ...FIXED });
    const url = origin.url(path);
    const [one, two] = [fetcherOn(kept(fsStorage({ dir }))), fetcherOn(kept(fsStorage({ dir })))];
    for (const fetcher of [one, two])
      expect((await read(fetcher, url)).bytes.equals(contentBytes(5, 0, size - 1))).toBe(true);
    origin.setObject(path, { size, seed: 6, ...FIXED });
    // A process that never read the object still finds its files: the purge answers 200, not 404.
    const bystander = fetcherOn(kept(fsStorage({ dir })));
    expect(await bystander.purge(url)).toBeGreaterThan(0);
    await servesVersion(one, url, 6, size);
    await servesVersion(two, url, 6, size);
    const restarted = fetcherOn(kept(fsStorage({ dir })));
    expect((await read(restarted, url)).bytes.equals(contentBytes(6, 0, size - 1))).toBe(true);
  });

  it('revalidates a stale version only in the current generation, so a lost notice costs no old bytes', async () => {
    const path = '/fleet/deaf.bin';
    const size = 3 * SLICE;
    const dir = tempDir();
    // Stale at once: every request revalidates, and the origin's unchanged Last-Modified would renew the old one.
    const always = { ...FIXED, cacheControl: 'max-age=0' };
    origin.setObject(path, { size, seed: 7, ...always });
    const url = origin.url(path);
    const one = fetcherOn(kept(fsStorage({ dir })));
    const deaf = fetcherOn(deafTo(kept(fsStorage({ dir })))); // never hears of a purge made elsewhere
    for (const fetcher of [one, deaf])
      expect((await read(fetcher, url)).bytes.equals(contentBytes(7, 0, size - 1))).toBe(true);
    origin.setObject(path, { size, seed: 8, ...always });
    await one.purge(url);
    expect((await read(deaf, url)).bytes.equals(contentBytes(8, 0, size - 1))).toBe(true);
  });

  it('serves nothing of a purged generation, through any fetcher, once the purge reached it (P27)', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('read' as const),
        who: fc.nat({ max: 1 }),
        first: fc.nat({ max: 4 * SLICE - 1 }),
      }),
      fc.record({ kind: fc.constant('purge' as const), who: fc.nat({ max: 1 }), first: fc.constant(0) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
        const path = `/fleet/p27-${run++}.bin`;
        const size = 4 * SLICE;
        let seed = 1000 + run * 10;
        origin.setObject(path, { size, seed, ...FIXED });
        const url = origin.url(path);
        const dir = tempDir();
        const fetchers = [fetcherOn(kept(fsStorage({ dir }))), fetcherOn(kept(fsStorage({ dir })))];
        for (const { kind, who, first } of ops) {
          const fetcher = fetchers[who] as InternalSliceFetcher;
          if (kind === 'read') {
            const { bytes } = await read(fetcher, url, `bytes=${first}-`);
            expect(bytes.equals(contentBytes(seed, first, size - 1))).toBe(true);
            continue;
          }
          origin.setObject(path, { size, seed: ++seed, ...FIXED });
          await fetcher.purge(url);
          // The purger at once; the other once the notice is in; a process started now at once.
          expect((await read(fetcher, url)).bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
          await servesVersion(fetchers[1 - who] as InternalSliceFetcher, url, seed, size);
          const fresh = fetcherOn(kept(fsStorage({ dir })));
          expect((await read(fresh, url)).bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
        }
      }),
      { numRuns: 8 },
    );
  });
});

/** The store as a process that misses every purge notice sees it (its methods bound: they use private fields). */
function deafTo(store: CacheStorage): CacheStorage {
  return new Proxy(store, {
    get(target, name) {
      if (name === 'onPurge') return undefined;
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-fleet-'));
  dirs.push(dir);
  return dir;
}
