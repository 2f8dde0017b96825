import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSliceFetcher, memoryStorage } from '../../src/index.js';
import { combineHooks, prometheusMetrics } from '../../src/metrics/prometheus.js';
import { contentHash, hashStream } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const KiB = 1024;
let origin: TestOrigin;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin.close());

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  const match = data.values.find((v) =>
    Object.entries(labels).every(([k, l]) => String((v.labels as Record<string, unknown>)[k]) === l),
  );
  return match?.value ?? 0;
}

describe('prometheusMetrics', () => {
  it('counts requests, sub-requests, cache traffic and bytes of fetches through a real origin', async () => {
    const size = 512 * KiB;
    const { seed } = origin.setObject('/metrics/a.bin', { size });
    const store = memoryStorage({ maxBytes: 64 * 1024 * KiB });
    const metrics = prometheusMetrics({ cache: store });
    const fetcher = createSliceFetcher({ sliceSize: 64 * KiB, cache: store, hooks: metrics });
    metrics.observe(fetcher);
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetcher.fetch(origin.url('/metrics/a.bin'));
        const { hash } = await hashStream(res.body as AsyncIterable<Uint8Array>);
        expect(hash).toBe(contentHash(seed, 0, size - 1));
      }
      const r = metrics.registry;
      expect(await value(r, 'slice_fetch_requests_total', { outcome: 'miss' })).toBe(1);
      expect(await value(r, 'slice_fetch_requests_total', { outcome: 'hit' })).toBe(1);
      expect(await value(r, 'slice_fetch_subrequests_total', { status: '206' })).toBe(8);
      expect(await value(r, 'slice_fetch_cache_hits_total')).toBe(8);
      expect(await value(r, 'slice_fetch_cache_stores_total')).toBe(8);
      expect(await value(r, 'slice_fetch_bytes_total', { source: 'origin' })).toBe(size);
      expect(await value(r, 'slice_fetch_bytes_total', { source: 'cache' })).toBe(size);
      expect(await value(r, 'slice_fetch_response_bytes_total')).toBe(2 * size);
      expect(await value(r, 'slice_fetch_slices_in_flight')).toBe(0);
      expect(await value(r, 'slice_fetch_cache_bytes')).toBeGreaterThanOrEqual(size);
      const text = await r.metrics();
      expect(text).toContain('slice_fetch_slice_duration_seconds_count 8');
      expect(text).toMatch(/slice_fetch_request_duration_seconds_count\{outcome="miss"\} 1/);
    } finally {
      await fetcher.close();
    }
  });

  it('counts retries and the failed attempts by origin status', async () => {
    origin.setObject('/metrics/flaky.bin', { size: 128 * KiB });
    origin.addFault({
      path: '/metrics/flaky.bin',
      match: (r) => r.n === 1,
      fault: { type: 'status', status: 503, retryAfter: '0' },
    });
    const metrics = prometheusMetrics({ prefix: 'sf_' });
    const fetcher = createSliceFetcher({ sliceSize: 64 * KiB, cache: false, hooks: metrics });
    try {
      const res = await fetcher.fetch(origin.url('/metrics/flaky.bin'));
      await hashStream(res.body as AsyncIterable<Uint8Array>);
      expect(await value(metrics.registry, 'sf_retries_total')).toBe(1);
      expect(await value(metrics.registry, 'sf_subrequests_total', { status: '503' })).toBe(1);
      expect(await value(metrics.registry, 'sf_subrequests_total', { status: '206' })).toBe(2);
    } finally {
      await fetcher.close();
    }
  });

  it('registers in the given registry and never in the global one', async () => {
    const { register } = await import('prom-client');
    const registry = new Registry();
    const metrics = prometheusMetrics({ registry, prefix: 'own_' });
    expect(metrics.registry).toBe(registry);
    expect(registry.getSingleMetric('own_requests_total')).toBeDefined();
    expect(register.getSingleMetric('own_requests_total')).toBeUndefined();
    expect(register.getSingleMetric('slice_fetch_requests_total')).toBeUndefined();
  });

  it('combineHooks calls every hook object that implements an event', () => {
    const seen: string[] = [];
    const hooks = combineHooks({ onBytes: (e) => seen.push(`a${e.bytes}`) }, undefined, {
      onBytes: (e) => seen.push(`b${e.bytes}`),
      onCacheMiss: () => seen.push('miss'),
    });
    hooks.onBytes?.({ requestId: '1', url: 'http://x/', source: 'origin', bytes: 5 });
    hooks.onCacheMiss?.({ requestId: '1', url: 'http://x/', index: 0, range: { start: 0, end: 1 } });
    expect(seen).toEqual(['a5', 'b5', 'miss']);
    expect(hooks.onSliceStart).toBeUndefined();
  });
});
