/**
 * Purge generations of the Redis store (R22, P27), on a real `redis-server`: two stores on one server stand
 * for two processes. The generation is shared, a purge moves it for both and reaches the other as a notice,
 * and a generation key Redis lost (evicted, expired) comes back as a new generation, never an old one.
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { objectKeyPrefix } from '../../src/core/keys.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const OBJECT = 'https://redis.test/purged.bin';
const OTHER = 'https://redis.test/kept.bin';

let redis: TestRedisServer;
let raw: ReturnType<typeof createClient>;
const opened: RedisStorage[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  raw = createClient({ url: redis.url });
  await raw.connect();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});
afterAll(async () => {
  await raw.close();
  await redis.dispose();
});

/** Two stores on one prefix: two processes of one fleet. */
function fleet(): [RedisStorage, RedisStorage, string] {
  const prefix = `gen${++prefixes}:`;
  const stores: [RedisStorage, RedisStorage] = [
    redisStorage({ url: redis.url, prefix }),
    redisStorage({ url: redis.url, prefix }),
  ];
  opened.push(...stores);
  return [...stores, prefix];
}

/** Resolves once `count` connections listen on the fleet's purge channel (subscribing is asynchronous). */
async function subscribers(prefix: string, count: number): Promise<void> {
  await expect
    .poll(async () => Number((await raw.pubSubNumSub(`${prefix}#purge`))[`${prefix}#purge`]), {
      timeout: 5000,
    })
    .toBe(count);
}

describe('redisStorage purge generations', () => {
  it('shares one generation per object between the stores of a fleet, and a purge moves it for all', async () => {
    const [one, two] = fleet();
    const first = await one.generation?.(OBJECT);
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(await two.generation?.(OBJECT)).toBe(first);
    const other = await two.generation?.(OTHER);
    await two.purgeObject(OBJECT);
    const moved = await one.generation?.(OBJECT);
    expect(moved).not.toBe(first);
    expect(await two.generation?.(OBJECT)).toBe(moved);
    expect(await one.generation?.(OTHER)).toBe(other);
  });

  it('comes back with a new generation, never an old one, when Redis lost the key (eviction, expiry)', async () => {
    const [one, , prefix] = fleet();
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const generation = (await one.generation?.(OBJECT)) as string;
      expect(seen.has(generation)).toBe(false);
      seen.add(generation);
      await raw.del(`${prefix}{${objectKeyPrefix(OBJECT)}}#gen`);
    }
    // The key lives as long as the store's longest entry, renewed when a process loads the object.
    await one.generation?.(OBJECT);
    expect(await raw.pTTL(`${prefix}{${objectKeyPrefix(OBJECT)}}#gen`)).toBeGreaterThan(0);
  });

  it('tells the other stores of a purge, not the store that made it, and stops listening when asked', async () => {
    const [one, two, prefix] = fleet();
    const heardByOne: string[] = [];
    const heardByTwo: string[] = [];
    const stopOne = one.onPurge?.((objectKey) => heardByOne.push(objectKey));
    const stopTwo = two.onPurge?.((objectKey) => heardByTwo.push(objectKey));
    await subscribers(prefix, 2);
    await two.purgeObject(OBJECT);
    await expect.poll(() => heardByOne).toEqual([OBJECT]);
    await one.purgeObject(OTHER);
    await expect.poll(() => heardByTwo).toEqual([OTHER]);
    expect(heardByOne).toEqual([OBJECT]);
    stopOne?.();
    stopTwo?.();
    // The last listener gone, its subscriber connection goes too.
    await subscribers(prefix, 0);
  });
});
