/**
 * The proxy under soak: the built `slice-proxy` started as `node --expose-gc --import bench/soak-probe.mjs`
 * (memory store, free ports, warnings logged to a file), and its probe: on SIGUSR2 the preload collects garbage
 * and appends `process.memoryUsage()` as a JSON line to a file, which {@link SoakProxy.probe} waits for.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { freePort } from '../nginx.js';
import { BENCH_DIR } from '../paths.js';
import { stopChild } from '../processes.js';
import { waitUntilHealthy } from '../proxy-health.js';
import { SLICE_SIZE } from './objects.js';

/** A line written by bench/soak-probe.mjs. */
export interface ProbeLine {
  readonly seq: number;
  readonly gcMs: number;
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly maxRssKiB: number;
  readonly activeResources: number;
}

/** How to start the proxy. */
export interface SoakProxyOptions {
  /** The soak's temp dir: the probe file, the proxy's log and (with `heapSnapshots`) `snapshots/` go there. */
  readonly dir: string;
  /** The proxy script to run (a copy of the built one). */
  readonly script: string;
  /** `--upstream`. */
  readonly origin: string;
  /** `--cache-size`. */
  readonly cacheSize: string;
  /** Have the probe write a heap snapshot per line into `<dir>/snapshots`. */
  readonly heapSnapshots: boolean;
}

/** The running proxy. */
export interface SoakProxy {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** The admin listener (`/healthz`, `/metrics`). */
  readonly admin: string;
  /** Throws, with the tail of the proxy's log, when the proxy has exited. */
  assertAlive(): void;
  /** Sends SIGUSR2 and returns the probe's new line (30 s at most). */
  probe(): Promise<ProbeLine>;
  /** The proxy's log so far (warn and above), one line per entry. */
  logLines(): string[];
}

/**
 * Starts the proxy with the probe preloaded, hands its stop (SIGTERM, SIGKILL after 15 s) to `addStop` at once,
 * and waits until it is healthy (15 s at most).
 *
 * @example
 * ```ts
 * const proxy = await startSoakProxy({ dir, script, origin, cacheSize: '256MiB', heapSnapshots: false }, add);
 * ```
 */
export async function startSoakProxy(
  options: SoakProxyOptions,
  addStop: (stop: () => Promise<void>) => void,
): Promise<SoakProxy> {
  const { dir } = options;
  const probeFile = join(dir, 'probe.jsonl');
  writeFileSync(probeFile, '');
  const [port, adminPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const logFile = join(dir, 'proxy.log');
  const proxyArgs = [
    '--expose-gc',
    '--import',
    pathToFileURL(join(BENCH_DIR, 'soak-probe.mjs')).href,
    options.script,
    ...['--upstream', options.origin, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`],
    ...['--cache', 'memory', '--cache-size', options.cacheSize, '--slice-size', String(SLICE_SIZE)],
    ...['--log-level', 'warn'],
  ];
  const logFd = openSync(logFile, 'w');
  const proxy = spawn(process.execPath, proxyArgs, {
    stdio: ['ignore', logFd, logFd],
    env: {
      ...process.env,
      SLICE_SOAK_PROBE_FILE: probeFile,
      ...(options.heapSnapshots ? { SLICE_SOAK_SNAPSHOT_DIR: join(dir, 'snapshots') } : {}),
    },
  });
  closeSync(logFd);
  addStop(() => stopChild(proxy, 15_000));
  const assertAlive = (): void => {
    if (proxy.exitCode !== null || proxy.signalCode !== null)
      throw new Error(
        `slice-proxy exited (code ${proxy.exitCode}, signal ${proxy.signalCode}); its log:\n${tail(logFile)}`,
      );
  };
  await waitUntilHealthy(admin, assertAlive, 15_000);

  const probe = async (): Promise<ProbeLine> => {
    assertAlive();
    const before = lines(probeFile).length;
    proxy.kill('SIGUSR2');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const all = lines(probeFile);
      if (all.length > before) return JSON.parse(all[all.length - 1] as string) as ProbeLine;
      await sleep(50);
    }
    assertAlive();
    throw new Error('the soak probe wrote nothing within 30 s of SIGUSR2');
  };
  return { child: proxy, base, admin, assertAlive, probe, logLines: () => lines(logFile) };
}

// ---------------------------------------------------------------------------------------------------------

function lines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

function tail(file: string, n = 30): string {
  try {
    return lines(file).slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}
