/**
 * The ratios `npm run bench` hands to the chart (bench/chart.ts), one per workload it measured.
 *
 * @module
 */
import type { ChartEntry } from '../chart.js';
import { handlerColdRatio } from '../handler-cold/tables.js';
import { medianMs, type Samples } from '../report.js';
import { rangeRatio } from '../small-ranges/tables.js';
import type { RangeSamples } from '../small-ranges/targets.js';
import type { BenchOptions } from './options.js';

/**
 * The ratios this run measured, for the chart (each a throughput or req/s ratio: higher favours slice-fetch).
 *
 * @example
 * ```ts
 * updateChart(dir, chartEntries(options, results, rangeResults), meta);
 * ```
 */
export function chartEntries(
  options: BenchOptions,
  results: ReadonlyMap<string, Samples>,
  ranges: ReadonlyMap<string, RangeSamples>,
): ChartEntry[] {
  const t = (id: string): number => medianMs(results, id);
  const out: ChartEntry[] = [];
  if (options.withCases123)
    out.push(
      {
        id: 'c1.vs-aria2c',
        workload: 'Case 1: 64 MiB, origin limited to 20 MiB/s per connection',
        ours: 'slice-fetch fetch(), first fetch',
        peer: 'aria2c -x8 -s8 -k1M',
        ratio: t('c1.aria2c') / t('c1.response'),
      },
      {
        id: 'c2.warm.vs-get',
        workload: 'Case 2: 1 GiB warm (memory store), unthrottled nginx',
        ours: 'slice-fetch fetch() + reader',
        peer: 'one undici GET from the origin',
        ratio: t('c2.undici') / t('c2.warm.response'),
      },
    );
  if (options.withCases123 || options.withCase6)
    out.push({
      id: 'c2.cold.vs-get',
      workload: 'Cases 2 and 6: 1 GiB cold, unthrottled nginx',
      ours: 'fetcher.fetch(), Response body read',
      peer: 'one undici request() GET',
      ratio: t('c2.undici') / t('c2.cold.response'),
    });
  if (options.withCase4)
    out.push(
      {
        id: 'c4.fs.warm',
        workload: 'Case 4: 1 GiB warm from a disk store, in-process',
        ours: 'slice-fetch fsStorage, new process',
        peer: 'nginx slice + proxy_cache (undici GET)',
        ratio: t('c4.nginx.warm') / t('c4.fs.warm'),
      },
      {
        id: 'c4.fs.cold',
        workload: 'Case 4: 1 GiB cold into a disk store, in-process',
        ours: 'slice-fetch fsStorage',
        peer: 'nginx slice + proxy_cache (undici GET)',
        ratio: t('c4.nginx.cold') / t('c4.fs.cold'),
      },
      {
        id: 'c4p.warm',
        workload: 'Case 4: 1 GiB warm from disk, proxy vs proxy (curl)',
        ours: 'slice-proxy --cache fs',
        peer: 'nginx slice + proxy_cache',
        ratio: t('c4p.nginx.warm') / t('c4p.fs.warm'),
      },
      {
        id: 'c4p.cold',
        workload: 'Case 4: 1 GiB cold into disk, proxy vs proxy (curl)',
        ours: 'slice-proxy --cache fs',
        peer: 'nginx slice + proxy_cache',
        ratio: t('c4p.nginx.cold') / t('c4p.fs.cold'),
      },
    );
  if (options.withCase5)
    out.push(
      {
        id: 'c5.vs-nginx',
        workload: 'Case 5: warm 4 KiB ranges, req/s (wrk -c64)',
        ours: 'createSliceHandler() in node:http',
        peer: 'nginx slice + proxy_cache',
        ratio: rangeRatio(ranges, 'c5.nginx'),
      },
      {
        id: 'c5.vs-bare',
        workload: 'Case 5: warm 4 KiB ranges, req/s, against the floor',
        ours: 'createSliceHandler() in node:http',
        peer: 'bare node:http, 4 KiB from memory',
        ratio: rangeRatio(ranges, 'c5.bare'),
      },
    );
  if (options.withCase7)
    out.push({
      id: 'c7.cold',
      workload: 'Case 7: 1 GiB cold through the handler (curl)',
      ours: 'createSliceHandler() in node:http, 1.5 GiB memory store',
      peer: 'nginx slice + proxy_cache, cold',
      ratio: handlerColdRatio(results),
    });
  return out;
}
