/**
 * A fetcher's close() (or the store's) must release the purge subscription — the Redis subscriber
 * connection that `redis-generations.ts` opens with `duplicate()` — whatever point the subscription reached.
 *
 * Regression: when the subscription was dropped while the subscriber's TCP connection was being made,
 * `destroy(sub)` (redis-generations.ts) called node-redis's `destroy()`, which then had no socket yet to
 * destroy; node-redis went on connecting, `subscribe()` succeeded, and the later `destroy(sub)` threw
 * `ClientClosedError` (the client counts as closed), which was swallowed: the connection stayed open and
 * subscribed for good — an open handle after close() that keeps the process alive.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSliceFetcher } from '../../src/index.js';
import { redisStorage } from '../../src/storage/redis.js';
import { activeResources, leakedResources } from '../engine/e2e-helpers.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

let redis: TestRedisServer;
let raw: ReturnType<typeof createClient>;
beforeAll(async () => {
  redis = await startRedisServer();
  raw = createClient({ url: redis.url });
  await raw.connect();
});
afterAll(async () => {
  await raw.close();
  await redis.dispose();
});

async function subscribers(prefix: string): Promise<number> {
  const channel = `${prefix}#purge`;
  return Number((await raw.pubSubNumSub(channel))[channel]);
}

describe('close() and the purge subscription', () => {
  it('drops the subscriber once it is subscribed', async () => {
    const before = activeResources();
    const store = redisStorage({ url: redis.url, prefix: 'close1:' });
    const fetcher = createSliceFetcher({ cache: store });
    await expect.poll(() => subscribers('close1:'), { timeout: 5000 }).toBe(1);
    await fetcher.close();
    await expect.poll(() => subscribers('close1:'), { timeout: 5000 }).toBe(0);
    await store.close();
    expect(await leakedResources(before)).toEqual([]);
  });

  it('leaves no connection open when closed while the subscriber connection is being made', async () => {
    const before = activeResources();
    const client = createClient({ url: redis.url });
    await client.connect();
    let closing: Promise<void> | undefined;
    let fetcher: ReturnType<typeof createSliceFetcher> | undefined;
    const duplicate = client.duplicate.bind(client);
    // The store subscribes on a duplicate of the client; the fetcher closes right after the duplicate's
    // connect() started (a microtask: before any socket event), as a short-lived fetcher would.
    (client as unknown as { duplicate: () => unknown }).duplicate = () => {
      const sub = duplicate();
      queueMicrotask(() => {
        closing = fetcher?.close();
      });
      return sub;
    };
    const store = redisStorage({ client, prefix: 'close2:' });
    fetcher = createSliceFetcher({ cache: store });
    await expect.poll(() => closing !== undefined, { timeout: 5000 }).toBe(true);
    await closing;
    await store.close();
    await client.close();
    expect(await leakedResources(before)).toEqual([]);
  });
});
