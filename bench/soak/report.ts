/**
 * The soak's Markdown report and its verdict: is heap used after GC flat from round 2 to the last?
 *
 * @module
 */
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { loadAverages } from '../machine.js';
import { REPO_ROOT } from '../paths.js';
import { table } from '../report.js';
import { socketErrors } from '../wrk.js';
import { HEAD_CONNECTIONS } from './heads.js';
import { OBJECTS } from './objects.js';
import type { SoakOptions } from './options.js';
import { columns, MB, type Row, rowCells } from './rows.js';

/** What the report says besides the rows. */
export interface SoakReportContext {
  /** The machine table (bench/machine.ts). */
  readonly machine: string;
  readonly loadAtStart: string;
  /** Total run time. */
  readonly seconds: number;
  /** The proxy script as given (not the copy run). */
  readonly proxyScript: string;
  readonly staleness: string | undefined;
  /** The proxy's log (warn and above). */
  readonly proxyLog: readonly string[];
}

/**
 * The report in Markdown, and `ok`: the heap is flat, no response was wrong and wrk saw no socket error.
 *
 * @example
 * ```ts
 * const { text, ok } = soakReport(options, rows, context);
 * ```
 */
export function soakReport(
  options: SoakOptions,
  rows: readonly Row[],
  context: SoakReportContext,
): { text: string; ok: boolean } {
  const { args, requestsPerRound, headsPerRound, threads, connections, coldShare, coldKeys, flatMB } =
    options;
  const measured = rows.filter((r) => r.round >= 1);
  const totals = {
    n206: 0,
    n200: 0,
    n416: 0,
    nbad: 0,
    hit: 0,
    miss: 0,
    partial: 0,
    revalidated: 0,
    pass: 0,
    nocache: 0,
  };
  let socket = 0;
  let headCount = 0;
  let headHits = 0;
  let headBad = 0;
  for (const r of measured) {
    for (const key of Object.keys(totals) as (keyof typeof totals)[])
      totals[key] += r.wrk?.counts?.[key] ?? 0;
    socket += r.wrk === undefined ? 0 : socketErrors(r.wrk);
    headCount += r.heads?.requests ?? 0;
    headHits += r.heads?.hit ?? 0;
    headBad += r.heads?.badCount ?? 0;
  }
  const total = measured.reduce((s, r) => s + (r.wrk?.requests ?? 0) + (r.heads?.requests ?? 0), 0);
  const wrong = totals.nbad + headBad;
  const from = rows.find((r) => r.round === 2);
  const last = rows[rows.length - 1] as Row;
  const out: string[] = [
    `## Heap over a long run (${measured.length} rounds × ${requestsPerRound.toLocaleString('en-US')} requests)`,
    '',
    context.machine,
    '',
    `Command: \`npm run bench:soak -- ${process.argv.slice(2).join(' ')}\`; proxy \`${relative(REPO_ROOT, context.proxyScript)}\``,
    `(built ${new Date(statSync(context.proxyScript).mtimeMs).toISOString()}), \`--cache memory --cache-size ${args['cache-size']}\`,`,
    `\`--slice-size 1MiB\`, \`--log-level warn\`; per round ${(requestsPerRound - headsPerRound).toLocaleString('en-US')} requests by wrk`,
    `\`-t${threads} -c${connections}\` (bench/lua/soak-mix.lua) and, side by side, ${headsPerRound.toLocaleString('en-US')} HEADs by undici on`,
    `${HEAD_CONNECTIONS} connections (wrk cannot send HEAD); objects ${OBJECTS.map((o) => `${o.name} (${o.size} B)`).join(', ')}.`,
    `Cold keys: ${(coldShare * 100).toFixed(1)} % of wrk's requests ask for 4 KiB of ${args['cold-object'] ?? 'an object of more than three slices'}`,
    `under \`?v=<n>\`, n from 1..${coldKeys > 0 ? coldKeys.toLocaleString('en-US') : '10^9 (a new URL each time)'}.`,
    `Total ${context.seconds.toFixed(0)} s. Load average (1/5/15 min) at start ${context.loadAtStart}, at end ${loadAverages()}.`,
    '',
    ...(context.staleness === undefined ? [] : [`**Warning**: ${context.staleness}`, '']),
    table(columns(), rows.map(rowCells)),
    '',
    'MB = 10^6 bytes. Every row is taken with the proxy idle, after two `gc()` calls. Store and in-flight figures',
    "are the proxy's `/metrics` gauges; HIT % is the share of responses with `x-slice-cache: HIT`.",
    '',
    `Responses over all rounds: ${total.toLocaleString('en-US')} — by wrk: 206 ${totals.n206}, 200 ${totals.n200},`,
    `416 ${totals.n416}, x-slice-cache HIT ${totals.hit} / MISS ${totals.miss} / PARTIAL ${totals.partial} / REVALIDATED`,
    `${totals.revalidated} / PASS ${totals.pass} / none ${totals.nocache}; HEADs ${headCount} (HIT ${headHits}); wrong:`,
    `${wrong}; wrk socket errors: ${socket}.`,
    `Proxy errors on \`/metrics\` at the end: ${last.gauges.errorRequests} requests with outcome \`error\`, ` +
      `${last.gauges.sliceErrors} failed slices, ${last.gauges.cacheErrors} store errors. Proxy log (warn and ` +
      `above): ${context.proxyLog.length} lines${context.proxyLog.length > 0 ? `; first: \`${context.proxyLog[0]?.slice(0, 300)}\`` : ''}.`,
    '',
  ];
  let flat = false;
  if (from === undefined || last.round < 3) {
    out.push('Verdict: n/a (needs at least 3 rounds: round 1 fills the store, round 2 is the reference).');
  } else {
    const growth = last.probe.heapUsed - from.probe.heapUsed;
    const rssGrowth = last.probe.rss - from.probe.rss;
    const perRound = slope(rows.filter((r) => r.round >= 2).map((r) => [r.round, r.probe.heapUsed / 1e6]));
    flat = Math.abs(growth) <= flatMB * 1e6;
    out.push(
      `Verdict: heap used after GC went from ${MB(from.probe.heapUsed)} MB after round 2 to ${MB(last.probe.heapUsed)} MB ` +
        `after round ${last.round} (${growth >= 0 ? '+' : ''}${MB(growth)} MB over ` +
        `${(last.requestsSoFar - from.requestsSoFar).toLocaleString('en-US')} requests; least-squares slope ` +
        `${perRound >= 0 ? '+' : ''}${perRound.toFixed(2)} MB per round): ` +
        `**${flat ? 'flat' : 'NOT flat'}** (threshold ±${flatMB} MB). RSS ${rssGrowth >= 0 ? '+' : ''}${MB(rssGrowth)} MB over the same rounds.`,
    );
  }
  const ok = flat && wrong === 0 && socket === 0;
  return { text: out.join('\n'), ok };
}

// ---------------------------------------------------------------------------------------------------------

/** Least-squares slope of `y` over `x`. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}
