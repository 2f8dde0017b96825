/**
 * A purge on a full Redis (maxmemory + noeviction, the refusal mode design.md R22 says the store degrades through
 * quietly) still purges (P27). Regression: the purge's `SET` of the new generation was refused with OOM and the
 * whole purge was dropped — no new generation, nothing removed, no notice, 404 `{"purged":0}` — so a fetcher
 * started afterwards served the purged bytes. A full Redis still deletes: the generation key goes, and a missing
 * key reads as a new one-off generation (design.md "Purge generations").
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import type { CacheStorage } from '../../src/ports.js';
import { redisStorage } from '../../src/storage/redis.js';
import { closeFetchers, drain, KiB, makeFetcher } from '../engine/e2e-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { FIXED_VALIDATORS as FIXED } from './purge-helpers.js';

const SLICE = 64 * KiB;

let origin: TestOrigin;
let redis: TestRedisServer;
let raw: ReturnType<typeof createClient>;
const stores: CacheStorage[] = [];

beforeAll(async () => {
  origin = await startOrigin();
  redis = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] });
  raw = createClient({ url: redis.url });
  await raw.connect();
});
afterEach(async () => {
  await closeFetchers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await raw.configSet('maxmemory', '0');
});
afterAll(async () => {
  await raw.close();
  await redis.dispose();
  await origin.close();
});

function fetcherOn(prefix: string): InternalSliceFetcher {
  const store = redisStorage({ url: redis.url, prefix });
  stores.push(store);
  return makeFetcher({ cache: store, sliceSize: SLICE, concurrency: 4 });
}

describe('PURGE while Redis is full (noeviction)', () => {
  it('still purges: a fetcher started after the purge does not serve the purged generation', async () => {
    const path = '/review/full-purge.bin';
    const size = 4 * SLICE;
    const first = origin.setObject(path, { size, ...FIXED });
    const url = origin.url(path);
    const a = fetcherOn('fullpurge:');
    const warm = await drain(await a.fetch(url));
    expect(warm.bytes.equals(contentBytes(first.seed, 0, size - 1))).toBe(true);
    // The content changes under the same validators; then Redis fills up (any write is refused with OOM).
    const second = origin.setObject(path, { size, ...FIXED, seed: first.seed + 7 });
    await raw.configSet('maxmemory', '1');
    await expect(raw.set('probe', 'x')).rejects.toThrow(/OOM/);
    await a.purge(url);
    // A process started after the purge answered.
    const b = fetcherOn('fullpurge:');
    const res = await b.fetch(url);
    const after = await drain(res);
    expect(after.error).toBeUndefined();
    expect(res.headers.get('x-slice-cache')).not.toBe('HIT');
    expect(after.bytes.equals(contentBytes(second.seed, 0, size - 1))).toBe(true);
  });
});
