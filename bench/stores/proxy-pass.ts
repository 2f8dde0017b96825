/**
 * Case 4's proxy side: a fresh `slice-proxy --cache fs` per pass, read by curl, with the proxy's CPU and peak RSS
 * from `/proc`.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LARGE_BYTES, type Measure } from '../cases/settings.js';
import { metricSum } from '../metrics-text.js';
import { freePort } from '../nginx.js';
import { cpuMs } from '../proc-stats.js';
import { startNodeServer } from '../processes.js';
import { waitUntilHealthy } from '../proxy-health.js';
import { MiB } from '../units.js';
import { checkCase4, curlPass } from './passes.js';
import { FS_STORE_BYTES, type StoreEnv } from './variants.js';

/**
 * One curl GET of the large object through a fresh `slice-proxy --cache fs` on `dir`. CPU and peak RSS are the
 * proxy's, from /proc. A warm pass must be all store hits (read from the proxy's `/metrics`). `nodeArgs` go to
 * the proxy's `node` (e.g. `--cpu-prof`).
 *
 * @example
 * ```ts
 * const cold = await proxyPass(env, dir, 'cold');
 * ```
 */
export function proxyPass(
  env: StoreEnv,
  dir: string,
  temperature: 'cold' | 'warm',
  nodeArgs: readonly string[] = [],
): Promise<Measure> {
  return withProxy(
    env,
    dir,
    async (proxy, base, admin) => {
      const cpuBefore = cpuMs(proxy.pid);
      const measure = await curlPass(`${base}/${env.largeFile}`);
      const cpu = cpuMs(proxy.pid) - cpuBefore;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))?.[1];
      if (temperature === 'warm') {
        const metrics = await (await fetch(`${admin}/metrics`)).text();
        const hits = metricSum(metrics, 'slice_fetch_cache_hits_total');
        const misses = metricSum(metrics, 'slice_fetch_cache_misses_total');
        checkCase4(hits === LARGE_BYTES / MiB && misses === 0, 'slice-proxy warm: every slice a store hit', {
          hits,
          misses,
        });
      }
      return { ...measure, cpuMs: cpu, rssKiB: Number(hwm) };
    },
    nodeArgs,
  );
}

/**
 * Runs `use` against a fresh `slice-proxy --cache fs` on `dir` (upstream: the origin's `/fast/`), then stops it
 * with SIGTERM, whose graceful shutdown waits for the store writes to land (and lets `--cpu-prof` write its
 * profile). `nodeArgs` go to the proxy's `node`.
 *
 * @example
 * ```ts
 * const status = await withProxy(env, dir, async (_proxy, base) => (await fetch(`${base}/obj`)).status);
 * ```
 */
export async function withProxy<T>(
  env: StoreEnv,
  dir: string,
  use: (proxy: ChildProcess, base: string, admin: string) => Promise<T>,
  nodeArgs: readonly string[] = [],
): Promise<T> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const proxy = startNodeServer(
    env.clients.proxy,
    [
      ...['--upstream', `${env.origin}/fast`, '--listen', `127.0.0.1:${port}`],
      ...['--admin', `127.0.0.1:${adminPort}`, '--cache', 'fs', '--cache-dir', dir],
      ...['--cache-size', String(FS_STORE_BYTES), '--log-level', 'silent'],
    ],
    nodeArgs,
  );
  let stderr = '';
  proxy.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<void>((resolve) => proxy.once('exit', () => resolve()));
  try {
    await waitUntilHealthy(
      `http://127.0.0.1:${adminPort}`,
      () => {
        if (proxy.exitCode !== null) throw new Error(`slice-proxy exited with code ${proxy.exitCode}`);
      },
      10_000,
    );
    return await use(proxy, `http://127.0.0.1:${port}`, `http://127.0.0.1:${adminPort}`);
  } catch (error) {
    throw new Error(`slice-proxy pass failed: ${(error as Error).message}\n${stderr}`);
  } finally {
    proxy.kill('SIGTERM');
    await exited;
  }
}
