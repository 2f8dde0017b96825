/**
 * Numbers to text: medians, ratio columns and Markdown tables, so `npm run bench` prints something that can
 * be pasted into BENCHMARKS.md as is. Ratios come first; absolute figures sit next to them for context only,
 * since they mean little off this machine.
 *
 * @module
 */

/** Repeated measurements of one variant. */
export interface Samples {
  readonly ms: number[];
  readonly rssKiB: number[];
  readonly cpuMs: number[];
  /** Peak ArrayBuffer bytes (chunks and cache), KiB; `NaN` when not known (aria2c). */
  readonly arrayBuffersKiB: number[];
}

/**
 * Creates an empty {@link Samples}.
 *
 * @example
 * ```ts
 * const s = samples(); s.ms.push(12);
 * ```
 */
export function samples(): Samples {
  return { ms: [], rssKiB: [], cpuMs: [], arrayBuffersKiB: [] };
}

/**
 * The median (mean of the middle two for an even count); `NaN` for none.
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The median time of variant `id` in `results`, ms; `NaN` when it was not measured.
 *
 * @example
 * ```ts
 * medianMs(results, 'c2.undici') / medianMs(results, 'c2.cold.response');
 * ```
 */
export function medianMs(results: ReadonlyMap<string, Samples>, id: string): number {
  return median(results.get(id)?.ms ?? []);
}

/**
 * The best (lowest) time of variant `id` in `results`, ms; `NaN` when it was not measured.
 *
 * @example
 * ```ts
 * bestMs(results, 'c2.undici') / bestMs(results, 'c2.cold.response');
 * ```
 */
export function bestMs(results: ReadonlyMap<string, Samples>, id: string): number {
  return Math.min(...(results.get(id)?.ms ?? [Number.NaN]));
}

/**
 * A Markdown table.
 *
 * @example
 * ```ts
 * table(['a', 'b'], [['1', '2']]); // "| a | b |\n|---|---|\n| 1 | 2 |"
 * ```
 */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Formats a ratio as `0.83×`.
 *
 * @example
 * ```ts
 * ratio(0.8333); // "0.83×"
 * ```
 */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a';
}

/**
 * Median time with its spread: `412 ms (398–450)`.
 *
 * @example
 * ```ts
 * timeCell([398, 412, 450]); // "412 ms (398–450)"
 * ```
 */
export function timeCell(ms: readonly number[]): string {
  if (ms.length === 0) return 'n/a';
  const lo = Math.min(...ms);
  const hi = Math.max(...ms);
  return ms.length === 1
    ? `${Math.round(ms[0] as number)} ms`
    : `${Math.round(median(ms))} ms (${Math.round(lo)}–${Math.round(hi)})`;
}

/**
 * Throughput in MB/s (10^6 bytes) for `bytes` in `ms`.
 *
 * @example
 * ```ts
 * mbps(1e6, 1000); // "1.0 MB/s"
 * ```
 */
export function mbps(bytes: number, ms: number): string {
  const value = bytes / 1e6 / (ms / 1000);
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} MB/s`;
}

/**
 * CPU time in seconds from milliseconds: `1.23 s`, or `n/a`.
 *
 * @example
 * ```ts
 * cpuCell(1234); // "1.23 s"
 * ```
 */
export function cpuCell(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a';
}

/**
 * Peak RSS in MB (10^6 bytes) from KiB, the unit of the 120 MB target (case 3).
 *
 * @example
 * ```ts
 * rssCell(102400); // "105 MB"
 * ```
 */
export function rssCell(kib: number): string {
  return Number.isFinite(kib) ? `${Math.round(rssMB(kib))} MB` : 'n/a';
}

/**
 * KiB → MB (10^6 bytes).
 *
 * @example
 * ```ts
 * rssMB(1000); // 1.024
 * ```
 */
export function rssMB(kib: number): number {
  return (kib * 1024) / 1e6;
}

/** One target and whether it was met. */
export interface Verdict {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

/**
 * The verdict table.
 *
 * @example
 * ```ts
 * verdictTable([{ target: 'x ≤ 1', measured: '0.9', met: true }]);
 * ```
 */
export function verdictTable(verdicts: readonly Verdict[]): string {
  return table(
    ['target', 'measured', 'verdict'],
    verdicts.map((v) => [v.target, v.measured, v.met ? 'met' : '**not met**']),
  );
}
