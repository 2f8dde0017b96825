/**
 * Case 4's Markdown tables (in-process stores, and proxy against proxy) and its verdicts.
 *
 * @module
 */
import { LARGE_BYTES } from '../cases/settings.js';
import {
  cpuCell,
  mbps,
  median,
  medianMs,
  ratio,
  rssCell,
  type Samples,
  table,
  timeCell,
  type Verdict,
} from '../report.js';
import { MiB } from '../units.js';
import { coldDrainsMs } from './round.js';
import { CASE4_IDS, CASE4_PROXY_IDS, FS_STORE_BYTES, PROXY_LABELS, STORE_LABELS } from './variants.js';

/**
 * The case-4 table in Markdown.
 *
 * @example
 * ```ts
 * console.log(storeTable(results));
 * ```
 */
export function storeTable(results: ReadonlyMap<string, Samples>): string {
  const rows = CASE4_IDS.map((id) =>
    versusRow(results, STORE_LABELS[id], id, id.endsWith('.cold') ? 'c4.nginx.cold' : 'c4.nginx.warm'),
  );
  return [
    '### Case 4 — persistent stores: 1 GiB, 1 MiB slices, concurrency 8, vs nginx slice + proxy_cache',
    '',
    `slice-fetch: \`fetch()\` + reader in-process, \`fsStorage({ maxBytes: ${FS_STORE_BYTES / MiB} MiB })\` in the bench`,
    "temp dir (same disk as nginx's cache) or `redisStorage` on a local `redis-server --save '' --appendonly no",
    '--maxmemory 3gb`. Warm = a new process reading a store filled by an earlier one. nginx: a second nginx with',
    '`slice 1m; proxy_cache` (keep-alive upstream) in front of the origin, read by the undici one-GET client;',
    'warm = a key fetched before, cold = a new query string. CPU is the client process only (not nginx or Redis).',
    '',
    table(['client', ...VERSUS_HEADERS], rows),
    '',
    `The cold disk pass's store writes were all on disk ${Math.round(median(coldDrainsMs))} ms (median) after its last byte`,
    '(untimed: the time column ends at the last byte, as it does for nginx).',
  ].join('\n');
}

/**
 * The case-4 proxy-against-proxy table in Markdown.
 *
 * @example
 * ```ts
 * console.log(storeProxyTable(results));
 * ```
 */
export function storeProxyTable(results: ReadonlyMap<string, Samples>): string {
  const rows = CASE4_PROXY_IDS.map((id) =>
    versusRow(results, PROXY_LABELS[id], id, id.endsWith('.cold') ? 'c4p.nginx.cold' : 'c4p.nginx.warm'),
  );
  return [
    '### Case 4, proxy against proxy: `slice-proxy --cache fs` and nginx slice + proxy_cache, each read by curl',
    '',
    '`slice-proxy` (bundled from `src/cli`) with `--cache fs --cache-size 2GiB` in the bench temp dir, upstream the',
    "origin's `/fast/`, one process per pass (warm = a new process on the directory the cold pass filled; SIGTERM",
    "lets its writes land). Both read by `curl -o /dev/null`; time is curl's `time_total`; CPU and peak RSS are the",
    "slice-proxy process's over the transfer (not measured for nginx's worker).",
    '',
    table(['server', ...VERSUS_HEADERS], rows),
  ].join('\n');
}

/**
 * The case-4 verdicts (Redis has no target: its ratio is in the table).
 *
 * @example
 * ```ts
 * storeVerdicts(results).every((v) => v.met);
 * ```
 */
export function storeVerdicts(results: ReadonlyMap<string, Samples>): Verdict[] {
  const t = (id: string): number => medianMs(results, id);
  const warm = t('c4.nginx.warm') / t('c4.fs.warm');
  const cold = t('c4.nginx.cold') / t('c4.fs.cold');
  // The floors for the two proxies read by curl (the shape in which slice-proxy replaces nginx): at least
  // nginx's throughput, warm and cold, on the same disk.
  const proxyWarm = t('c4p.nginx.warm') / t('c4p.fs.warm');
  const proxyCold = t('c4p.nginx.cold') / t('c4p.fs.cold');
  return [
    { target: '4. `fsStorage` warm: throughput ≥ 0.5 × nginx warm', measured: ratio(warm), met: warm >= 0.5 },
    { target: '4. `fsStorage` cold: throughput ≥ 1.0 × nginx cold', measured: ratio(cold), met: cold >= 1 },
    {
      target: '4. `slice-proxy --cache fs` warm: throughput ≥ 1.0 × nginx warm (both read by curl)',
      measured: ratio(proxyWarm),
      met: proxyWarm >= 1,
    },
    {
      target: '4. `slice-proxy --cache fs` cold: throughput ≥ 1.0 × nginx cold (both read by curl)',
      measured: ratio(proxyCold),
      met: proxyCold >= 1,
    },
  ];
}

/**
 * One table row: variant `id` against the nginx variant `base` of the same temperature (time, throughput, ratio
 * of medians and of bests, CPU, peak RSS). Also case 7's.
 *
 * @example
 * ```ts
 * versusRow(results, 'slice-proxy, cold', 'c4p.fs.cold', 'c4p.nginx.cold');
 * ```
 */
export function versusRow(
  results: ReadonlyMap<string, Samples>,
  label: string,
  id: string,
  base: string,
): string[] {
  const ms = results.get(id)?.ms ?? [];
  const baseMs = results.get(base)?.ms ?? [];
  return [
    label,
    timeCell(ms),
    mbps(LARGE_BYTES, median(ms)),
    ratio(median(baseMs) / median(ms)),
    ratio(Math.min(...baseMs) / Math.min(...ms)),
    cpuCell(median(results.get(id)?.cpuMs ?? [])),
    rssCell(median(results.get(id)?.rssKiB ?? [])),
  ];
}

// ---------------------------------------------------------------------------------------------------------

/** Columns of a case-4 row after its label. */
const VERSUS_HEADERS = [
  'time: median (min–max)',
  'throughput',
  'throughput ÷ nginx (same temperature)',
  'best ÷ best',
  'CPU',
  'peak RSS',
];
