/**
 * `prometheusMetrics()`: the {@link Metrics} hooks port as prom-client counters, histograms and gauges (R9),
 * published as the subpath `slice-fetch/prometheus` so the root entry never loads prom-client (an optional peer).
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheStats, CacheStorage, Metrics } from '../ports.js';

export { combineHooks } from './combine-hooks.js';

/** The counters a fetcher reports about itself; `fetcher.stats()` returns a superset. */
export interface FetcherStatsSource {
  /** Returns the fetcher's counters now. */
  stats(): {
    /** Sub-requests in flight now. */
    readonly inFlightSlices: number;
    /** Requests in progress. */
    readonly activeRequests: number;
    /** Slice bytes reserved in the memory budget now. */
    readonly bufferedBytes: number;
  };
}

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Where the metrics are registered. @default a new `Registry` (never prom-client's global one) */
  registry?: Registry;
  /** Prepended to every metric name. @default 'slice_fetch_' */
  prefix?: string;
  /** A store whose occupancy is exported as `cache_bytes` / `cache_entries` gauges at scrape time. @default none */
  cache?: CacheStorage;
  /** Latency buckets in seconds, for the slice and request duration histograms. @default 1 ms … 60 s */
  buckets?: readonly number[];
}

/** The hooks plus the registry they write to, and `observe()` for the gauges only the fetcher knows exactly. */
export interface PrometheusMetrics extends Metrics {
  /** The registry holding the metrics: serve `await registry.metrics()` with `registry.contentType`. */
  readonly registry: Registry;
  /**
   * Reads in-flight slices, active requests and buffered bytes from the fetcher at scrape time. Without it the
   * in-flight gauges are counted from the hooks, which do not see an attempt cancelled by its client.
   */
  observe(source: FetcherStatsSource): void;
}

/**
 * Creates the Prometheus hooks. Pass the result as the fetcher's `hooks` (with {@link combineHooks} to add your
 * own), then expose `registry.metrics()`.
 *
 * @example
 * ```ts
 * import { createSliceFetcher } from 'slice-fetch';
 * import { prometheusMetrics } from 'slice-fetch/prometheus';
 *
 * const metrics = prometheusMetrics();
 * const fetcher = createSliceFetcher({ hooks: metrics });
 * metrics.observe(fetcher);
 * // GET /metrics → res.setHeader('content-type', metrics.registry.contentType); res.end(await metrics.registry.metrics());
 * ```
 */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  const p = options.prefix ?? 'slice_fetch_';
  const registers = [registry];
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
  let source: FetcherStatsSource | undefined;
  // Fallbacks when no fetcher is observed: counted from the hooks.
  let slicesInFlight = 0;
  let requestsInFlight = 0;

  const requests = new Counter({
    name: `${p}requests_total`,
    help: 'Finished requests by outcome (hit, miss, partial, pass, error, …).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: `${p}request_duration_seconds`,
    help: 'Time from fetch() to the end of the body, by outcome.',
    labelNames: ['outcome'] as const,
    buckets,
    registers,
  });
  const responseBytes = new Counter({
    name: `${p}response_bytes_total`,
    help: 'Body bytes delivered to clients.',
    registers,
  });
  const subrequests = new Counter({
    name: `${p}subrequests_total`,
    help: 'Slice sub-request attempts by origin status ("error" when no response came).',
    labelNames: ['status'] as const,
    registers,
  });
  const retries = new Counter({ name: `${p}retries_total`, help: 'Slice retries scheduled.', registers });
  const sliceErrors = new Counter({
    name: `${p}slice_errors_total`,
    help: 'Slices that failed for good.',
    registers,
  });
  const sliceDuration = new Histogram({
    name: `${p}slice_duration_seconds`,
    help: 'Latency of successful slice sub-requests (headers and body).',
    buckets,
    registers,
  });
  const cacheHits = new Counter({
    name: `${p}cache_hits_total`,
    help: 'Slices served from the cache.',
    registers,
  });
  const cacheMisses = new Counter({
    name: `${p}cache_misses_total`,
    help: 'Slices not found in the cache.',
    registers,
  });
  const cacheStores = new Counter({
    name: `${p}cache_stores_total`,
    help: 'Slices written to the cache.',
    registers,
  });
  const cacheErrors = new Counter({
    name: `${p}cache_errors_total`,
    help: 'Cache operations that failed or timed out (served from the origin instead).',
    labelNames: ['operation'] as const,
    registers,
  });
  const bytes = new Counter({
    name: `${p}bytes_total`,
    help: 'Body bytes delivered, by where they came from (origin or cache).',
    labelNames: ['source'] as const,
    registers,
  });
  new Gauge({
    name: `${p}slices_in_flight`,
    help: 'Slice sub-requests in flight.',
    registers,
    collect() {
      this.set(source === undefined ? slicesInFlight : source.stats().inFlightSlices);
    },
  });
  new Gauge({
    name: `${p}requests_in_flight`,
    help: 'Requests whose body is still being delivered.',
    registers,
    collect() {
      this.set(source === undefined ? requestsInFlight : source.stats().activeRequests);
    },
  });
  // Registered eagerly so the series exists before `observe()`; reads 0 until a fetcher is observed.
  new Gauge({
    name: `${p}buffered_bytes`,
    help: 'Slice bytes held in memory by all responses.',
    registers,
    collect() {
      this.set(source === undefined ? 0 : source.stats().bufferedBytes);
    },
  });
  const cache = options.cache;
  if (cache !== undefined) {
    const occupancy = (name: string, help: string, pick: (stats: CacheStats) => number): void => {
      new Gauge({
        name: `${p}${name}`,
        help,
        registers,
        // A failing store leaves the gauge unchanged, never a failed scrape: fail-open, like every cache path.
        async collect() {
          try {
            this.set(pick(await cache.stats()));
          } catch {}
        },
      });
    };
    occupancy('cache_bytes', 'Bytes held by the cache.', (s) => s.bytes);
    occupancy('cache_entries', 'Entries held by the cache.', (s) => s.entries);
    occupancy(
      'cache_breaker_state',
      "The store's circuit breaker, its worst tier's for a store of stores: 0 closed (or none), 1 half-open, 2 open.",
      breakerLevel,
    );
  }

  return {
    registry,
    observe(s) {
      source = s;
    },
    onRequestStart() {
      requestsInFlight++;
    },
    onRequestEnd(e) {
      requestsInFlight--;
      requests.inc({ outcome: e.outcome });
      requestDuration.observe({ outcome: e.outcome }, e.durationMs / 1000);
      if (e.bytes > 0) responseBytes.inc(e.bytes);
    },
    onSliceStart() {
      slicesInFlight++;
    },
    onSliceEnd(e) {
      slicesInFlight--;
      subrequests.inc({ status: String(e.status) });
      sliceDuration.observe(e.durationMs / 1000);
    },
    onSliceRetry(e) {
      slicesInFlight--;
      retries.inc();
      subrequests.inc({ status: statusOf(e.error.details.originStatus) });
    },
    onSliceError(e) {
      slicesInFlight--;
      sliceErrors.inc();
      subrequests.inc({ status: statusOf(e.error.details.originStatus) });
    },
    onCacheHit() {
      cacheHits.inc();
    },
    onCacheMiss() {
      cacheMisses.inc();
    },
    onCacheStore() {
      cacheStores.inc();
    },
    onCacheError(e) {
      cacheErrors.inc({ operation: e.operation });
    },
    onBytes(e) {
      bytes.inc({ source: e.source }, e.bytes);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** 1 ms … 60 s: a cached slice is served in a millisecond, a cold one over a slow link can take tens of seconds. */
const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function statusOf(status: number | undefined): string {
  return status === undefined ? 'error' : String(status);
}

/** 0 closed (or no breaker), 1 half-open, 2 open: the worst of the store's and its tiers'. */
function breakerLevel(stats: CacheStats): number {
  const own = stats.breaker === 'open' ? 2 : stats.breaker === 'half-open' ? 1 : 0;
  return Math.max(own, ...(stats.tiers ?? []).map(breakerLevel));
}
