/**
 * Two real `slice-proxy` processes sharing one `redis-server` (R16): the second serves what the first
 * cached without asking the origin, and concurrent cold requests split across both fetch every slice past the
 * reference from the origin once (the fill claims in Redis, R12).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { redisStorage } from '../../src/storage/redis.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { killAll, runCli } from './cli-helpers.js';

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

/** Starts one proxy on the shared Redis and resolves its base URL from the "listening" log line. */
async function startProxy(): Promise<string> {
  const cli = runCli('slice-proxy', [
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
    '--redis-url',
    redis.url,
  ]);
  const line = await cli.waitForLog('listening');
  return `http://${String(line.listen)}`;
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
