/**
 * Two real `slice-proxy` processes sharing one `redis-server` (R16): the second serves what the first
 * cached without asking the origin, and concurrent cold requests split across both fetch every slice past the
 * reference from the origin once (the fill claims in Redis, R12). With `--cache coordinated` (R22) each keeps
 * the bytes on its own disk, and a PURGE through one reaches the other's disk copy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { redisStorage } from '../../src/storage/redis.js';
import { FIXED_VALIDATORS } from '../engine/purge-helpers.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { killAll, startSliceProxy } from './cli-helpers.js';

const KiB = 1024;
const SLICE = 64 * KiB;
let origin: TestOrigin;
let redis: TestRedisServer;

beforeAll(async () => {
  [origin, redis] = await Promise.all([startOrigin(), startRedisServer()]);
});
afterAll(async () => {
  await Promise.all([origin.close(), redis.dispose()]);
});
afterEach(() => {
  killAll();
  origin.resetStats();
});

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts one proxy on the shared Redis and resolves its base URL. */
async function startProxy(extra: readonly string[] = ['--cache', 'redis']): Promise<string> {
  return (await startSliceProxy(origin.url('/'), ['--redis-url', redis.url, ...extra])).base;
}

async function body(url: string): Promise<Buffer> {
  const res = await fetch(url);
  expect(res.ok).toBe(true);
  return Buffer.from(await res.arrayBuffer());
}

describe('two slice-proxy processes on one Redis', () => {
  it('serves from the second proxy an object the first cached, with no origin request', async () => {
    const [first, second] = await Promise.all([startProxy(), startProxy()]);
    const { seed } = origin.setObject('/two/warm.bin', { size: 4 * SLICE });
    const expected = contentBytes(seed, 0, 4 * SLICE - 1);
    expect((await body(`${first}/two/warm.bin`)).equals(expected)).toBe(true);
    // The writes land off the response path: wait until the four slices and the metadata are in Redis.
    const store = redisStorage({ url: redis.url, statsSource: 'scan' }); // this namespace's entries, exactly
    try {
      await vi.waitFor(async () => expect((await store.stats()).entries).toBe(5));
    } finally {
      await store.close();
    }
    origin.resetStats();
    expect((await body(`${second}/two/warm.bin`)).equals(expected)).toBe(true);
    expect(origin.stats.requests).toBe(0);
  });

  it('fetches every slice once, the reference too, when 20 cold requests are split across both proxies', async () => {
    const proxies = await Promise.all([startProxy(), startProxy()]);
    const { seed } = origin.setObject('/two/cold.bin', { size: 12 * SLICE });
    const expected = contentBytes(seed, 0, 12 * SLICE - 1);
    const bodies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => body(`${proxies[i % 2] as string}/two/cold.bin`)),
    );
    for (const bytes of bodies) expect(bytes.equals(expected)).toBe(true);
    const counts = origin.rangeCounts('/two/cold.bin');
    expect(counts.size).toBe(12);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});

/** How long to wait for a write to land or a purge notice to arrive (a poll every 50 ms). */
const WAIT = { timeout: 5000, interval: 50 };

describe('two slice-proxy processes with --cache coordinated (bytes on their own disks, Redis coordinating)', () => {
  it('serves warm from each disk, and a PURGE through one makes the other drop its disk copy', async () => {
    const coordinated = (): string[] => {
      const dir = mkdtempSync(join(tmpdir(), 'slice-proxy-coordinated-'));
      dirs.push(dir);
      return ['--cache', 'coordinated', '--cache-dir', dir, '--purge-token', 't'];
    };
    const [first, second] = await Promise.all([startProxy(coordinated()), startProxy(coordinated())]);
    // Validators that cannot tell the two versions apart, fresh for an hour: only the purge can.
    const size = 4 * SLICE + 7;
    origin.setObject('/two/coordinated.bin', { size, seed: 1, ...FIXED_VALIDATORS });
    for (const proxy of [first, second]) {
      expect((await body(`${proxy}/two/coordinated.bin`)).equals(contentBytes(1, 0, size - 1))).toBe(true);
      // Each proxy's own disk serves it once its writes landed.
      await vi.waitFor(async () => {
        const res = await fetch(`${proxy}/two/coordinated.bin`);
        await res.arrayBuffer();
        expect(res.headers.get('x-slice-cache')).toBe('HIT');
      }, WAIT);
    }
    origin.setObject('/two/coordinated.bin', { size, seed: 2, ...FIXED_VALIDATORS });
    const purged = await fetch(`${first}/two/coordinated.bin`, {
      method: 'PURGE',
      headers: { authorization: 'Bearer t' },
    });
    expect(purged.status).toBe(200);
    expect((await body(`${first}/two/coordinated.bin`)).equals(contentBytes(2, 0, size - 1))).toBe(true);
    await vi.waitFor(
      async () =>
        expect((await body(`${second}/two/coordinated.bin`)).equals(contentBytes(2, 0, size - 1))).toBe(true),
      WAIT,
    );
  });
});
