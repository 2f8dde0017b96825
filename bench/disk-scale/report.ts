/**
 * The Markdown report of `npm run bench:disk`: what the child measured, what `stats`/`purgeObject`/`has`
 * answered before `ready` against the truth, and a linear projection to 10 M entries against the targets of
 * the "fleet" issue (serve within a second of start-up, ≤ ~100 B of memory per entry; nginx keeps ~128 B per
 * key in its shared-memory zone).
 *
 * @module
 */
import { table } from '../report.js';
import type { Filled } from './fill.js';
import type { ChildResult, EarlyCall, Latency } from './protocol.js';

/** The projection's size. */
export const PROJECTED_ENTRIES = 10_000_000;
/** The issue's budget per entry, bytes: heap, or memory off the heap (typed arrays) that the index holds. */
const HEAP_TARGET = 100;
/** nginx: "one megabyte zone can store about 8 thousand keys" (proxy_cache_path keys_zone). */
const NGINX_BYTES_PER_KEY = 128;
/** The issue's start-up target: serve within a second, whatever the size. */
const FIRST_HIT_TARGET_MS = 1000;

/**
 * The report's lines.
 *
 * @example
 * ```ts
 * process.stdout.write(report(filled, result, { sliceBytes: 1024, perObject: 8 }).join('\n'));
 * ```
 */
export function report(
  filled: Filled,
  r: ChildResult,
  spec: { readonly sliceBytes: number; readonly perObject: number },
): string[] {
  const n = filled.entries;
  const heapPerEntry = (r.heapAfter - r.heapBefore) / n;
  const offHeapPerEntry = (r.offHeapAfter - r.offHeapBefore) / n;
  const indexPerEntry = heapPerEntry + offHeapPerEntry;
  const rssPerEntry = (r.rssAfter - r.rssBefore) / n;
  const scanPerEntryMs = r.readyMs / n;
  const fileBytes = filled.headerBytes + spec.sliceBytes;
  const measured = table(
    ['measure', 'value'],
    [
      [
        'store',
        `${count(n)} entries in ${count(filled.objects)} objects (${spec.perObject} per object: 1 metadata + ` +
          `${spec.perObject - 1} slices), ${spec.sliceBytes} B bodies, ${filled.headerBytes} B headers ` +
          `(${Math.ceil(fileBytes / 4096) * 4} KiB per file on a 4 KiB-block file system)`,
      ],
      ['fill (1 object via `set`, the rest cloned with the store encoder)', seconds(filled.fillMs)],
      ['construction (synchronous)', ms(r.constructMs)],
      ['construction → first hit (a known key, whole entry)', `**${ms(r.firstHitMs)}**`],
      ['construction → `ready` (full index scan)', `**${seconds(r.readyMs)}** (${rate(n, r.readyMs)})`],
      ['`get` while the scan runs (sequential, random known keys)', latencyCell(r.duringScan)],
      [
        'event-loop delay from construction to 50 ms after `ready`: p99 / max',
        `${ms(r.loopDelay.p99Ms)} / ${ms(r.loopDelay.maxMs)}`,
      ],
      ['`get` after `ready` (sequential, random known keys, page cache warm)', latencyCell(r.afterReady)],
      ['heap used after GC: before opening → after `ready`', `${mb(r.heapBefore)} → ${mb(r.heapAfter)}`],
      [
        'ArrayBuffers (off the heap) after GC: before opening → after `ready`',
        `${mb(r.offHeapBefore)} → ${mb(r.offHeapAfter)}`,
      ],
      [
        '**index memory per entry**: heap + off-heap',
        `**${Math.round(indexPerEntry)} B** (${Math.round(heapPerEntry)} + ${Math.round(offHeapPerEntry)})`,
      ],
      ['heap peak during the scan (sampled every 20 ms)', mb(r.heapPeak)],
      [
        'RSS: before → after `ready` (per entry); peak (VmHWM)',
        `${mb(r.rssBefore)} → ${mb(r.rssAfter)} (${Math.round(rssPerEntry)} B); ${mb(r.rssPeak)}`,
      ],
    ],
  );
  const early = table(
    ['called right after construction', 'returned', 'truth', 'settled at', 'waited for `ready`', 'right?'],
    [
      earlyRow('`has(firstKey)`', r.hasEarly, String, r.readyMs),
      // By design a count of what the scan has found so far: right when it is no more than the truth.
      [
        ...earlyRow('`stats()` (the entries found so far)', r.statsEarly, statsText, r.readyMs).slice(0, 5),
        r.statsEarly.returned.entries <= r.statsEarly.truth.entries ? 'yes (so far)' : '**no**',
      ],
      earlyRow('`set(new key)` (a cache fill)', r.setEarly, String, r.readyMs),
      earlyRow('`purgeObject(last object)` (files removed)', r.purgeEarly, String, r.readyMs),
      earlyRow('`stats()` after that purge', r.statsAfterPurge, statsText, r.readyMs),
      [
        'every purged key a miss afterwards',
        String(r.purgedKeysMissing),
        'true',
        '',
        '',
        r.purgedKeysMissing ? 'yes' : '**no**',
      ],
    ],
  );
  const index10m = indexPerEntry * PROJECTED_ENTRIES;
  const peak10m = r.heapBefore + ((r.heapPeak - r.heapBefore) / n) * PROJECTED_ENTRIES;
  const projection = table(
    ['at 10 M entries (linear from this run)', 'projected', 'target', 'verdict'],
    [
      [
        'memory of the index (heap + off-heap)',
        `${gb(index10m)} (${Math.round(indexPerEntry)} B/entry)`,
        `≤ ~${HEAP_TARGET} B/entry = ${gb(HEAP_TARGET * PROJECTED_ENTRIES)}; nginx ~${NGINX_BYTES_PER_KEY} B/key = ${gb(NGINX_BYTES_PER_KEY * PROJECTED_ENTRIES)}`,
        verdict(indexPerEntry <= HEAP_TARGET, `${(indexPerEntry / HEAP_TARGET).toFixed(1)}× the budget`),
      ],
      [
        'heap used during the scan (sampled peak, garbage not yet collected included)',
        gb(peak10m),
        `below V8's heap limit here (${gb(r.heapLimit)}, no \`--max-old-space-size\`)`,
        verdict(peak10m < r.heapLimit, 'over the limit: GC thrash, or out of memory'),
      ],
      ['RSS growth', gb(rssPerEntry * PROJECTED_ENTRIES), '', ''],
      [
        'scan until `ready` (page cache warm)',
        seconds(scanPerEntryMs * PROJECTED_ENTRIES),
        'none: the store serves, writes, purges and evicts meanwhile',
        '',
      ],
      [
        'first hit after start-up',
        `${ms(r.firstHitMs)} (does not wait for the scan)`,
        `≤ ${FIRST_HIT_TARGET_MS} ms`,
        verdict(r.firstHitMs <= FIRST_HIT_TARGET_MS, ''),
      ],
    ],
  );
  return [`### ${count(n)} entries of ${spec.sliceBytes} B`, '', measured, '', early, '', projection];
}

function earlyRow<T>(
  name: string,
  call: EarlyCall<T>,
  text: (value: T) => string,
  readyMs: number,
): string[] {
  const right = JSON.stringify(call.returned) === JSON.stringify(call.truth);
  return [
    name,
    text(call.returned),
    text(call.truth),
    call.settledMs < 0 ? '' : ms(call.settledMs),
    call.settledMs < 0 ? '' : call.settledMs >= readyMs ? 'yes' : 'no',
    right ? 'yes' : '**no**',
  ];
}

function statsText(s: { readonly entries: number; readonly bytes: number }): string {
  return `${count(s.entries)} entries, ${count(s.bytes)} B`;
}

function latencyCell(l: Latency & { readonly misses: number }): string {
  if (l.count === 0) return 'none (the scan ended first)';
  return `${count(l.count)} gets, median ${ms(l.medianMs)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)}, ${l.misses} misses`;
}

function verdict(met: boolean, detail: string): string {
  return met ? 'met' : `**not met**${detail === '' ? '' : ` (${detail})`}`;
}

function count(value: number): string {
  return value.toLocaleString('en-US').replaceAll(',', ' ');
}

function ms(value: number): string {
  return value < 1
    ? `${(value * 1000).toFixed(0)} µs`
    : value < 100
      ? `${value.toFixed(1)} ms`
      : `${Math.round(value)} ms`;
}

function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(valueMs < 10_000 ? 2 : 1)} s`;
}

function rate(n: number, valueMs: number): string {
  return `${count(Math.round(n / (valueMs / 1000)))} entries/s`;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function gb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`;
}
