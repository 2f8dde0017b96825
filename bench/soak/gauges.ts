/**
 * What the proxy's `/metrics` says after a soak round: its in-flight and store gauges and its error counters.
 *
 * @module
 */
import { metricSum } from '../metrics-text.js';

/** What the proxy's `/metrics` says after a round. */
export interface Gauges {
  readonly requestsInFlight: number;
  readonly slicesInFlight: number;
  readonly bufferedBytes: number;
  readonly cacheBytes: number;
  readonly cacheEntries: number;
  readonly errorRequests: number;
  readonly sliceErrors: number;
  readonly cacheErrors: number;
}

/**
 * Reads `<admin>/metrics` into {@link Gauges}.
 *
 * @example
 * ```ts
 * const { cacheBytes } = await readGauges(proxy.admin);
 * ```
 */
export async function readGauges(admin: string): Promise<Gauges> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const sum = (name: string, labels?: string): number => metricSum(text, name, labels);
  return {
    requestsInFlight: sum('slice_fetch_requests_in_flight'),
    slicesInFlight: sum('slice_fetch_slices_in_flight'),
    bufferedBytes: sum('slice_fetch_buffered_bytes'),
    cacheBytes: sum('slice_fetch_cache_bytes'),
    cacheEntries: sum('slice_fetch_cache_entries'),
    errorRequests: sum('slice_fetch_requests_total', 'outcome="error"'),
    sliceErrors: sum('slice_fetch_slice_errors_total'),
    cacheErrors: sum('slice_fetch_cache_errors_total'),
  };
}
