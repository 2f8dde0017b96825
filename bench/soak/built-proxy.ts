/**
 * The built proxy the soak measures: a warning when `src/` is newer than the build, and a private copy of
 * `dist/` to run it from.
 *
 * @module
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../paths.js';

/**
 * Other work may rebuild `dist/` (tsup empties it first) while the soak runs: the proxy runs from a copy of the
 * whole `dist/` (its chunks are imported from `../`) under the repository's `.bench/` (git-ignored; inside the
 * repository so `node_modules` still resolves), removed by the stop handed to `addStop`. A script outside
 * `dist/` runs as it is.
 *
 * @example
 * ```ts
 * const runScript = await copyOfDist('dist/cli/slice-proxy.js', (stop) => stops.push(stop));
 * ```
 */
export async function copyOfDist(
  script: string,
  addStop: (stop: () => Promise<void>) => void,
): Promise<string> {
  const dist = join(REPO_ROOT, 'dist');
  const inDist = relative(dist, script);
  if (inDist.startsWith('..')) return script;
  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  const copy = mkdtempSync(join(REPO_ROOT, '.bench', 'soak-dist-'));
  addStop(async () => rmSync(copy, { recursive: true, force: true }));
  for (let attempt = 1; ; attempt++) {
    try {
      cpSync(dist, join(copy, 'dist'), { recursive: true });
      const copied = join(copy, 'dist', inDist);
      if (existsSync(copied)) return copied;
      throw new Error(`${copied} missing after the copy`);
    } catch (error) {
      // A rebuild emptied dist/ under us: wait for it to finish and copy again.
      if (attempt >= 10) throw error;
      rmSync(join(copy, 'dist'), { recursive: true, force: true });
      await sleep(3000);
    }
  }
}

/**
 * A sentence when `src/` has files newer than the proxy script (the build is older than the code).
 *
 * @example
 * ```ts
 * const staleness = staleBuildWarning(proxyScript);
 * ```
 */
export function staleBuildWarning(script: string): string | undefined {
  const built = statSync(script).mtimeMs;
  let newest: { path: string; mtimeMs: number } | undefined;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const mtimeMs = statSync(path).mtimeMs;
        if (newest === undefined || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
      }
    }
  };
  walk(join(REPO_ROOT, 'src'));
  if (newest === undefined || newest.mtimeMs <= built) return undefined;
  return (
    `${relative(REPO_ROOT, script)} (built ${new Date(built).toISOString()}) is older than ` +
    `${relative(REPO_ROOT, newest.path)} (${new Date(newest.mtimeMs).toISOString()}): the proxy measured is the ` +
    'last build, not the working tree (`npm run build` or `--build`).'
  );
}
