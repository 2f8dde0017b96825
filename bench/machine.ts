/**
 * What a benchmark report says about where it ran: the machine table (CPU count and model, Node, nginx, undici,
 * the commit measured) and the load average, shared by `npm run bench` and `npm run bench:soak`.
 *
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { nginxVersion } from './nginx.js';
import { REPO_ROOT } from './paths.js';
import { table } from './report.js';

/**
 * The machine table in Markdown; `extra` adds columns (e.g. the wrk version).
 *
 * @example
 * ```ts
 * console.log(await machine([['wrk', await wrkVersion()]]));
 * ```
 */
export async function machine(extra: readonly (readonly [string, string])[] = []): Promise<string> {
  const model =
    /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const undiciVersion = (
    JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'undici', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return table(
    ['nproc', 'CPU', 'Node', 'nginx', 'undici', ...extra.map(([name]) => name), 'slice-fetch'],
    [
      [
        String(cpus().length),
        model,
        process.version,
        await nginxVersion(),
        undiciVersion,
        ...extra.map(([, value]) => value),
        revision(),
      ],
    ],
  );
}

/**
 * The commit measured, flagged when `src/` has uncommitted changes (read-only git calls).
 *
 * @example
 * ```ts
 * revision(); // "593085b + uncommitted src/ changes"
 * ```
 */
export function revision(): string {
  try {
    const dirty = git('status', '--porcelain', '--', 'src') !== '';
    return `${shortCommit()}${dirty ? ' + uncommitted src/ changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

/**
 * `git rev-parse --short HEAD`, or `unknown`.
 *
 * @example
 * ```ts
 * shortCommit(); // "593085b"
 * ```
 */
export function shortCommit(): string {
  try {
    return git('rev-parse', '--short', 'HEAD');
  } catch {
    return 'unknown';
  }
}

/**
 * The 1-, 5- and 15-minute load averages, e.g. `3.12 / 2.80 / 2.10`.
 *
 * @example
 * ```ts
 * loadAverages(); // "3.12 / 2.80 / 2.10"
 * ```
 */
export function loadAverages(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

/**
 * The wrk version (`4.1.0`), or `unknown`.
 *
 * @example
 * ```ts
 * await wrkVersion('/usr/bin/wrk');
 * ```
 */
export async function wrkVersion(binary = 'wrk'): Promise<string> {
  // `wrk -v` prints its banner and usage and exits non-zero.
  const child = spawn(binary, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (data: Buffer) => {
    out += data.toString();
  });
  child.stderr?.on('data', (data: Buffer) => {
    out += data.toString();
  });
  return new Promise((resolve) => {
    child.once('error', () => resolve('unknown'));
    child.once('close', () => resolve(/wrk\s+(\S+)/.exec(out)?.[1] ?? 'unknown'));
  });
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
}
