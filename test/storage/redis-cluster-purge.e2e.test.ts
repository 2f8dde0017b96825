/**
 * Purge notices on a Redis Cluster after a master fails over (R22 "a failed Redis node heals within
 * seconds", P27 "for every process once the purge's notice reached it").
 *
 * Regression: redis-generations.ts subscribed on a `duplicate()` of one master's node client (`link.masters()[0]`).
 * That connection was bound to the node's address; when the master dies, its replica takes over elsewhere and
 * node-redis kept reconnecting the subscriber to the dead address forever. Nothing re-subscribed, so from then
 * on the process never heard of another process's purge, and kept serving the purged generation from its
 * in-memory metadata and its memory tier for as long as the metadata stays fresh (here an hour).
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import type { CacheStorage } from '../../src/ports.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { redisStorage } from '../../src/storage/redis.js';
import { generationKey } from '../../src/storage/redis-generations.js';
import { tieredStorage } from '../../src/storage/tiered.js';
import { closeFetchers, drain, KiB, makeFetcher } from '../engine/e2e-helpers.js';
import { FIXED_VALIDATORS as FIXED } from '../engine/purge-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import type { TestRedisServer } from '../support/redis-server.js';

const SLICE = 64 * KiB;
const PREFIX = 'rvc:';
const CHANNEL = `${PREFIX}#purge`;

let cluster: TestRedisCluster;
let origin: TestOrigin;
const stores: CacheStorage[] = [];
const clients: ReturnType<typeof createClient>[] = [];

beforeAll(async () => {
  [cluster, origin] = await Promise.all([startRedisCluster(), startOrigin()]);
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const client of clients.splice(0)) client.destroy();
});
afterAll(async () => {
  await cluster?.dispose();
  await origin?.close();
});

/** A fetcher on the cluster; `tiered`: with a memory tier in front (the layout the docs recommend). */
function fetcherOn(tiered = false): InternalSliceFetcher {
  const shared = redisStorage({ cluster: { rootNodes: [...cluster.urls] }, prefix: PREFIX, timeoutMs: 500 });
  const store = tiered ? tieredStorage([memoryStorage(), shared]) : shared;
  stores.push(store);
  return makeFetcher({ cache: store, sliceSize: SLICE, concurrency: 4 });
}

async function nodeClient(node: TestRedisServer): Promise<ReturnType<typeof createClient>> {
  const client = createClient({ url: node.url });
  client.on('error', () => {});
  await client.connect();
  clients.push(client);
  return client;
}

/** The nodes on which somebody listens to the purge channel (PUBSUB NUMSUB is per node in a cluster). */
async function subscribedNodes(): Promise<TestRedisServer[]> {
  const found: TestRedisServer[] = [];
  for (const node of cluster.nodes) {
    const client = await nodeClient(node);
    if (Number((await client.pubSubNumSub(CHANNEL))[CHANNEL]) > 0) found.push(node);
  }
  return found;
}

describe('purge notices after a master fails over', () => {
  it('a fetcher whose subscriber node died still follows the purges of another fetcher', async () => {
    const a = fetcherOn();
    const b = fetcherOn(true);
    // Both subscribe on a duplicate of the first master's client.
    await expect.poll(async () => (await subscribedNodes()).length, { timeout: 10_000 }).toBeGreaterThan(0);
    const subscribed = await subscribedNodes();
    expect(subscribed).toHaveLength(1);
    const victim = subscribed[0] as TestRedisServer;
    // An object whose keys live on another master (so the purge itself is not what fails), and a key of the
    // victim's slots to follow the failover with.
    let path = '';
    for (let i = 0; path === ''; i++) {
      const candidate = `/review/cluster-notice-${i}.bin`;
      if ((await cluster.masterOf(generationKey(PREFIX, origin.url(candidate)))) !== victim) path = candidate;
    }
    let victimKey = '';
    for (let i = 0; victimKey === ''; i++)
      if ((await cluster.masterOf(`k${i}`)) === victim) victimKey = `k${i}`;
    const size = 4 * SLICE;
    const first = origin.setObject(path, { size, ...FIXED });
    const url = origin.url(path);
    const warm = await drain(await b.fetch(url));
    expect(warm.bytes.equals(contentBytes(first.seed, 0, size - 1))).toBe(true);

    await victim.kill();
    await cluster.failedOver(victimKey, victim);

    // A listener of our own on a live node proves the notice is published.
    const live = cluster.nodes.find((node) => node !== victim) as TestRedisServer;
    const listener = await nodeClient(live);
    const sub = listener.duplicate();
    sub.on('error', () => {});
    clients.push(sub);
    await sub.connect();
    let notices = 0;
    await sub.subscribe(CHANNEL, () => notices++);

    const second = origin.setObject(path, { size, ...FIXED, seed: first.seed + 7 });
    await expect
      .poll(
        async () => {
          await a.purge(url);
          return notices;
        },
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0);
    const expected = contentBytes(second.seed, 0, size - 1);
    await expect
      .poll(async () => (await drain(await b.fetch(url))).bytes.equals(expected), { timeout: 10_000 })
      .toBe(true);
  });
});
