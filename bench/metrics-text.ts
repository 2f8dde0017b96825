/**
 * Reading the proxy's `/metrics` (Prometheus text format) without a parser: the sum of one metric's samples.
 *
 * @module
 */

/**
 * The sum of the metric `name` over all its label sets, or over those whose line contains `labels`.
 *
 * @example
 * ```ts
 * metricSum(text, 'slice_fetch_requests_total', 'outcome="error"');
 * ```
 */
export function metricSum(text: string, name: string, labels?: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    if (labels !== undefined && !line.includes(labels)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
