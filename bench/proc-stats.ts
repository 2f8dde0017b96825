/**
 * What Linux's `/proc` says about a process the benchmarks started: its CPU time so far.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/**
 * User + system CPU of a process so far, in milliseconds (Linux clock ticks of 10 ms); throws when
 * `/proc/<pid>/stat` cannot be read (the process is gone).
 *
 * @example
 * ```ts
 * const before = cpuMs(child.pid as number);
 * ```
 */
export function cpuMs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * {@link cpuMs}, or `NaN` when the process is gone (or has no pid).
 *
 * @example
 * ```ts
 * cpuMsOrNaN(undefined); // NaN
 * ```
 */
export function cpuMsOrNaN(pid: number | undefined): number {
  try {
    return cpuMs(pid);
  } catch {
    return Number.NaN;
  }
}
