import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { sliceKey } from '../../src/core/keys.js';
import type { Awaitable, ByteRange, CacheChunks, CacheEntryMeta, CacheStorage } from '../../src/ports.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { redisStorage } from '../../src/storage/redis.js';
import { tieredStorage } from '../../src/storage/tiered.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const OBJECT = 'http://example.com/video.mp4';
const OTHER = 'http://example.com/other.bin';
const NOW = 1_700_000_000_000;

function meta(objectKey = OBJECT, expiresAt = NOW + 60_000): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey,
    validator: 'etag:"v1"',
    range: { start: 0, end: 4 },
    size: 5,
    expiresAt,
  };
}

function key(index: number, objectKey = OBJECT): string {
  return sliceKey({ objectKey, validator: 'etag:"v1"', sliceSize: 1 << 20, index });
}

const bytes = (text: string): Uint8Array[] => [Buffer.from(text)];
const text = (chunks: Awaitable<CacheChunks | undefined>): Promise<string | undefined> =>
  Promise.resolve(chunks).then((c) => (c === undefined ? undefined : Buffer.concat(c).toString()));

async function rejection(promise: Awaitable<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** A memory store behind an asynchronous, observable, breakable facade — a stand-in for Redis or disk. */
function remote(name = 'remote') {
  const inner = memoryStorage({ now: () => NOW });
  const state = {
    failing: false,
    closed: false,
    sets: 0,
    /** When set, the next get reads, then waits for this promise before answering. */
    hold: undefined as Promise<void> | undefined,
    /** When set, the next set waits for this promise before writing. */
    holdSet: undefined as Promise<void> | undefined,
  };
  const guard = async <T>(op: () => Awaitable<T>): Promise<T> => {
    if (state.failing) throw new Error(`${name} is down`);
    return op();
  };
  const store: CacheStorage = {
    get: async (key: string, range?: ByteRange) => {
      const hold = state.hold;
      state.hold = undefined;
      const result = await guard(() => inner.get(key, range));
      if (hold !== undefined) await hold; // the reply is "on the wire"
      return result;
    },
    set: async (key, value, m) => {
      const hold = state.holdSet;
      state.holdSet = undefined;
      if (hold !== undefined) await hold;
      return guard(() => {
        state.sets++;
        return inner.set(key, value, m);
      });
    },
    delete: (key) => guard(() => inner.delete(key)),
    purgeObject: (objectKey) => guard(() => inner.purgeObject(objectKey)),
    stats: () => guard(() => inner.stats()),
    close: () =>
      guard(() => {
        state.closed = true;
      }),
  };
  return { store, inner, state };
}

describe('tieredStorage', () => {
  it('writes through to every tier and reads the first tier synchronously when it holds the entry', async () => {
    const front = memoryStorage({ now: () => NOW });
    const back = remote();
    const tiered = tieredStorage([front, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('hello'), meta());
    expect(await text(front.get(key(0)))).toBe('hello');
    expect(await text(back.inner.get(key(0)))).toBe('hello');
    const hit = tiered.get(key(0));
    expect(hit).not.toBeInstanceOf(Promise);
    expect(await text(hit)).toBe('hello');
  });

  it('promotes a hit from a lower tier into every tier above it, with the same meta', async () => {
    const front = memoryStorage({ now: () => NOW });
    const middle = remote('middle');
    const back = remote('back');
    const tiered = tieredStorage([front, middle.store, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('slice'), meta(OBJECT, NOW + 5000));
    front.delete(key(0));
    await middle.inner.delete(key(0));

    expect(await text(tiered.get(key(0)))).toBe('slice');
    expect(await text(front.get(key(0)))).toBe('slice');
    expect(await text(middle.inner.get(key(0)))).toBe('slice');
    // Same meta: the promoted copy belongs to the same object and expires at the same instant.
    expect(front.purgeObject(OBJECT)).toBe(1);
    expect(await middle.inner.purgeObject(OBJECT)).toBe(1);
  });

  it('serves without promoting an entry it never saw written, a sub-range, or an expired one', async () => {
    let clock = NOW;
    const front = memoryStorage({ now: () => clock });
    const back = remote();
    const tiered = tieredStorage([front, back.store], { now: () => clock });
    back.inner.set(key(0), bytes('foreign'), meta());
    expect(await text(tiered.get(key(0)))).toBe('foreign');
    expect(front.get(key(0))).toBeUndefined();

    await tiered.set(key(1), bytes('abcdef'), meta());
    front.delete(key(1));
    expect(await text(tiered.get(key(1), { start: 1, end: 3 }))).toBe('bcd');
    expect(front.get(key(1))).toBeUndefined();

    await tiered.set(key(2), bytes('old'), meta(OBJECT, NOW + 10));
    front.delete(key(2));
    back.inner.set(key(2), bytes('old'), meta(OBJECT, NOW + 1000)); // the lower tier still has it
    clock = NOW + 10;
    expect(await text(tiered.get(key(2)))).toBe('old');
    expect(front.get(key(2))).toBeUndefined();
  });

  it('never passes options.allocate down: a hit from a lower tier is kept by the tier above, not the caller', async () => {
    const front = memoryStorage({ now: () => NOW });
    const back = memoryStorage({ now: () => NOW });
    const seen: unknown[] = [];
    const watched: CacheStorage = {
      get: (k, range, options) => {
        seen.push(options);
        return back.get(k, range);
      },
      set: (k, value, m) => back.set(k, value, m),
      delete: (k) => back.delete(k),
      purgeObject: (objectKey) => back.purgeObject(objectKey),
      stats: () => back.stats(),
      close: () => back.close(),
    };
    const tiered = tieredStorage([front, watched], { now: () => NOW });
    await tiered.set(key(0), bytes('slice'), meta());
    front.delete(key(0));
    const allocate = (n: number): Uint8Array => new Uint8Array(n);
    expect(await text(tiered.get(key(0), undefined, { allocate }))).toBe('slice');
    expect(seen).toEqual([undefined]);
  });

  it('ignores a promotion that fails', async () => {
    const back = remote('back');
    const broken: CacheStorage = { ...remote('front').store, set: () => Promise.reject(new Error('full')) };
    const tiered = tieredStorage([broken, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('x'), meta());
    expect(await text(tiered.get(key(0)))).toBe('x');
    await tiered.close(); // waits for the failed promotion without rejecting on it
  });

  it('does not write a hit read before a purge back into the upper tier after it', async () => {
    const front = memoryStorage({ now: () => NOW });
    const back = remote();
    const tiered = tieredStorage([front, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('stale'), meta());
    front.delete(key(0));

    let release: () => void = () => undefined;
    back.state.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reading = tiered.get(key(0)); // has read the lower tier; the answer is still on its way
    expect(await tiered.purgeObject(OBJECT)).toBe(1);
    release();
    expect(await text(reading)).toBe('stale');
    expect(front.get(key(0))).toBeUndefined();
    expect(back.inner.get(key(0))).toBeUndefined();
  });

  it('lets a promotion being written land before a purge clears the upper tier', async () => {
    const front = remote('front');
    const back = remote('back');
    const tiered = tieredStorage([front.store, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('promoted'), meta());
    await front.inner.delete(key(0));

    let release: () => void = () => undefined;
    front.state.holdSet = new Promise<void>((resolve) => {
      release = resolve;
    });
    expect(await text(tiered.get(key(0)))).toBe('promoted'); // served; its promotion is still being written
    const purging = tiered.purgeObject(OBJECT);
    release();
    await purging;
    expect(front.inner.get(key(0))).toBeUndefined();
    expect(back.inner.get(key(0))).toBeUndefined();
  });

  it('keeps working when one tier fails and rejects only when every tier fails', async () => {
    const front = remote('front');
    const back = remote('back');
    const tiered = tieredStorage([front.store, back.store], { now: () => NOW });
    back.state.failing = true;
    await tiered.set(key(0), bytes('a'), meta());
    expect(await text(tiered.get(key(0)))).toBe('a');
    expect(await text(tiered.get(key(1)))).toBeUndefined();

    back.state.failing = false;
    await tiered.set(key(1), bytes('b'), meta());
    front.state.failing = true;
    expect(await text(tiered.get(key(1)))).toBe('b');
    expect((await tiered.stats()).tiers).toEqual([
      { bytes: 0, entries: 0 },
      { bytes: 1, entries: 1 },
    ]);

    back.state.failing = true;
    for (const call of [
      () => tiered.get(key(1)),
      () => tiered.set(key(2), bytes('c'), meta()),
      () => tiered.delete(key(1)),
      () => tiered.purgeObject(OBJECT),
      () => tiered.stats(),
    ]) {
      const error = await rejection(call());
      expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
    }
  });

  it('deletes and purges in every tier, counting the largest tier', async () => {
    const front = memoryStorage({ now: () => NOW });
    const back = remote();
    const tiered = tieredStorage([front, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('a'), meta());
    await tiered.set(key(1), bytes('b'), meta());
    await tiered.set(key(0, OTHER), bytes('c'), meta(OTHER));
    front.delete(key(1));
    expect(await tiered.delete(key(0, OTHER))).toBe(true);
    expect(await tiered.delete(key(0, OTHER))).toBe(false);
    expect(await tiered.purgeObject(OBJECT)).toBe(2);
    expect(front.stats()).toEqual({ bytes: 0, entries: 0 });
    expect(await back.inner.stats()).toEqual({ bytes: 0, entries: 0 });
  });

  it('reports each tier, with the largest tier on top', async () => {
    const front = memoryStorage({ now: () => NOW });
    const back = remote();
    const tiered = tieredStorage([front, back.store], { now: () => NOW });
    await tiered.set(key(0), bytes('abc'), meta());
    back.inner.set(key(1), bytes('de'), meta());
    expect(await tiered.stats()).toEqual({
      bytes: 5,
      entries: 2,
      tiers: [
        { bytes: 3, entries: 1 },
        { bytes: 5, entries: 2 },
      ],
    });
  });

  it('closes every tier even when one fails to close, then reports the failure', async () => {
    const front = remote('front');
    const back = remote('back');
    const tiered = tieredStorage([front.store, back.store]);
    front.state.failing = true;
    const error = await rejection(tiered.close());
    expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
    expect(back.state.closed).toBe(true);
  });

  it('is trusted without the engine checksum only when every tier is in-process or checksums its own entries', () => {
    const plain = (flags: Partial<CacheStorage>): CacheStorage => ({
      ...memoryStorage(),
      inProcess: false,
      ...flags,
    });
    const trust = (tiers: CacheStorage[]) => {
      const store = tieredStorage(tiers);
      return { inProcess: store.inProcess, checksummed: store.checksummed };
    };
    expect(trust([memoryStorage(), memoryStorage()])).toEqual({ inProcess: true, checksummed: true });
    expect(trust([memoryStorage(), plain({ checksummed: true })])).toEqual({
      inProcess: false,
      checksummed: true,
    });
    expect(trust([memoryStorage(), plain({})])).toEqual({ inProcess: false, checksummed: false });
    expect(trust([plain({ checksummed: true }), plain({})])).toEqual({
      inProcess: false,
      checksummed: false,
    });
  });

  it('asks tiers whether they hold an entry in order, stopping at the first yes, synchronously from memory', async () => {
    const front = memoryStorage({ now: () => NOW });
    const asked: string[] = [];
    const tier = (name: string, held: boolean): CacheStorage => ({
      ...remote(name).store,
      has: async () => {
        asked.push(name);
        return held;
      },
    });
    const tiered = tieredStorage([front, tier('middle', true), tier('back', true)], { now: () => NOW });
    expect(await tiered.has?.(key(0))).toBe(true);
    expect(asked).toEqual(['middle']);
    await tiered.set(key(1), bytes('front'), meta());
    asked.length = 0;
    expect(tiered.has?.(key(1))).toBe(true); // a boolean, not a promise
    expect(asked).toEqual([]);
    const none = tieredStorage([front, tier('a', false), tier('b', false)]);
    asked.length = 0;
    expect(await none.has?.(key(2))).toBe(false);
    expect(asked).toEqual(['a', 'b']);
  });

  it('counts a tier without has as not holding the entry, and has no has when no tier has one', async () => {
    const back = remote();
    await back.store.set(key(0), bytes('back'), meta());
    const tiered = tieredStorage([memoryStorage({ now: () => NOW }), back.store]);
    expect(await tiered.has?.(key(0))).toBe(false);
    expect(await text(tiered.get(key(0)))).toBe('back');
    expect(tieredStorage([remote().store, remote().store]).has).toBeUndefined();
  });

  it('skips a tier whose has fails, and rejects only when every tier that can answer failed', async () => {
    const throwing: CacheStorage = {
      ...remote().store,
      has: () => {
        throw new Error('sync failure');
      },
    };
    const rejecting: CacheStorage = { ...remote().store, has: async () => Promise.reject(new Error('down')) };
    const holding: CacheStorage = { ...remote().store, has: async () => true };
    expect(await tieredStorage([throwing, rejecting, holding]).has?.(key(0))).toBe(true);
    for (const tiers of [[throwing, rejecting], [rejecting], [throwing, remote().store]]) {
      const error = await rejection(tieredStorage(tiers).has?.(key(0)));
      expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
    }
    const memoryMiss = tieredStorage([memoryStorage(), rejecting]);
    expect(await memoryMiss.has?.(key(0))).toBe(false); // one tier answered: a miss, not a failure
  });

  it('rejects an empty tier list and a bad maxTrackedEntries with ERR_SLICE_CONFIG', () => {
    expect(() => tieredStorage([])).toThrow(expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }));
    expect(() => tieredStorage([memoryStorage()], { maxTrackedEntries: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }),
    );
  });
});

runCacheStorageConformance('tieredStorage (memory in front of memory)', ({ maxBytes, now }) => ({
  store: tieredStorage([memoryStorage({ maxBytes, now }), memoryStorage({ maxBytes, now })], { now }),
}));

describe('tieredStorage with memory in front of Redis', () => {
  let redis: TestRedisServer;
  let prefixes = 0;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis?.dispose();
  });

  runCacheStorageConformance(
    'tieredStorage (memory in front of Redis)',
    ({ maxBytes, now }) => ({
      store: tieredStorage([
        memoryStorage({ maxBytes, now }),
        redisStorage({ url: redis.url, prefix: `tiered${++prefixes}:`, now, statsSource: 'scan' }),
      ]),
    }),
    {
      skip: {
        'expiry-clock': 'the Redis tier expires keys by its own clock (PX), so it still serves the entry',
        'has-expiry': 'the Redis tier expires keys by its own clock (PX), so it still holds the entry',
        'byte-budget': 'the Redis tier keeps what the memory tier evicts; its budget is maxmemory',
      },
    },
  );

  it('claims fills through the Redis tier, so processes sharing it coordinate (R16)', async () => {
    const shared = { url: redis.url, prefix: `tiered-lock${++prefixes}:` };
    const one = tieredStorage([memoryStorage(), redisStorage(shared)]);
    const two = tieredStorage([memoryStorage(), redisStorage(shared)]);
    try {
      expect(typeof one.lock).toBe('function');
      expect(await one.lock?.(key(7), 5_000)).toBe(true);
      expect(await two.lock?.(key(7), 5_000)).toBe(false);
      await one.unlock?.(key(7));
      expect(await two.lock?.(key(7), 5_000)).toBe(true);
      expect(tieredStorage([memoryStorage(), memoryStorage()]).lock).toBeUndefined();
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('promotes Redis hits into memory and keeps serving from memory while Redis is down', async () => {
    const front = memoryStorage();
    const back = redisStorage({ url: redis.url, timeoutMs: 500 });
    const tiered = tieredStorage([front, back]);
    try {
      const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const m = meta(OBJECT, Date.now() + 60_000);
      await tiered.set(key(0), [value.subarray(0, 100), value.subarray(100)], m);
      front.delete(key(0));
      expect(await text(front.get(key(0)))).toBeUndefined();
      expect(Buffer.concat((await tiered.get(key(0))) ?? []).equals(value)).toBe(true);
      expect(front.get(key(0))).toBeDefined();

      await redis.kill();
      expect(Buffer.concat((await tiered.get(key(0))) ?? []).equals(value)).toBe(true);
      await tiered.set(key(1), bytes('memory only'), m);
      expect(await text(tiered.get(key(1)))).toBe('memory only');
      expect(await tiered.purgeObject(OBJECT)).toBe(2);
    } finally {
      await tiered.close();
      await redis.start();
    }
  });
});
