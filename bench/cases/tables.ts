/**
 * The Markdown tables of cases 1, 2, 3 and 6 (variants in bench/cases/variants.ts), from the medians of the
 * rounds.
 *
 * @module
 */
import { bestMs, cpuCell, mbps, median, medianMs, ratio, rssCell, table, timeCell } from '../report.js';
import { LARGE_BYTES, SMALL_BYTES } from './settings.js';
import { CASE1_IDS, CASE6_IDS, type Results, variantLabel } from './variants.js';

/**
 * The three result tables, in Markdown.
 *
 * @example
 * ```ts
 * console.log(resultTables(results));
 * ```
 */
export function resultTables(results: Results): string {
  const t = (id: string): number => medianMs(results, id);
  const aria = t('c1.aria2c');
  const one = t('c1.undici');
  const c1 = CASE1_IDS.map((id) => {
    const s = results.get(id);
    return [
      variantLabel(id),
      timeCell(s?.ms ?? []),
      mbps(SMALL_BYTES, t(id)),
      ratio(t(id) / aria),
      ratio(t(id) / one),
      rssCell(median(s?.rssKiB ?? [])),
    ];
  });
  const base = t('c2.undici');
  // One GET on this kind of VM is bimodal (see BENCHMARKS.md): best-of-N next to the median shows which mode.
  const best = (id: string): number => bestMs(results, id);
  const c2 = [
    'c2.undici',
    'c2.cold.open',
    'c2.cold.recycled',
    'c2.cold.response',
    'c2.cold.open.steady',
    'c2.cold.response.steady',
    'c2.nocache.open',
    'c2.warm.open',
    'c2.warm.response',
  ].map((id) => {
    const s = results.get(id);
    return [
      variantLabel(id),
      timeCell(s?.ms ?? []),
      mbps(LARGE_BYTES, t(id)),
      ratio(base / t(id)),
      ratio(best('c2.undici') / best(id)),
      cpuCell(median(s?.cpuMs ?? [])),
      rssCell(median(s?.rssKiB ?? [])),
    ];
  });
  const plain = median(results.get('c2.undici')?.rssKiB ?? []);
  const c3 = ['c2.cold.open', 'c2.cold.recycled', 'c2.cold.response', 'c2.nocache.open', 'c2.undici'].map(
    (id) => {
      const s = results.get(id);
      const rss = s?.rssKiB ?? [];
      return [
        variantLabel(id),
        rssCell(median(rss)),
        `${rssCell(Math.min(...rss))} – ${rssCell(Math.max(...rss))}`,
        rssCell(median(s?.arrayBuffersKiB ?? [])),
        signedRss(median(rss) - plain),
      ];
    },
  );
  return [
    '### Case 1 — 64 MiB, nginx `limit_rate 20m` per connection, 1 MiB slices, concurrency 8',
    '',
    'Slice-fetch with a 64 MiB memory store; "warm process" = after an untimed fetch of another 64 MiB object',
    "(unthrottled), so JIT, undici's parser and the connection pool are warm. aria2c and undici run cold, as CLIs do.",
    '',
    table(
      ['client', 'time: median (min–max)', 'throughput', 'time ÷ aria2c', 'time ÷ one GET', 'peak RSS'],
      c1,
    ),
    '',
    '### Case 2 — 1 GiB, nginx unthrottled (sendfile), 1 MiB slices, concurrency 8',
    '',
    'Cold: `memoryStorage({ maxBytes: 64 MiB })` (or `cache: false`), first fetch of a fresh process, or "warm process":',
    'after an untimed fetch of another 64 MiB object (JIT, undici parser and pool warm, as in a long-lived server).',
    'Warm: `memoryStorage({ maxBytes: 1.5 GiB })`, second fetch of the same object in the same process (time, CPU',
    'and throughput of that pass; RSS of the whole process).',
    '',
    table(
      [
        'client',
        'time: median (min–max)',
        'throughput',
        'throughput ÷ undici GET',
        'best ÷ best',
        'CPU (user+sys)',
        'peak RSS',
      ],
      c2,
    ),
    '',
    '### Case 3 — peak RSS streaming 1 GiB cold (1 MiB slices, concurrency 8, 64 MiB memory store)',
    '',
    table(
      ['client', 'peak RSS (median)', 'range over runs', 'peak ArrayBuffers', 'RSS above one undici GET'],
      c3,
    ),
  ].join('\n');
}

/**
 * The case-6 table: cold 1 GiB through `fetcher.fetch()` read through the Response body against one undici GET.
 *
 * @example
 * ```ts
 * console.log(fetchBodyTable(results));
 * ```
 */
export function fetchBodyTable(results: Results): string {
  const t = (id: string): number => medianMs(results, id);
  const best = (id: string): number => bestMs(results, id);
  const rows = CASE6_IDS.map((id) => {
    const s = results.get(id);
    return [
      id === 'c2.undici' ? 'one undici `request()` GET, body read with `for await`' : variantLabel(id),
      timeCell(s?.ms ?? []),
      mbps(LARGE_BYTES, t(id)),
      ratio(t('c2.undici') / t(id)),
      ratio(best('c2.undici') / best(id)),
      cpuCell(median(s?.cpuMs ?? [])),
      rssCell(median(s?.rssKiB ?? [])),
    ];
  });
  return [
    '### Case 6 — cold 1 GiB through `fetcher.fetch()`, read through the Response body, vs one undici GET',
    '',
    'nginx unthrottled (sendfile), 1 MiB slices, concurrency 8, `memoryStorage({ maxBytes: 64 MiB })`; the body read',
    "with `response.body.getReader()` until done, bytes counted and dropped (case 2's `fetch()` rows). The GET is",
    'undici\'s `request()` with default options. Each in its own process; first fetch, or "warm process" (after an',
    'untimed fetch of another 64 MiB object).',
    '',
    table(
      [
        'client',
        'time: median (min–max)',
        'throughput',
        'throughput ÷ undici GET',
        'best ÷ best',
        'CPU (user+sys)',
        'peak RSS',
      ],
      rows,
    ),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------

function signedRss(kib: number): string {
  return kib >= 0 ? `+${rssCell(kib)}` : `−${rssCell(-kib)}`;
}
