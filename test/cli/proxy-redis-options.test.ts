/**
 * The Redis keys of `slice-proxy` (R18, R22): a Redis Cluster named by `store.redisCluster` in YAML or
 * `--redis-cluster` (repeated or comma-separated), exclusive with `redisUrl`; and no byte cap on Redis unless
 * `store.maxBytes` / `--cache-size` says so (memory and disk tiers still default to 256 MiB).
 */
import { describe, expect, it } from 'vitest';
import { load, refusal, yamlFiles } from './config-helpers.js';

const yamlFile = yamlFiles('proxy-redis-options-');
const UPSTREAM = ['--upstream', 'http://127.0.0.1:8000'];

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
    const file = yamlFile(
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
