/**
 * The soak's rows: one per round (and one after the check), taken with the proxy idle after GC, and their cells
 * as printed.
 *
 * @module
 */
import { socketErrors, type WrkResult } from '../wrk.js';
import type { Gauges } from './gauges.js';
import type { HeadResult } from './heads.js';
import type { ProbeLine } from './proxy.js';

/** One row of the report: the probe's line after a round, with what wrk and `/metrics` said. */
export interface Row {
  readonly round: number;
  readonly requestsSoFar: number;
  readonly wrk?: WrkResult;
  readonly heads?: HeadResult;
  /** Wall time of the round (wrk and the HEADs, which run side by side), ms. */
  readonly wallMs?: number;
  readonly probe: ProbeLine;
  readonly gauges: Gauges;
  /** CPU seconds of the proxy over the round. */
  readonly cpuS: number;
}

/**
 * Bytes as MB (10^6 bytes) with one decimal.
 *
 * @example
 * ```ts
 * MB(12_345_678); // "12.3"
 * ```
 */
export function MB(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/**
 * The column headers of the rows.
 *
 * @example
 * ```ts
 * table(columns(), rows.map(rowCells));
 * ```
 */
export function columns(): string[] {
  return [
    'round',
    'requests so far',
    'req/s',
    'heap used after GC (MB)',
    'RSS (MB)',
    'ArrayBuffers (MB)',
    'store (MB / entries)',
    'in flight (req / slices / buffered)',
    'active handles',
    'proxy CPU (s)',
    'HIT %',
    'bad / socket errors',
  ];
}

/**
 * The header line printed on stderr before the rows.
 *
 * @example
 * ```ts
 * log(header());
 * ```
 */
export function header(): string {
  return columns().join(' | ');
}

/**
 * The cells of one row.
 *
 * @example
 * ```ts
 * log(rowCells(row).join(' | '));
 * ```
 */
export function rowCells(row: Row): string[] {
  const w = row.wrk;
  const counts = w?.counts ?? {};
  const h = row.heads;
  const answered = (w?.requests ?? 0) + (h?.requests ?? 0);
  const hits = (counts.hit ?? 0) + (h?.hit ?? 0);
  const g = row.gauges;
  return [
    row.round === 0 ? '0 (after the check)' : String(row.round),
    row.requestsSoFar.toLocaleString('en-US'),
    w === undefined || row.wallMs === undefined
      ? '–'
      : Math.round((w.requests + (h?.requests ?? 0)) / (row.wallMs / 1000)).toLocaleString('en-US'),
    MB(row.probe.heapUsed),
    MB(row.probe.rss),
    MB(row.probe.arrayBuffers),
    `${MB(g.cacheBytes)} / ${g.cacheEntries}`,
    `${g.requestsInFlight} / ${g.slicesInFlight} / ${g.bufferedBytes}`,
    String(row.probe.activeResources),
    w === undefined ? '–' : row.cpuS.toFixed(1),
    w === undefined || answered === 0 ? '–' : ((hits / answered) * 100).toFixed(1),
    w === undefined ? '–' : `${(counts.nbad ?? 0) + (h?.badCount ?? 0)} / ${socketErrors(w)}`,
  ];
}
