/**
 * The Redis store on a real Redis Cluster (R16, R22): three masters with a replica each, one cluster for the
 * whole file. A store reaches every master, from a `createCluster()` client or from `cluster.rootNodes`; its
 * stats come from `INFO` summed over the masters; two fetchers sharing the cluster fetch each slice once; and
 * a master killed mid-download costs the client nothing, and coordination resumes once its replica took over
 * — without waiting for a `MOVED`, which a dead node never sends.
 */
import { createClient, createCluster } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { normalizeObjectUrl, objectKeyPrefix, sliceKey } from '../../src/core/keys.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';
import { killAll, runCli } from '../cli/cli-helpers.js';
import { closeFetchers, drain, KiB, makeFetcher } from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';

const SLICE = 64 * KiB;

let cluster: TestRedisCluster;
let origin: TestOrigin;
let prefixes = 0;
const stores: RedisStorage[] = [];

beforeAll(async () => {
  [cluster, origin] = await Promise.all([startRedisCluster(), startOrigin()]);
}, 60_000);
afterEach(async () => {
  killAll();
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  origin.resetStats();
});
afterAll(async () => {
  await Promise.all([origin?.close(), cluster?.dispose()]);
});

/** A store on the cluster, on `prefix` (a fresh one by default), closed after the test. */
function store(prefix = `rc${++prefixes}:`, options: Parameters<typeof redisStorage>[0] = {}): RedisStorage {
  const created = redisStorage({ cluster: { rootNodes: cluster.urls.slice(0, 2) }, prefix, ...options });
  stores.push(created);
  return created;
}

function meta(objectKey: string): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey,
    validator: 'etag:"v1"',
    range: { start: 0, end: 9 },
    size: 10,
    expiresAt: Date.now() + 60_000,
  };
}

/** A key with the hash tag every Redis key of the object at `path` carries: its slot is theirs. */
function tagOf(path: string): string {
  return `{${objectKeyPrefix(normalizeObjectUrl(origin.url(path)))}}`;
}

/** A path under `base` whose object lives on `master` (about one in three paths do). */
async function pathOn(base: string, master: { readonly port: number }): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const path = `${base}-${i}.bin`;
    if ((await cluster.masterOf(tagOf(path))).port === master.port) return path;
  }
  throw new Error(`no path under ${base} lands on port ${master.port}`);
}

describe('redisStorage on a Redis Cluster', () => {
  it('stores and reads objects on every master, through a createCluster() client and through rootNodes', async () => {
    const client = createCluster({
      rootNodes: [{ url: cluster.urls[3] as string }],
      defaults: { disableOfflineQueue: true },
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const given = redisStorage({ client, prefix: 'given:' });
      const own = store('given:');
      const objects = Array.from({ length: 24 }, (_, i) => `http://example.com/spread-${i}.bin`);
      for (const [i, objectKey] of objects.entries()) {
        const key = sliceKey({ objectKey, validator: 'etag:"v1"', sliceSize: SLICE, index: 0 });
        await (i % 2 === 0 ? given : own).set(key, [Buffer.from(`bytes of ${i}`)], meta(objectKey));
        // Each store reads what the other wrote: they route every key to the same master.
        expect(Buffer.concat((await (i % 2 === 0 ? own : given).get(key)) ?? []).toString()).toBe(
          `bytes of ${i}`,
        );
      }
      const masters = new Set(
        await Promise.all(objects.map(async (o) => (await cluster.masterOf(`{${objectKeyPrefix(o)}}`)).port)),
      );
      expect(masters.size).toBe(3); // 24 objects over 3 masters: all of them were written to
      for (const objectKey of objects) expect(await given.purgeObject(objectKey)).toBe(1);
      await given.close();
      expect(client.isOpen).toBe(true); // a given client stays the caller's
    } finally {
      client.destroy();
    }
  });

  it('reports occupancy from INFO and DBSIZE summed over the three masters', async () => {
    const s = store();
    for (let i = 0; i < 12; i++) {
      const objectKey = `http://example.com/stats-${i}.bin`;
      const key = sliceKey({ objectKey, validator: 'etag:"v1"', sliceSize: SLICE, index: 0 });
      await s.set(key, [Buffer.alloc(10_000, i)], meta(objectKey));
    }
    const fresh = store(); // nothing sampled yet: its first stats() reads every master now
    const sum = { entries: 0 };
    const stats = await fresh.stats();
    // Every master's DBSIZE: a node answers for the slots it serves only, so sum over the three masters.
    for (const node of cluster.nodes) {
      if (!(await isMasterNode(node.url))) continue;
      const probe = redisStorage({ url: node.url, prefix: 'probe:' });
      try {
        sum.entries += (await probe.stats()).entries;
      } finally {
        await probe.close();
      }
    }
    expect(stats.entries).toBe(sum.entries);
    expect(stats.entries).toBeGreaterThanOrEqual(24); // 12 entries and 12 index sets at least
    expect(stats.bytes).toBeGreaterThan(120_000);
    expect(stats).toMatchObject({ breaker: 'closed', timeouts: 0 });
  });

  it('says once, when given one node of a cluster as `url`, that it answers MOVED and needs `cluster`', async () => {
    const warnings: (string | undefined)[] = [];
    const logger = {
      debug: () => {},
      info: () => {},
      warn: (_: Record<string, unknown>, message?: string) => warnings.push(message),
      error: () => {},
    };
    const single = redisStorage({ url: cluster.urls[0] as string, prefix: 'single:', logger });
    stores.push(single);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        single.get(`${objectKeyPrefix(`http://example.com/m-${i}`)}.slice-0`),
      ),
    );
    expect(results.some((result) => result.status === 'rejected')).toBe(true); // some slots live elsewhere
    expect(warnings.filter((message) => /MOVED/.test(message ?? ''))).toHaveLength(1);
  });

  it('pins the node-redis internal a failover heals through (the slot map re-read it runs on MOVED)', async () => {
    const client = createCluster({ rootNodes: [{ url: cluster.urls[0] as string }] });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const slots = (client as unknown as { _slots?: { rediscover?: unknown } })._slots;
      expect(typeof slots?.rediscover).toBe('function');
    } finally {
      client.destroy();
    }
  });

  it('fetches every slice of an object once from the origin when two fetchers share the cluster', async () => {
    const size = 12 * SLICE;
    const { seed } = origin.setObject('/cluster/shared.bin', { size });
    const prefix = `rc${++prefixes}:`;
    const fetchers = [0, 1].map(() =>
      makeFetcher({ cache: store(prefix), sliceSize: SLICE, concurrency: 4 }),
    );
    const bodies = await Promise.all(
      Array.from({ length: 10 }, async (_, i) =>
        drain(await (fetchers[i % 2] as (typeof fetchers)[0]).fetch(origin.url('/cluster/shared.bin'))),
      ),
    );
    const expected = contentBytes(seed, 0, size - 1);
    for (const { bytes, error } of bodies) {
      expect(error).toBeUndefined();
      expect(bytes.equals(expected)).toBe(true);
    }
    const counts = origin.rangeCounts('/cluster/shared.bin');
    expect(counts.size).toBe(12);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });

  it('serves through two slice-proxy processes given --redis-cluster, the second from what the first cached', async () => {
    const start = async (): Promise<string> => {
      const proxy = runCli('slice-proxy', [
        '--upstream',
        origin.url('/'),
        '--listen',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--slice-size',
        '64KiB',
        '--cache',
        'redis',
        '--redis-cluster',
        cluster.urls.slice(3).join(','),
      ]);
      return `http://${String((await proxy.waitForLog('listening')).listen)}`;
    };
    const [first, second] = await Promise.all([start(), start()]);
    const size = 6 * SLICE;
    const { seed } = origin.setObject('/cluster/proxied.bin', { size });
    const expected = contentBytes(seed, 0, size - 1);
    const body = async (base: string): Promise<Buffer> =>
      Buffer.from(await (await fetch(`${base}/cluster/proxied.bin`)).arrayBuffer());
    expect((await body(first)).equals(expected)).toBe(true);
    // The writes land off the response path: poll the cluster until the six slices are there.
    const probe = store('slice-fetch:', { statsSource: 'scan' });
    await vi.waitFor(async () => expect((await probe.stats()).entries).toBeGreaterThanOrEqual(7), {
      timeout: 10_000,
      interval: 50,
    });
    origin.resetStats();
    expect((await body(second)).equals(expected)).toBe(true);
    expect(origin.stats.requests).toBe(0);
  });

  it('survives a master killed mid-download byte-exact, and coordinates again once its replica took over', async () => {
    const prefix = `rc${++prefixes}:`;
    const [first, second] = [store(prefix), store(prefix)];
    const victim = await cluster.masterOf(tagOf('/cluster/victim-0.bin'));
    const path = await pathOn('/cluster/victim', victim);
    const size = 16 * SLICE;
    const { seed } = origin.setObject(path, { size });
    // The origin holds slice 6 until the master of the object's slot is dead.
    let killed: () => void = () => {};
    const dead = new Promise<void>((resolve) => {
      killed = resolve;
    });
    origin.addFault({
      path,
      match: (r) => r.range?.start === 6 * SLICE,
      fault: { type: 'wait', until: dead },
    });
    const reached = new Promise<void>((resolve) =>
      origin.on('request', (entry) => {
        if (entry.path === path && entry.range === `bytes=${6 * SLICE}-${7 * SLICE - 1}`) resolve();
      }),
    );
    const fetcher = makeFetcher({ cache: first, sliceSize: SLICE, concurrency: 4 });
    const download = fetcher.fetch(origin.url(path)).then(drain);
    await reached;
    await victim.kill();
    killed();
    const { bytes, error } = await download;
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);

    await cluster.failedOver(tagOf(path), victim);
    // Both stores reach the slot's new master by themselves: no command can meet a MOVED from a dead node.
    for (const s of [first, second])
      await vi.waitFor(() => s.has(`${objectKeyPrefix(normalizeObjectUrl(origin.url(path)))}.probe`), {
        timeout: 10_000,
        interval: 50,
      });
    const next = await pathOn('/cluster/after', await cluster.masterOf(tagOf(path)));
    const { seed: nextSeed } = origin.setObject(next, { size: 8 * SLICE });
    origin.resetStats();
    const fetchers = [first, second].map((cache) => makeFetcher({ cache, sliceSize: SLICE, concurrency: 4 }));
    const bodies = await Promise.all(
      Array.from({ length: 6 }, async (_, i) =>
        drain(await (fetchers[i % 2] as (typeof fetchers)[0]).fetch(origin.url(next))),
      ),
    );
    for (const body of bodies) {
      expect(body.error).toBeUndefined();
      expect(body.bytes.equals(contentBytes(nextSeed, 0, 8 * SLICE - 1))).toBe(true);
    }
    const counts = origin.rangeCounts(next);
    expect(counts.size).toBe(8);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  }, 60_000);
});

// The shared suite on the cluster: a fresh prefix per case, occupancy walked on every master (`scan`, since the
// suite counts entries exactly); skipped cases as for one server (test/storage/redis.test.ts).
runCacheStorageConformance(
  'redisStorage on a Redis Cluster',
  ({ now }) => ({ store: store(`conf${++prefixes}:`, { now, statsSource: 'scan' }) }),
  {
    skip: {
      'expiry-clock': 'Redis expires keys by its own clock (PX); the injected clock only sets the TTL',
      'has-expiry': 'Redis expires keys by its own clock (PX); the injected clock only sets the TTL',
      'byte-budget':
        'Redis enforces the budget instance-wide with maxmemory + an LRU policy, not per prefix; maxBytes only gates admission',
    },
  },
);

// ---------------------------------------------------------------------------------------------------------

async function isMasterNode(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return /role:master/.test(String(await client.sendCommand(['INFO', 'replication'])));
  } finally {
    client.destroy();
  }
}
