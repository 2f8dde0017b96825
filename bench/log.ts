/**
 * Progress lines of the benchmarks, on stderr so stdout carries only the Markdown report.
 *
 * @module
 */

/**
 * Writes `text` and a newline to stderr.
 *
 * @example
 * ```ts
 * log('bench: building clients…');
 * ```
 */
export function log(text: string): void {
  process.stderr.write(`${text}\n`);
}
