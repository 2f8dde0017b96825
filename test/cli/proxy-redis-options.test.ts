/**
 * The Redis keys of `slice-proxy` (R18, R22): a Redis Cluster named by `store.redisCluster` in YAML or
 * `--redis-cluster` (repeated or comma-separated), exclusive with `redisUrl`; and no byte cap on Redis unless
 * `store.maxBytes` / `--cache-size` says so (memory and disk tiers still default to 256 MiB).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProxyConfig } from '../../src/cli/load-proxy-config.js';
import type { SliceProxyConfig } from '../../src/cli/proxy-config.js';
import { isSliceFetchError } from '../../src/core/errors.js';

const UPSTREAM = ['--upstream', 'http://127.0.0.1:8000'];
const dir = mkdtempSync(join(tmpdir(), 'proxy-redis-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function load(argv: readonly string[]): Promise<SliceProxyConfig> {
  const config = await loadProxyConfig(argv);
  if (config === 'help' || config === 'version') throw new Error(`unexpected ${config}`);
  return config;
}

async function refusal(argv: readonly string[]): Promise<string> {
  try {
    await loadProxyConfig(argv);
  } catch (error) {
    if (isSliceFetchError(error) && error.code === 'ERR_SLICE_CONFIG') return error.message;
    throw error;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

describe('slice-proxy Redis options', () => {
  it('names a cluster with --redis-cluster, repeated or comma-separated', async () => {
    const config = await load([
      ...UPSTREAM,
      '--cache',
      'redis',
      '--redis-cluster',
      'redis://10.0.0.1:6379,redis://10.0.0.2:6379',
      '--redis-cluster',
      'rediss://10.0.0.3:6380',
    ]);
    expect(config.store).toMatchObject({
      type: 'redis',
      redisCluster: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379', 'rediss://10.0.0.3:6380'],
    });
  });

  it('names a cluster with store.redisCluster in YAML', async () => {
    const file = join(dir, 'cluster.yaml');
    writeFileSync(
      file,
      'upstream: http://127.0.0.1:8000\nstore:\n  type: tiered\n  redisCluster: [redis://a:6379, redis://b:6379]\n',
    );
    const config = await load(['--config', file]);
    expect(config.store).toMatchObject({
      type: 'tiered',
      redisCluster: ['redis://a:6379', 'redis://b:6379'],
    });
    expect(config.store.dir).toBeUndefined(); // tiered in front of Redis needs no disk
  });

  it('refuses a redis cache without an address, both addresses, and a node that is not a Redis URL', async () => {
    expect(await refusal([...UPSTREAM, '--cache', 'redis'])).toContain(
      'Expected `store.redisUrl` (--redis-url) or `store.redisCluster` (--redis-cluster) to be set',
    );
    expect(
      await refusal([...UPSTREAM, '--redis-url', 'redis://a:6379', '--redis-cluster', 'redis://b:6379']),
    ).toContain(
      'Expected one of `store.redisUrl` (--redis-url) and `store.redisCluster` (--redis-cluster), got both.',
    );
    expect(await refusal([...UPSTREAM, '--redis-cluster', 'http://b:6379'])).toContain(
      'Expected `store.redisCluster.0` to be a redis:// or rediss:// URL, got `"http://b:6379"`.',
    );
  });

  it('sets no byte budget unless --cache-size gives one', async () => {
    expect(
      (await load([...UPSTREAM, '--cache', 'redis', '--redis-url', 'redis://a:6379'])).store.maxBytes,
    ).toBe(undefined);
    const capped = await load([
      ...UPSTREAM,
      '--cache',
      'redis',
      '--redis-url',
      'redis://a:6379',
      '--cache-size',
      '1GiB',
    ]);
    expect(capped.store.maxBytes).toBe(1024 ** 3);
  });
});
