import { randomBytes } from 'node:crypto';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { metadataKey, objectKeyPrefix, sliceKey } from '../../src/core/keys.js';
import type { Awaitable, CacheChunks, CacheEntryMeta } from '../../src/ports.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const OBJECT = 'http://example.com/video.mp4';
const OTHER = 'http://example.com/other.bin';

let redis: TestRedisServer;
let raw: ReturnType<typeof createRawClient>;
let prefixCount = 0;
const opened: RedisStorage[] = [];

function createRawClient(url: string) {
  return createClient({ url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

/** A store on its own key prefix, closed after the test. */
function store(options: Parameters<typeof redisStorage>[0] = {}): RedisStorage {
  const created = redisStorage({ url: redis.url, prefix: `t${++prefixCount}:`, ...options });
  opened.push(created);
  return created;
}

function meta(objectKey = OBJECT, ttlMs = 60_000, validator = 'etag:"v1"'): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey,
    validator,
    range: { start: 0, end: 9 },
    size: 10,
    expiresAt: Date.now() + ttlMs,
  };
}

function key(index: number, objectKey = OBJECT, validator = 'etag:"v1"'): string {
  return sliceKey({ objectKey, validator, sliceSize: 1 << 20, index });
}

function bytesOf(chunks: CacheChunks | undefined): Buffer | undefined {
  return chunks === undefined ? undefined : Buffer.concat(chunks);
}

function split(buffer: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += size) out.push(buffer.subarray(i, i + size));
  return out;
}

async function rejection(promise: Awaitable<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

beforeAll(async () => {
  redis = await startRedisServer();
  raw = createRawClient(redis.url);
  await raw.connect();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  raw?.destroy();
  await redis?.dispose();
});

describe('redisStorage', () => {
  it('reads back the bytes of a multi-chunk slice it stored (P13)', async () => {
    const s = store();
    const chunks = [Buffer.from('hello '), Buffer.from('slice '), Buffer.from('world')];
    await s.set(key(0), chunks, meta());
    expect(bytesOf(await s.get(key(0)))?.toString()).toBe('hello slice world');
    expect(await s.get(key(1))).toBeUndefined();
  });

  it('keeps every byte value, an empty value and a 4 MiB value intact', async () => {
    const s = store();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const big = randomBytes(4 * 1024 * 1024);
    // A plain Uint8Array view with an offset, not a Buffer: must be sent as its own bytes only.
    const backing = new Uint8Array(300);
    backing.set(all, 20);
    await s.set(key(0), [backing.subarray(20, 276)], meta());
    await s.set(key(1), [], meta());
    await s.set(key(2), split(big, 64 * 1024), meta());
    await s.set(key(3), [big], meta());
    expect(bytesOf(await s.get(key(0)))?.equals(all)).toBe(true);
    expect(bytesOf(await s.get(key(1)))).toEqual(Buffer.alloc(0));
    expect(bytesOf(await s.get(key(2)))?.equals(big)).toBe(true);
    expect(bytesOf(await s.get(key(3)))?.equals(big)).toBe(true);
  });

  it('reads a sub-range across chunk boundaries with GETRANGE and misses a missing key', async () => {
    const s = store();
    const value = randomBytes(1000);
    await s.set(key(0), split(value, 100), meta());
    expect(bytesOf(await s.get(key(0), { start: 95, end: 404 }))?.equals(value.subarray(95, 405))).toBe(true);
    expect(bytesOf(await s.get(key(0), { start: 999, end: 999 }))?.equals(value.subarray(999))).toBe(true);
    expect(await s.get(key(9), { start: 0, end: 10 })).toBeUndefined();
  });

  it('reads several entries in one pipelined call, in order, with misses as undefined', async () => {
    const s = store();
    await s.set(key(0), [Buffer.from('a')], meta());
    await s.set(key(2), [Buffer.from('c')], meta());
    const many = await s.getMany([key(0), key(1), key(2)]);
    expect(many.map((chunks) => bytesOf(chunks)?.toString())).toEqual(['a', undefined, 'c']);
  });

  it('puts a TTL on every key it writes, from expiresAt and capped by ttlSeconds', async () => {
    const s = store({ prefix: 'ttl:', ttlSeconds: 3600 });
    await s.set(key(0), [Buffer.from('x')], meta(OBJECT, 30_000));
    await s.set(key(1), [Buffer.from('y')], meta(OBJECT, 365 * 24 * 3600 * 1000));
    await s.set(metadataKey(OBJECT), [Buffer.from('{}')], { ...meta(OBJECT, 10_000), kind: 'metadata' });
    const keys = (await raw.keys('ttl:*')).map(String);
    expect(keys).toHaveLength(4); // three entries and the object's index
    for (const name of keys) {
      const pttl = await raw.pTTL(name);
      expect({ name, positive: pttl > 0, capped: pttl <= 3600 * 1000 }).toEqual({
        name,
        positive: true,
        capped: true,
      });
    }
    expect(await raw.pTTL(`ttl:{${objectKeyPrefix(OBJECT)}}:${key(0)}`)).toBeLessThanOrEqual(30_000);
  });

  it('extends the index TTL to its longest-lived entry and never shortens it', async () => {
    const s = store({ prefix: 'idx:' });
    const index = `idx:{${objectKeyPrefix(OBJECT)}}#index`;
    await s.set(key(0), [Buffer.from('a')], meta(OBJECT, 20_000));
    expect(await raw.pTTL(index)).toBeLessThanOrEqual(20_000);
    await s.set(key(1), [Buffer.from('b')], meta(OBJECT, 600_000));
    expect(await raw.pTTL(index)).toBeGreaterThan(20_000);
    await s.set(key(2), [Buffer.from('c')], meta(OBJECT, 5_000));
    expect(await raw.pTTL(index)).toBeGreaterThan(20_000);
  });

  it('hash-tags each key with its object prefix so one object stays on one cluster slot', async () => {
    const s = store({ prefix: 'tag:' });
    await s.set(key(0), [Buffer.from('a')], meta());
    await s.set(key(0, OTHER), [Buffer.from('b')], meta(OTHER));
    const names = (await raw.keys('tag:*')).map(String).sort();
    expect(names).toEqual(
      [
        `tag:{${objectKeyPrefix(OBJECT)}}:${key(0)}`,
        `tag:{${objectKeyPrefix(OBJECT)}}#index`,
        `tag:{${objectKeyPrefix(OTHER)}}:${key(0, OTHER)}`,
        `tag:{${objectKeyPrefix(OTHER)}}#index`,
      ].sort(),
    );
  });

  it('purges every entry of an object in every version through its index, without KEYS or SCAN', async () => {
    const s = store({ prefix: 'purge:' });
    await s.set(key(0), [Buffer.from('a')], meta());
    await s.set(key(1), [Buffer.from('b')], meta());
    await s.set(key(0, OBJECT, 'etag:"v2"'), [Buffer.from('c')], meta(OBJECT, 60_000, 'etag:"v2"'));
    await s.set(metadataKey(OBJECT), [Buffer.from('{}')], { ...meta(), kind: 'metadata' });
    await s.set(key(0, OTHER), [Buffer.from('d')], meta(OTHER));

    const monitor = createClient({ url: redis.url });
    await monitor.connect();
    const commands: string[] = [];
    let synced: () => void = () => undefined;
    const sync = new Promise<void>((resolve) => {
      synced = resolve;
    });
    await monitor.monitor((line) => {
      commands.push(String(line));
      if (String(line).includes('purge-done')) synced();
    });
    try {
      expect(await s.purgeObject(OBJECT)).toBe(4);
      await raw.echo('purge-done'); // MONITOR lines arrive in order: this one comes after the purge's
      await sync;
    } finally {
      monitor.destroy();
    }

    const issued = commands.map((line) => /"(\w+)"/.exec(line)?.[1]?.toUpperCase());
    expect(issued).toContain('SMEMBERS');
    expect(issued).not.toContain('KEYS');
    expect(issued).not.toContain('SCAN');
    // The object's slices, its metadata entry and its index are gone, its new purge generation is there; the
    // other object is untouched.
    expect((await raw.keys('purge:*')).map(String).sort()).toEqual(
      [
        `purge:{${objectKeyPrefix(OTHER)}}:${key(0, OTHER)}`,
        `purge:{${objectKeyPrefix(OTHER)}}#index`,
        `purge:{${objectKeyPrefix(OBJECT)}}#gen`,
      ].sort(),
    );
    expect(await s.get(key(0))).toBeUndefined();
    expect(bytesOf(await s.get(key(0, OTHER)))?.toString()).toBe('d');
    expect(await s.purgeObject(OBJECT)).toBe(0);
  });

  it('deletes one entry and says whether it existed', async () => {
    const s = store();
    await s.set(key(0), [Buffer.from('a')], meta());
    expect(await s.delete(key(0))).toBe(true);
    expect(await s.delete(key(0))).toBe(false);
    expect(await s.get(key(0))).toBeUndefined();
  });

  it('does not store an entry that is already expired', async () => {
    const s = store({ prefix: 'expired:' });
    await s.set(key(0), [Buffer.from('a')], meta(OBJECT, -1));
    await s.set(key(1), [Buffer.from('a')], meta(OBJECT, 0));
    expect(await s.get(key(0))).toBeUndefined();
    expect(await raw.keys('expired:*')).toEqual([]);
  });

  it('stops returning an entry once its expiresAt has passed', async () => {
    const t0 = Date.now();
    const s = store({ now: () => t0 });
    await s.set(key(0), [Buffer.from('a')], { ...meta(), expiresAt: t0 + 1 }); // PX 1
    await vi.waitFor(async () => expect(await s.get(key(0))).toBeUndefined(), { timeout: 5000, interval: 5 });
  });

  it("reports the exact bytes and entries of its own prefix with statsSource 'scan', index sets excluded", async () => {
    const s = store({ statsSource: 'scan' });
    const neighbour = store();
    await neighbour.set(key(0), [randomBytes(500)], meta());
    expect(await s.stats()).toMatchObject({ bytes: 0, entries: 0 });
    await s.set(key(0), [randomBytes(1000)], meta());
    await s.set(key(1), [randomBytes(10), randomBytes(20)], meta());
    await s.set(key(0, OTHER), [], meta(OTHER));
    expect(await s.stats()).toMatchObject({ bytes: 1030, entries: 3 });
  });

  it('matches its prefix literally when walking it, glob characters included', async () => {
    const star = store({ prefix: 'glob*', statsSource: 'scan' });
    const other = store({ prefix: 'globX' });
    await other.set(key(0), [Buffer.from('abc')], meta());
    await star.set(key(0), [Buffer.from('a')], meta());
    expect(await star.stats()).toMatchObject({ bytes: 1, entries: 1 });
  });

  it("reports the database's INFO memory and DBSIZE by default, and the breaker's state", async () => {
    const s = store();
    await s.set(key(0), [randomBytes(100_000)], meta());
    const stats = await s.stats();
    expect(stats.bytes).toBeGreaterThan(100_000);
    expect(stats.entries).toBeGreaterThanOrEqual(2);
    expect(stats).toMatchObject({ breaker: 'closed', timeouts: 0, refusals: 0 });
  });

  it('skips writes above maxBytes: an entry larger than it, or while Redis uses that much', async () => {
    const used = Number(/used_memory:(\d+)/.exec(String(await raw.info('memory')))?.[1]);
    const roomy = store({ maxBytes: used + 64 * 1024 * 1024 });
    await roomy.set(key(0), [Buffer.alloc(1000)], meta());
    await roomy.set(key(1), [Buffer.alloc(65 * 1024 * 1024 + used)], meta());
    expect(await roomy.get(key(0))).toBeDefined();
    expect(await roomy.get(key(1))).toBeUndefined();

    const full = store({ maxBytes: used, statsSource: 'info' });
    await full.stats(); // samples used_memory ≥ maxBytes
    await full.set(key(0), [Buffer.alloc(10)], meta());
    expect(await full.get(key(0))).toBeUndefined();
  });

  it('uses a client it is given and leaves it open on close', async () => {
    const client = createClient({ url: redis.url, disableOfflineQueue: true });
    await client.connect();
    try {
      const s = redisStorage({ client, prefix: 'given:' });
      await s.set(key(0), [Buffer.from([0, 255, 1])], meta());
      expect(bytesOf(await s.get(key(0)))).toEqual(Buffer.from([0, 255, 1]));
      expect(await s.purgeObject(OBJECT)).toBe(1);
      await s.close();
      expect(client.isOpen).toBe(true);
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.destroy();
    }
  });

  it('quits the client it created on close, after which calls reject', async () => {
    const s = redisStorage({ url: redis.url });
    await s.set(key(0), [Buffer.from('a')], meta());
    await s.close();
    const error = await rejection(s.get(key(0)));
    expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
  });

  it('says whether entries exist with one pipelined EXISTS each, without reading them', async () => {
    const s = store();
    await s.set(key(0), [Buffer.alloc(1000, 1)], meta());
    await s.set(key(2, OTHER), [Buffer.alloc(10, 2)], meta(OTHER));
    const before = await raw.sendCommand(['INFO', 'commandstats']);
    const answers = await Promise.all(
      [0, 1, 2, 3].map((index) => s.has(key(index, index === 2 ? OTHER : OBJECT))),
    );
    expect(answers).toEqual([true, false, true, false]);
    const after = await raw.sendCommand(['INFO', 'commandstats']);
    const calls = (info: unknown, command: string): number =>
      Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(String(info))?.[1] ?? 0);
    expect(calls(after, 'exists') - calls(before, 'exists')).toBe(4);
    expect(calls(after, 'get') - calls(before, 'get')).toBe(0);
    await s.delete(key(0));
    expect(await s.has(key(0))).toBe(false);
  });

  it('rejects bad options with ERR_SLICE_CONFIG', () => {
    const client = createClient();
    const cases = [
      () => redisStorage({ client, url: redis.url }),
      () => redisStorage({ prefix: 'a{b}' }),
      () => redisStorage({ ttlSeconds: 0 }),
      () => redisStorage({ maxBytes: 1.5 }),
      () => redisStorage({ timeoutMs: -1 }),
      () => redisStorage({ statsSource: 'keys' as 'scan' }),
      () => redisStorage({ url: redis.url, cluster: { rootNodes: [redis.url] } }),
      () => redisStorage({ cluster: { rootNodes: [] } }),
      () => redisStorage({ cluster: { rootNodes: ['http://x:1'] } }),
      () => redisStorage({ lockMs: 0 }),
      () => redisStorage({ breakerFailures: 1.5 }),
      () => redisStorage({ breakerCooldownMs: -5 }),
    ];
    for (const make of cases) {
      expect(() => make()).toThrow(expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }));
    }
    expect(() => redisStorage({ url: redis.url, cluster: { rootNodes: ['redis://a:1'] } })).toThrow(
      'Expected `cluster` to be unset when `url` is given, got `redis://a:1`.',
    );
  });
});

// Every case gets a fresh prefix on the shared server. `maxBytes` is not passed: Redis's budget is its own
// `maxmemory` (see the module notes), which the store does not emulate per prefix. The suite checks exact
// occupancy, which only the walk of one prefix gives (`INFO` describes the whole database).
runCacheStorageConformance(
  'redisStorage',
  ({ now }) => ({
    store: redisStorage({ url: redis.url, prefix: `conformance${++prefixCount}:`, now, statsSource: 'scan' }),
  }),
  {
    skip: {
      'expiry-clock': 'Redis expires keys by its own clock (PX); the injected clock only sets the TTL',
      'has-expiry': 'Redis expires keys by its own clock (PX); the injected clock only sets the TTL',
      'byte-budget':
        'Redis enforces the budget instance-wide with maxmemory + an LRU policy, not per prefix; maxBytes only gates admission',
    },
  },
);

describe('redisStorage when Redis fails', () => {
  let flaky: TestRedisServer;

  beforeAll(async () => {
    flaky = await startRedisServer();
  });

  afterAll(async () => {
    await flaky?.dispose();
  });

  it('rejects while Redis is down instead of hanging, then reconnects by itself when it is back', async () => {
    const s = redisStorage({ url: flaky.url, timeoutMs: 500 });
    opened.push(s);
    await s.set(key(0), [Buffer.from('before')], meta());
    expect(bytesOf(await s.get(key(0)))?.toString()).toBe('before');

    await flaky.kill();
    for (const call of [
      () => s.get(key(0)),
      () => s.set(key(1), [Buffer.from('x')], meta()),
      () => s.delete(key(0)),
      () => s.has(key(0)),
      () => s.purgeObject(OBJECT),
      () => s.stats(),
    ]) {
      const error = await rejection(call());
      expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
    }

    await flaky.start(); // same port, empty data (no persistence)
    await vi.waitFor(() => s.set(key(2), [Buffer.from('after')], meta()), { timeout: 10_000, interval: 20 });
    expect(bytesOf(await s.get(key(2)))?.toString()).toBe('after');
    expect(await s.get(key(0))).toBeUndefined();
  });

  it('rejects within timeoutMs when Redis hangs, and works again when it answers', async () => {
    const s = redisStorage({ url: flaky.url, timeoutMs: 300 });
    opened.push(s);
    await s.set(key(0), [Buffer.from('a')], meta());
    flaky.pause();
    try {
      const error = await rejection(s.get(key(0)));
      expect(isSliceFetchError(error) && error.message).toBe('Redis did not answer GET within 300 ms.');
      const hasError = await rejection(s.has(key(0)));
      expect(isSliceFetchError(hasError) && hasError.message).toBe(
        'Redis did not answer EXISTS within 300 ms.',
      );
    } finally {
      flaky.resume();
    }
    await vi.waitFor(async () => expect(bytesOf(await s.get(key(0)))?.toString()).toBe('a'), {
      timeout: 10_000,
      interval: 20,
    });
  });

  it('fails fast when Redis is down at start-up and connects once it comes up', async () => {
    await flaky.stop();
    const errors: unknown[] = [];
    const s = redisStorage({ url: flaky.url, timeoutMs: 500, onError: (error) => errors.push(error) });
    opened.push(s);
    const error = await rejection(s.get(key(0)));
    expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
    expect(errors.length).toBeGreaterThan(0);
    await flaky.start();
    await vi.waitFor(() => s.set(key(0), [Buffer.from('up')], meta()), { timeout: 10_000, interval: 20 });
    expect(bytesOf(await s.get(key(0)))?.toString()).toBe('up');
  });
});
