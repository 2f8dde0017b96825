/**
 * Short, renewed fill claims in the Redis store (R12, R22), against a real `redis-server`: `renew` extends
 * only this store's own claim; a holder whose fill keeps receiving bytes keeps its claim far past the claim's
 * lifetime, so a waiting process never fetches the slice a second time; and a holder that dies (its client
 * closed without `unlock`) is replaced as soon as its claim lapses — the waiter takes the claim itself, long
 * before its coalescing wait would have ended. Checked through Redis's own keys and the origin's counts.
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryStorage } from '../../src/storage/memory.js';
import { type RedisStorage, redisStorage } from '../../src/storage/redis.js';
import { tieredStorage } from '../../src/storage/tiered.js';
import { closeFetchers, drain, KiB, makeFetcher } from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

const SLICE = 64 * KiB;

let origin: TestOrigin;
let redis: TestRedisServer;
let raw: ReturnType<typeof createClient>;
let prefixes = 0;
const stores: RedisStorage[] = [];

beforeAll(async () => {
  [origin, redis] = await Promise.all([startOrigin(), startRedisServer()]);
  raw = createClient({ url: redis.url });
  await raw.connect();
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  origin.configure({ throttleBytesPerSecond: 0 });
  origin.resetStats();
});
afterAll(async () => {
  raw?.destroy();
  await Promise.all([origin?.close(), redis?.dispose()]);
});

function store(prefix: string, lockMs: number): RedisStorage {
  const created = redisStorage({ url: redis.url, prefix, lockMs, statsSource: 'scan' });
  stores.push(created);
  return created;
}

/** The claim keys under `prefix` (a test database holds a handful of keys: KEYS is fine here). */
function claims(prefix: string): Promise<string[]> {
  return raw.keys(`${prefix}{*}#lock:*`);
}

describe('renewed fill claims', () => {
  it('renews only its own claim, and says when the claim is no longer its own', async () => {
    const prefix = `cl${++prefixes}:`;
    const [a, b] = [store(prefix, 1000), store(prefix, 1000)];
    const key = `${'ef'.repeat(16)}.slice-1`;
    expect(a.lockMs).toBe(1000);
    expect(await a.lock(key, 1000)).toBe(true);
    expect(await a.renew(key, 60_000)).toBe(true);
    const [name] = await claims(prefix);
    expect(await raw.pTTL(name as string)).toBeGreaterThan(1000);
    expect(await b.renew(key, 60_000)).toBe(false); // not b's claim
    await a.unlock(key);
    expect(await a.renew(key, 60_000)).toBe(false); // released: nothing left to renew
    expect(await claims(prefix)).toEqual([]);
  });

  it('claims and renews through a tiered store in front of Redis, with the Redis claim lifetime', async () => {
    const prefix = `cl${++prefixes}:`;
    const tiered = tieredStorage([memoryStorage(), store(prefix, 700)]);
    const key = `${'ab'.repeat(16)}.slice-2`;
    expect(tiered.lockMs).toBe(700);
    expect(await tiered.lock?.(key, 700)).toBe(true);
    expect(await tiered.renew?.(key, 60_000)).toBe(true);
    expect(await raw.pTTL((await claims(prefix))[0] as string)).toBeGreaterThan(700);
    await tiered.unlock?.(key);
    expect(await claims(prefix)).toEqual([]);
  });

  it('keeps a claim through a fill that outlasts the claim lifetime, so a waiting process never fetches it too', async () => {
    const prefix = `cl${++prefixes}:`;
    const lockMs = 300;
    const [a, b] = [store(prefix, lockMs), store(prefix, lockMs)];
    const size = 4 * SLICE;
    const { seed } = origin.setObject('/slow.bin', { size });
    const options = { sliceSize: SLICE, concurrency: 4, timeouts: { coalesceMs: 60_000 } };
    const [first, second] = [makeFetcher({ ...options, cache: a }), makeFetcher({ ...options, cache: b })];
    // The first process learns the object (metadata and slice 0), so the second reads its metadata from Redis.
    expect(
      (await drain(await first.fetch(origin.url('/slow.bin'), { headers: { range: 'bytes=0-9' } }))).error,
    ).toBeUndefined();
    await vi.waitFor(async () => expect((await a.stats()).entries).toBe(2), {
      timeout: 10_000,
      interval: 20,
    });

    // Slices 1–3 now trickle at ~64 KiB/s: each fill takes about three claim lifetimes.
    origin.configure({ throttleBytesPerSecond: SLICE });
    const renewals = vi.spyOn(a, 'renew');
    const held = new Promise<void>((resolve) => {
      const seen = new Set<string>();
      origin.on('request', (entry) => {
        if (entry.path === '/slow.bin' && entry.range !== undefined) seen.add(entry.range);
        if (seen.size === 3) resolve();
      });
    });
    const tail = { headers: { range: `bytes=${SLICE}-` } };
    const slow = first.fetch(origin.url('/slow.bin'), tail).then(drain);
    await held; // the first process holds the claims of slices 1–3
    const waiting = second.fetch(origin.url('/slow.bin'), tail).then(drain);
    const [mine, theirs] = await Promise.all([slow, waiting]);
    for (const { bytes, error } of [mine, theirs]) {
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seed, SLICE, size - 1))).toBe(true);
    }
    const counts = origin.rangeCounts('/slow.bin');
    for (const index of [1, 2, 3]) expect(counts.get(`${index * SLICE}-${(index + 1) * SLICE - 1}`)).toBe(1);
    // Renewed (and granted) more than three times per claim on average: the fills outlived the lifetime.
    const granted = await Promise.all(
      renewals.mock.results.map((result) => result.value as Promise<boolean>),
    );
    expect(granted.filter(Boolean).length).toBeGreaterThanOrEqual(3 * 3);
  });

  it('takes over the claim of a holder that died as soon as it lapses, not after the coalescing wait', async () => {
    const prefix = `cl${++prefixes}:`;
    const lockMs = 400;
    const [doomed, survivor] = [store(prefix, lockMs), store(prefix, lockMs)];
    const size = 4 * SLICE;
    const { seed } = origin.setObject('/orphaned.bin', { size });
    const range2 = `bytes=${2 * SLICE}-${3 * SLICE - 1}`;
    // The holder's request for slice 2 hangs at the origin until the end of the test: it claimed, then died.
    let release: () => void = () => {};
    const hang = new Promise<void>((resolve) => {
      release = resolve;
    });
    origin.addFault({
      path: '/orphaned.bin',
      match: (r) => r.n <= 4 && r.rangeHeader === range2,
      fault: { type: 'wait', until: hang },
    });
    const options = { sliceSize: SLICE, concurrency: 4, timeouts: { coalesceMs: 60_000 } };
    const holder = makeFetcher({ ...options, cache: doomed });
    const reached = new Promise<void>((resolve) =>
      origin.on('request', (entry) => {
        if (entry.path === '/orphaned.bin' && entry.range === range2) resolve();
      }),
    );
    const controller = new AbortController();
    const dying = holder.fetch(origin.url('/orphaned.bin'), { signal: controller.signal }).then(drain);
    await reached;
    await vi.waitFor(async () => expect(await claims(prefix)).toHaveLength(1), {
      timeout: 10_000,
      interval: 20,
    });
    const [claim] = (await claims(prefix)) as [string];
    const deadToken = await raw.get(claim);
    await doomed.close(); // the process dies: its client goes, no unlock ever reaches Redis
    controller.abort();
    await dying;

    // The survivor waits on the dead claim; when its slice-2 request reaches the origin, it holds the claim.
    let claimAtFetch: Promise<string | null> | undefined;
    origin.on('request', (entry) => {
      if (entry.path === '/orphaned.bin' && entry.range === range2 && claimAtFetch === undefined)
        claimAtFetch = raw.get(claim);
    });
    release();
    const { bytes, error } = await drain(
      await makeFetcher({ ...options, cache: survivor }).fetch(origin.url('/orphaned.bin')),
    );
    expect(error).toBeUndefined();
    expect(bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    const token = await claimAtFetch;
    expect(token).not.toBeNull(); // fetched under a claim: not after giving up the 60 s wait
    expect(token).not.toBe(deadToken); // the survivor's own, taken once the dead one lapsed
  });
});
