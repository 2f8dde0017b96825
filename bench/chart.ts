/**
 * The ratio chart of `npm run bench`: a hand-written SVG of horizontal bars, one group per workload, with the
 * peer's bar (normalised to 1.0) above slice-fetch's (its ratio, labelled). Higher is better for slice-fetch in
 * every group (throughput or requests per second, relative to the peer).
 *
 * A run only measures the cases it was asked for (`--only`), so the chart's data lives in `ratios.json` next to
 * the SVG: each run replaces the workloads it measured (with its commit, date and rounds) and keeps the others,
 * and the SVG is drawn from the whole file. Each group says which run it comes from. `npx tsx bench/chart.ts
 * [dir]` redraws the SVG from the JSON alone (e.g. after a change of this file).
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** One workload of the chart. */
export interface ChartEntry {
  /** Stable key: a later run of the same workload replaces it. */
  readonly id: string;
  /** The workload, e.g. "1 GiB cold, unthrottled origin". */
  readonly workload: string;
  /** slice-fetch's bar label. */
  readonly ours: string;
  /** The peer's bar label. */
  readonly peer: string;
  /** slice-fetch ÷ peer (throughput or req/s): the peer is 1.0. */
  readonly ratio: number;
}

/** A chart entry as stored, with where it was measured. */
export interface StoredEntry extends ChartEntry {
  readonly commit: string;
  /** ISO date (day) of the run. */
  readonly date: string;
  /** Rounds the median was taken over. */
  readonly runs: number;
}

/** Display order of the known workloads (unknown ids go last). */
const ORDER = [
  'c1.vs-aria2c',
  'c2.cold.vs-get',
  'c2.warm.vs-get',
  'c4.fs.warm',
  'c4.fs.cold',
  'c4p.warm',
  'c4p.cold',
  'c5.vs-nginx',
  'c5.vs-bare',
  'c7.cold',
];

/**
 * Merges `entries` into `<dir>/ratios.json` and redraws `<dir>/ratios.svg`; returns both paths.
 *
 * @example
 * ```ts
 * updateChart('bench/results', [{ id: 'c5.vs-nginx', workload: '…', ours: '…', peer: '…', ratio: 0.8 }],
 *   { commit: 'abc1234', runs: 3 });
 * ```
 */
export function updateChart(
  dir: string,
  entries: readonly ChartEntry[],
  meta: { readonly commit: string; readonly runs: number },
): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'ratios.json');
  const svg = join(dir, 'ratios.svg');
  const stored = new Map<string, StoredEntry>();
  if (existsSync(json)) {
    const old = JSON.parse(readFileSync(json, 'utf8')) as { entries?: StoredEntry[] };
    for (const e of old.entries ?? []) stored.set(e.id, e);
  }
  const date = new Date().toISOString().slice(0, 10);
  for (const e of entries) if (Number.isFinite(e.ratio)) stored.set(e.id, { ...e, ...meta, date });
  const rank = (id: string): number => {
    const i = ORDER.indexOf(id);
    return i === -1 ? ORDER.length : i;
  };
  const all = [...stored.values()].sort((a, b) => rank(a.id) - rank(b.id) || a.id.localeCompare(b.id));
  writeFileSync(json, `${JSON.stringify({ entries: all }, null, 2)}\n`);
  writeFileSync(svg, renderChart(all));
  return { json, svg };
}

/**
 * The SVG of the chart.
 *
 * @example
 * ```ts
 * writeFileSync('ratios.svg', renderChart(entries));
 * ```
 */
export function renderChart(entries: readonly StoredEntry[]): string {
  const width = 820;
  const labelWidth = 330;
  const barX = labelWidth + 10;
  const barWidth = width - barX - 90;
  const barHeight = 16;
  const groupHeight = 22 + 2 * (barHeight + 4) + 14;
  const top = 62;
  const height = top + entries.length * groupHeight + 40;
  // A linear axis up to 2× (3× when a ratio lands between 2 and 3); longer bars are cut and marked.
  const maxRatio = Math.max(1, ...entries.map((e) => e.ratio));
  const axisMax = maxRatio <= 2 ? 2 : 3;
  const x = (r: number): number => Math.round((barX + (Math.min(r, axisMax) / axisMax) * barWidth) * 10) / 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-labelledby="ratios-title">`,
    `<title id="ratios-title">${esc(
      `slice-fetch relative to its peer: ${entries.map((e) => `${e.workload}: ${e.ratio.toFixed(2)}×`).join('; ')}`,
    )}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">slice-fetch relative to its peer (peer = 1.0, higher is better for slice-fetch)</text>`,
    `<text x="12" y="40" fill="#555">Throughput or requests per second, median of each run's rounds; each group names its run. Source: npm run bench.</text>`,
  ];
  // Axis: ticks every 0.5×, a stronger line at 1.0×, drawn beside the bars only (not across the group titles).
  const axisBottom = top + entries.length * groupHeight;
  for (let t = 0; t <= axisMax + 1e-9; t += 0.5) {
    const tx = x(t);
    const style = `stroke="${t === 1 ? '#333' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"${t === 1 ? ' stroke-dasharray="4 3"' : ''}`;
    entries.forEach((_, i) => {
      const y = top + i * groupHeight;
      parts.push(
        `<line x1="${tx}" y1="${y + 19}" x2="${tx}" y2="${y + 22 + 2 * (barHeight + 4)}" ${style}/>`,
      );
    });
    parts.push(
      `<text x="${tx}" y="${axisBottom + 16}" text-anchor="middle" fill="#555">${t.toFixed(1)}×</text>`,
    );
  }
  entries.forEach((e, i) => {
    const y = top + i * groupHeight;
    parts.push(
      `<text x="12" y="${y + 14}"><tspan font-weight="bold">${esc(e.workload)}</tspan><tspan dx="8" fill="#777" font-size="11">${esc(`(${e.commit}, ${e.date}, median of ${e.runs})`)}</tspan></text>`,
    );
    const bars: readonly [string, number, string][] = [
      [e.peer, 1, '#9e9e9e'],
      [e.ours, e.ratio, e.ratio >= 1 ? '#2e7d32' : '#c62828'],
    ];
    bars.forEach(([name, r, color], j) => {
      const by = y + 22 + j * (barHeight + 4);
      const end = x(r);
      const cut = r > axisMax;
      parts.push(
        `<text x="${barX - 6}" y="${by + 12}" text-anchor="end" font-size="11" fill="#333">${esc(shorten(name, 44))}</text>`,
        `<rect x="${barX}" y="${by}" width="${Math.max(1, Math.round((end - barX) * 10) / 10)}" height="${barHeight}" fill="${color}"/>`,
      );
      if (cut)
        parts.push(
          `<path d="M${end - 10} ${by - 1} l6 ${barHeight / 2 + 1} l-6 ${barHeight / 2 + 1}" fill="none" stroke="#fff" stroke-width="3"/>`,
        );
      parts.push(
        `<text x="${end + 6}" y="${by + 12}" font-weight="${j === 1 ? 'bold' : 'normal'}">${r.toFixed(2)}×${cut ? ' (cut)' : ''}</text>`,
      );
    });
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

// Run as a script: redraw `<dir>/ratios.svg` from `<dir>/ratios.json` (default bench/results).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2] ?? join(import.meta.dirname, 'results');
  const { entries } = JSON.parse(readFileSync(join(dir, 'ratios.json'), 'utf8')) as {
    entries: StoredEntry[];
  };
  writeFileSync(join(dir, 'ratios.svg'), renderChart(entries));
  process.stdout.write(`${join(dir, 'ratios.svg')}\n`);
}

// ---------------------------------------------------------------------------------------------------------

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
