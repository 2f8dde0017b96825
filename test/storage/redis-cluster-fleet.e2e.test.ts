/**
 * A fleet on a real Redis Cluster (R22, P27): three masters with a replica each, one cluster for the whole file.
 *
 * - A purge under `maxmemory` pressure (every master on `allkeys-lru`, less memory than the object's
 *   slices) leaves nothing of the purged generation servable: not by the purger, not by another fetcher once
 *   the notice reached it, not by a fetcher started afterwards.
 * - A purge through one tiered (memory + cluster) fetcher empties another's memory tier.
 * - A `slice-proxy` killed (SIGKILL) while it holds fill claims delays the others by one claim lifetime at
 *   most: its claims on the cluster expire within the store's `lockMs`, and a second proxy completes the object
 *   byte-exact, fetching each slice the dead one held under a claim of its own.
 * - Two `slice-proxy --cache coordinated --redis-cluster …` processes, each with its own disk, fill and purge
 *   through the cluster.
 *
 * The origin keeps the validators across versions (same size, same Last-Modified, no ETag) and the metadata
 * stays fresh for an hour: only the purge can tell the versions apart, and only its notice can reach a fetcher
 * that holds the metadata in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { metadataKey, normalizeObjectUrl, objectKeyPrefix, sliceKeys } from '../../src/core/keys.js';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import type { CacheStorage } from '../../src/ports.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { redisStorage } from '../../src/storage/redis.js';
import { generationKey } from '../../src/storage/redis-generations.js';
import { indexKey, lockKey } from '../../src/storage/redis-layout.js';
import { tieredStorage } from '../../src/storage/tiered.js';
import { killAll, startSliceProxy } from '../cli/cli-helpers.js';
import { closeFetchers, KiB, MiB, makeFetcher } from '../engine/e2e-helpers.js';
import {
  expectRangesOfVersion,
  FIXED_VALIDATORS as FIXED,
  readThrough as read,
  servesVersion,
} from '../engine/purge-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import type { TestRedisServer } from '../support/redis-server.js';

const SLICE = 64 * KiB;
/** The Redis store's default claim lifetime, which `slice-proxy` uses. */
const LOCK_MS = 5000;
/** The key prefix `slice-proxy` uses. */
const PROXY_PREFIX = 'slice-fetch:';
/** How long a write to land or a notice to arrive may take (polled every 50 ms). */
const WAIT = { timeout: 10_000, interval: 50 };

type Client = ReturnType<typeof createClient>;

let cluster: TestRedisCluster;
let origin: TestOrigin;
let prefixes = 0;
const stores: CacheStorage[] = [];
const clients: Client[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [cluster, origin] = await Promise.all([startRedisCluster(), startOrigin()]);
}, 60_000);
afterEach(async () => {
  killAll();
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const client of clients.splice(0)) client.destroy();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  origin.configure({ throttleBytesPerSecond: 0 });
  origin.resetStats();
});
afterAll(async () => {
  await Promise.all([origin?.close(), cluster?.dispose()]);
});

/** A plain connection to one node, destroyed after the test. */
async function nodeClient(node: TestRedisServer): Promise<Client> {
  const client = createClient({ url: node.url, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

/** The nodes that are masters now. */
async function masters(): Promise<TestRedisServer[]> {
  const found: TestRedisServer[] = [];
  for (const node of cluster.nodes) {
    const info = String(await (await nodeClient(node)).sendCommand(['INFO', 'replication']));
    if (/role:master/.test(info)) found.push(node);
  }
  return found;
}

/** Connections listening on `prefix`'s purge channel, summed over the nodes (PUBSUB NUMSUB is per node). */
async function listeners(prefix: string): Promise<number> {
  const channel = `${prefix}#purge`;
  let sum = 0;
  for (const node of cluster.nodes)
    sum += Number((await (await nodeClient(node)).pubSubNumSub(channel))[channel]);
  return sum;
}

/** A Redis store on the cluster under `prefix`, closed after the test. */
function clusterStore(prefix: string): CacheStorage {
  const store = redisStorage({ cluster: { rootNodes: [...cluster.urls] }, prefix });
  stores.push(store);
  return store;
}

function kept<T extends CacheStorage>(store: T): T {
  stores.push(store);
  return store;
}

function fetcherOn(cache: CacheStorage): InternalSliceFetcher {
  return makeFetcher({ cache, sliceSize: SLICE, concurrency: 4 });
}

/** The `{<tag>}` every Redis key of the object at `url` carries. */
function tagOf(url: string): string {
  return `{${objectKeyPrefix(normalizeObjectUrl(url))}}`;
}

/** Starts a `slice-proxy` on the cluster and resolves its base URL from the "listening" log line. */
function startProxy(extra: readonly string[] = ['--cache', 'redis']) {
  return startSliceProxy(origin.url('/'), ['--redis-cluster', cluster.urls.slice(0, 3).join(','), ...extra]);
}

/** `--cache redis`, or `--cache coordinated` with a cache directory of its own (removed after the test). */
function cacheArgs(mode: 'redis' | 'coordinated'): string[] {
  if (mode === 'redis') return ['--cache', 'redis'];
  const dir = mkdtempSync(join(tmpdir(), 'slice-proxy-cluster-coordinated-'));
  dirs.push(dir);
  return ['--cache', 'coordinated', '--cache-dir', dir];
}

async function body(url: string): Promise<Buffer> {
  const res = await fetch(url);
  expect(res.ok).toBe(true);
  return Buffer.from(await res.arrayBuffer());
}

describe('a purge on a Redis Cluster under maxmemory pressure (allkeys-lru on every master)', () => {
  it('leaves nothing of the purged generation servable by any fetcher on the cluster', async () => {
    const path = '/cluster-fleet/pressure.bin';
    const size = 64 * SLICE; // 4 MiB of slices, all on one master (one hash tag), on 3 MiB of headroom
    origin.setObject(path, { size, seed: 1, ...FIXED });
    const url = origin.url(path);
    const prefix = `pressure${++prefixes}:`;
    const all = await masters();
    expect(all).toHaveLength(3);
    const home = await cluster.masterOf(tagOf(url));
    try {
      // Every master gets 3 MiB above what it uses now (its buffers and backlog included): less than the object.
      for (const node of all) {
        const client = await nodeClient(node);
        const used = Number(String(await client.info('memory')).match(/used_memory:(\d+)/)?.[1]);
        await client.configSet({ maxmemory: String(used + 3 * MiB), 'maxmemory-policy': 'allkeys-lru' });
      }
      const evictedBefore = await evicted(home);
      const [one, two] = [1, 2].map(() => fetcherOn(clusterStore(prefix))) as [
        InternalSliceFetcher,
        InternalSliceFetcher,
      ];
      await expect.poll(() => listeners(prefix), WAIT).toBe(2);
      for (const fetcher of [one, two, one, two])
        expect((await read(fetcher, url)).bytes.equals(contentBytes(1, 0, size - 1))).toBe(true);
      expect(await evicted(home)).toBeGreaterThan(evictedBefore);

      // Eviction may or may not have taken the object's index set; take it for sure, so the purge cannot find
      // the entries it names.
      const raw = await nodeClient(home);
      await raw.del(indexKey(prefix, normalizeObjectUrl(url)));
      origin.setObject(path, { size, seed: 2, ...FIXED });
      await one.purge(url);
      // Nothing has read the object since: what the cluster holds of it is the purged generation, and some
      // of it is there. Only the generation keeps it unserved.
      expect((await raw.keys(`${prefix}${tagOf(url)}:*`)).length).toBeGreaterThan(0);
      expect((await read(one, url)).bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
      // Until its notice comes, the other may still read what is left of the old generation (and fill the rest
      // from the origin, whose validators cannot tell): poll for the new version.
      await servesVersion(two, url, 2, size, { wait: WAIT });
      // A fetcher started after the purge, and ranges through every fetcher: the new version only.
      const later = fetcherOn(clusterStore(prefix));
      await expectRangesOfVersion([one, two, later], url, 2, size, SLICE);
    } finally {
      for (const node of all) {
        const client = await nodeClient(node);
        await client.configSet({ maxmemory: '0', 'maxmemory-policy': 'noeviction' });
      }
    }
  });
});

describe('tiered memory + Redis Cluster on two fetchers', () => {
  it('a purge through one drops the object from the memory tier of the other', async () => {
    const path = '/cluster-fleet/tiered.bin';
    const size = 6 * SLICE;
    origin.setObject(path, { size, seed: 3, ...FIXED });
    const url = origin.url(path);
    const prefix = `tiered${++prefixes}:`;
    const fronts = [memoryStorage(), memoryStorage()];
    const [one, two] = fronts.map((front) =>
      fetcherOn(
        kept(tieredStorage([front, redisStorage({ cluster: { rootNodes: [...cluster.urls] }, prefix })])),
      ),
    ) as [InternalSliceFetcher, InternalSliceFetcher];
    await expect.poll(() => listeners(prefix), WAIT).toBe(2);
    expect((await read(one, url)).status).toBe('MISS');
    // The second reads what the first stored on the cluster and keeps it in its memory tier, which then serves it.
    expect(await read(two, url)).toMatchObject({ status: 'HIT' });
    await vi.waitFor(async () => expect((await fronts[1]?.stats())?.entries).toBeGreaterThanOrEqual(6), WAIT);
    origin.resetStats();
    const warm = await read(two, url);
    expect(warm.status).toBe('HIT');
    expect(warm.bytes.equals(contentBytes(3, 0, size - 1))).toBe(true);
    expect(origin.stats.requests).toBe(0);

    origin.setObject(path, { size, seed: 4, ...FIXED });
    expect(await one.purge(url)).toBeGreaterThan(0);
    await servesVersion(two, url, 4, size, { previous: 3, wait: WAIT });
    // The new version is what the second now keeps: again, and from a fetcher started afterwards.
    expect((await read(two, url)).bytes.equals(contentBytes(4, 0, size - 1))).toBe(true);
    const later = fetcherOn(kept(tieredStorage([memoryStorage(), clusterStore(prefix)])));
    expect((await read(later, url)).bytes.equals(contentBytes(4, 0, size - 1))).toBe(true);
  });
});

describe('a slice-proxy on the cluster killed while it holds fill claims', () => {
  it.each(['redis', 'coordinated'] as const)(
    '--cache %s: leaves claims that expire within lockMs, and a second proxy completes the object under claims of its own',
    async (mode) => {
      const path = `/cluster-fleet/orphaned-${mode}.bin`;
      const size = 8 * SLICE;
      const { seed, etag } = origin.setObject(path, { size });
      const url = origin.url(path);
      const objectKey = normalizeObjectUrl(url);
      const home = await nodeClient(await cluster.masterOf(tagOf(url)));
      const claims = async (): Promise<string[]> => home.keys(`${PROXY_PREFIX}${tagOf(url)}#lock:*`);
      const [doomed, survivor] = await Promise.all([
        startProxy(cacheArgs(mode)),
        startProxy(cacheArgs(mode)),
      ]);

      // Every slice trickles at one slice a second: the doomed proxy holds its claims for a while.
      origin.configure({ throttleBytesPerSecond: SLICE });
      const dying = fetch(`${doomed.base}${path}`)
        .then((res) => res.arrayBuffer())
        .catch(() => undefined);
      // Two claims at least: one object has one learning claim, so one of them at least is a slice's.
      await vi.waitFor(async () => expect((await claims()).length).toBeGreaterThanOrEqual(2), WAIT);
      doomed.cli.child.kill('SIGKILL');
      expect(await doomed.cli.exited).toBe('SIGKILL');
      await dying;

      // Right after the kill: each claim the dead proxy held lives at most one claim lifetime.
      const dead = new Map<string, string>();
      for (const key of await claims()) {
        const [token, ttl] = await Promise.all([home.get(key), home.pTTL(key)]);
        if (token === null || ttl === -2) continue; // released or lapsed meanwhile
        expect(ttl).toBeGreaterThan(0); // -1 would be a claim that never expires
        expect(ttl).toBeLessThanOrEqual(LOCK_MS);
        dead.set(key, token);
      }
      expect(dead.size).toBeGreaterThan(0);
      // The claims are the object's slice claims (and its learning claim), keyed as the engine keys them.
      const generation = (await home.get(generationKey(PROXY_PREFIX, objectKey))) ?? '';
      const keyOf = sliceKeys({ objectKey, validator: `etag:${etag}`, sliceSize: SLICE, generation });
      const sliceClaims = Array.from({ length: 8 }, (_, index) => lockKey(PROXY_PREFIX, keyOf(index)));
      const known = new Set([...sliceClaims, lockKey(PROXY_PREFIX, metadataKey(objectKey, '', generation))]);
      for (const key of dead.keys()) expect(known.has(key)).toBe(true);

      // The survivor: when its request for a slice the dead proxy held reaches the origin, it holds that claim.
      origin.configure({ throttleBytesPerSecond: 4 * SLICE });
      const tokensAtFetch: { key: string; token: Promise<string | null> }[] = [];
      const onRequest = (entry: { path: string; range?: string }): void => {
        const start = Number(/^bytes=(\d+)-/.exec(entry.range ?? '')?.[1] ?? Number.NaN);
        const key = sliceClaims[start / SLICE];
        if (entry.path === path && key !== undefined && dead.has(key))
          tokensAtFetch.push({ key, token: home.get(key) });
      };
      origin.on('request', onRequest);
      try {
        expect((await body(`${survivor.base}${path}`)).equals(contentBytes(seed, 0, size - 1))).toBe(true);
      } finally {
        origin.off('request', onRequest);
      }
      expect(tokensAtFetch.length).toBeGreaterThan(0);
      for (const { key, token } of tokensAtFetch) {
        const held = await token;
        expect(held).not.toBeNull(); // fetched under a claim, not after giving up a 30 s coalescing wait
        expect(held).not.toBe(dead.get(key)); // its own, taken once the dead one lapsed
      }
      // No claim of the dead proxy survives.
      for (const [key, token] of dead) expect(await home.get(key)).not.toBe(token);
    },
  );
});

describe('two slice-proxy processes with --cache coordinated on the cluster (bytes on their own disks)', () => {
  it('serve warm from each disk, and a PURGE through one makes the other serve the new version', async () => {
    const coordinated = (): string[] => [...cacheArgs('coordinated'), '--purge-token', 't'];
    const [first, second] = await Promise.all([startProxy(coordinated()), startProxy(coordinated())]);
    const path = '/cluster-fleet/coordinated.bin';
    const size = 4 * SLICE + 7;
    origin.setObject(path, { size, seed: 1, ...FIXED });
    for (const { base } of [first, second]) {
      expect((await body(`${base}${path}`)).equals(contentBytes(1, 0, size - 1))).toBe(true);
      // Each proxy's own disk serves it once its writes landed.
      await vi.waitFor(async () => {
        const res = await fetch(`${base}${path}`);
        expect(Buffer.from(await res.arrayBuffer()).equals(contentBytes(1, 0, size - 1))).toBe(true);
        expect(res.headers.get('x-slice-cache')).toBe('HIT');
      }, WAIT);
    }
    // No slice bytes in Redis: the cluster holds claims, metadata and generations only.
    const home = await nodeClient(await cluster.masterOf(tagOf(origin.url(path))));
    for (const key of await home.keys(`${PROXY_PREFIX}${tagOf(origin.url(path))}*`))
      if ((await home.type(key)) === 'string') expect(await home.strLen(key)).toBeLessThan(SLICE);

    origin.setObject(path, { size, seed: 2, ...FIXED });
    const purged = await fetch(`${first.base}${path}`, {
      method: 'PURGE',
      headers: { authorization: 'Bearer t' },
    });
    expect(purged.status).toBe(200);
    expect((await body(`${first.base}${path}`)).equals(contentBytes(2, 0, size - 1))).toBe(true);
    await vi.waitFor(async () => {
      const bytes = await body(`${second.base}${path}`);
      if (!bytes.equals(contentBytes(2, 0, size - 1)))
        expect(bytes.equals(contentBytes(1, 0, size - 1))).toBe(true);
      expect(bytes.equals(contentBytes(2, 0, size - 1))).toBe(true);
    }, WAIT);
    // A proxy started after the purge, with a disk of its own: the new version only.
    const later = await startProxy(coordinated());
    expect((await body(`${later.base}${path}`)).equals(contentBytes(2, 0, size - 1))).toBe(true);
  });
});

async function evicted(node: TestRedisServer): Promise<number> {
  const info = String(await (await nodeClient(node)).info('stats'));
  return Number(info.match(/evicted_keys:(\d+)/)?.[1]);
}
