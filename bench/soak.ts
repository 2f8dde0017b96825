/**
 * `npm run bench:soak`: does the built `slice-proxy` hold its heap flat over a long run?
 *
 * Starts an nginx origin (its own process) serving objects of several sizes from a temp dir, and in front of it
 * the real built proxy, `node --expose-gc --import bench/soak-probe.mjs dist/cli/slice-proxy.js` (memory store,
 * free ports; run from a copy of `dist/` so a concurrent rebuild cannot pull it away). The probe is a bench-only
 * preload, not part of the library: on SIGUSR2 it collects garbage twice and appends `process.memoryUsage()` as
 * a JSON line to a file. Every object is first checked through the proxy (whole SHA-256, ranges, HEAD, 416),
 * then each of `--rounds` rounds sends `--requests` requests: wrk (bench/lua/soak-mix.lua: 4 KiB ranges at random
 * offsets, ranges across slice boundaries, a few multi-slice ranges, suffix ranges, 416s past the end, whole
 * small objects, and `--cold-share` (1 %) of 4 KiB ranges under `?v=<n>`, n from `--cold-keys` (500) keys, so the
 * store keeps evicting) and, beside it, `--head-share` (10 %) HEADs sent by this process (wrk cannot send HEAD).
 * wrk's script checks every response's length against its headers. After each round the proxy is idle, gets
 * SIGUSR2, and a row is printed: requests so far, req/s, heap used after GC, RSS, ArrayBuffers, the store's bytes,
 * the proxy's own gauges. The verdict is the growth of heap used after GC from round 2 (round 1 fills the store
 * and the proxy's bounded in-memory indexes) to the last.
 *
 * `--cold-keys 0` makes every cold URL new: the heap then grows by ~1.3 KB per URL until the engine's metadata
 * LRU (10 000 entries) is full — bounded, but a 1 M-request run at 1 % does not reach that bound; add
 * `--cold-share 0.2 --cold-object tiny-16k` to fill it in round 1. `--heap-snapshots --keep` writes a heap snapshot
 * per row for bench/heap-diff.ts.
 *
 * Every process it starts (nginx, the proxy, wrk) is stopped at the end, also on failure and on Ctrl-C. The exit
 * code is 1 when the heap is not flat, a response was wrong or a socket error happened.
 *
 * Usage: `npm run bench:soak -- [--rounds 10] [--requests 100000] [--connections 32] [--threads 2]
 *   [--cold-share 0.01] [--cold-keys 500] [--cold-object tiny-16k] [--head-share 0.1] [--cache-size 256MiB]
 *   [--flat-mb 4] [--proxy dist/cli/slice-proxy.js] [--build] [--heap-snapshots] [--json out.json] [--keep]`
 *
 * The parts: flags in bench/soak/options.ts, the objects in bench/soak/objects.ts, the copy of `dist/` and the
 * staleness warning in bench/soak/built-proxy.ts, the proxy and its probe in bench/soak/proxy.ts, the check in
 * bench/soak/verify.ts, a round's load in bench/soak/round-load.ts (HEADs in bench/soak/heads.ts), `/metrics` in
 * bench/soak/gauges.ts, the rows in bench/soak/rows.ts and the report and verdict in bench/soak/report.ts.
 *
 * @module
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { log } from './log.js';
import { loadAverages, machine, wrkVersion } from './machine.js';
import { startNginx } from './nginx.js';
import { REPO_ROOT } from './paths.js';
import { cpuMsOrNaN } from './proc-stats.js';
import { copyOfDist, staleBuildWarning } from './soak/built-proxy.js';
import { readGauges } from './soak/gauges.js';
import { HEAD_CONNECTIONS } from './soak/heads.js';
import { OBJECTS, writeSoakObjects } from './soak/objects.js';
import { parseSoakOptions } from './soak/options.js';
import { startSoakProxy } from './soak/proxy.js';
import { soakReport } from './soak/report.js';
import { loadRound } from './soak/round-load.js';
import { header, type Row, rowCells } from './soak/rows.js';
import { verifyThroughProxy } from './soak/verify.js';

const options = parseSoakOptions();
const { args, rounds } = options;
const dir = mkdtempSync(join(tmpdir(), 'slice-soak-'));
const stops: (() => Promise<void>)[] = [];
const addStop = (stop: () => Promise<void>): void => {
  stops.push(stop);
};
let wrkChild: ChildProcess | undefined;
let cleaned = false;
const cleanup = async (): Promise<void> => {
  if (cleaned) return;
  cleaned = true;
  if (wrkChild !== undefined && wrkChild.exitCode === null && wrkChild.signalCode === null)
    wrkChild.kill('SIGKILL');
  for (const stop of stops.reverse()) {
    try {
      await stop();
    } catch (error) {
      log(`soak: stopping a process failed: ${(error as Error).message}`);
    }
  }
  if (args.keep) log(`soak: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`soak: ${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const started = performance.now();
  const loadAtStart = loadAverages();
  if (args.build) {
    log('soak: npm run build…');
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const proxyScript = args.proxy;
  if (!existsSync(proxyScript))
    throw new Error(`${proxyScript} does not exist: run \`npm run build\` first (or pass --build).`);
  const staleness = staleBuildWarning(proxyScript);
  if (staleness !== undefined) log(`soak: WARNING: ${staleness}`);
  const runScript = await copyOfDist(proxyScript, addStop);

  const www = join(dir, 'www');
  mkdirSync(www);
  const shas = writeSoakObjects(www);
  const nginx = await startNginx({ dir: join(dir, 'nginx'), root: www, slowRate: '20m' });
  stops.push(nginx.stop);
  const origin = `${nginx.base}/fast`;

  const proxy = await startSoakProxy(
    {
      dir,
      script: runScript,
      origin,
      cacheSize: args['cache-size'],
      heapSnapshots: args['heap-snapshots'],
    },
    addStop,
  );
  const { base, admin } = proxy;
  log(`soak: temp dir ${dir}; nginx ${nginx.base}; slice-proxy pid ${proxy.child.pid} on ${base}`);

  await verifyThroughProxy(base, shas);
  log('soak: every object checked through the proxy (whole SHA-256, ranges, HEAD, 416)');

  const coldObject = args['cold-object'] ?? '-';
  if (coldObject !== '-' && !OBJECTS.some((o) => o.name === coldObject))
    throw new Error(`Expected \`--cold-object\` to be one of ${OBJECTS.map((o) => o.name).join(', ')}.`);
  if (args['heap-snapshots']) mkdirSync(join(dir, 'snapshots'));
  const headPool = new Pool(base, { connections: HEAD_CONNECTIONS, pipelining: 1 });
  stops.push(() => headPool.destroy());
  const rows: Row[] = [];
  const proxyCpuS = (): number => cpuMsOrNaN(proxy.child.pid) / 1000;
  let cpuBefore = proxyCpuS();
  rows.push({
    round: 0,
    requestsSoFar: 0,
    probe: await proxy.probe(),
    gauges: await readGauges(admin),
    cpuS: 0,
  });
  log(header());
  log(rowCells(rows[0] as Row).join(' | '));
  let requestsSoFar = 0;
  for (let round = 1; round <= rounds; round++) {
    const load = await loadRound(options, {
      base,
      headPool,
      coldObject,
      trackWrk: (child) => {
        wrkChild = child;
      },
    });
    requestsSoFar += load.wrk.requests + load.heads.requests;
    const cpuNow = proxyCpuS();
    const row: Row = {
      round,
      requestsSoFar,
      wrk: load.wrk,
      heads: load.heads,
      wallMs: load.wallMs,
      probe: await proxy.probe(),
      gauges: await readGauges(admin),
      cpuS: cpuNow - cpuBefore,
    };
    cpuBefore = cpuNow;
    rows.push(row);
    log(rowCells(row).join(' | '));
    for (const text of [...(load.wrk.bad ?? []), ...load.heads.bad])
      log(`soak: round ${round}: bad response: ${text}`);
  }

  const proxyLog = proxy.logLines();
  const out = soakReport(options, rows, {
    machine: await machine([['wrk', await wrkVersion()]]),
    loadAtStart,
    seconds: (performance.now() - started) / 1000,
    proxyScript,
    staleness,
    proxyLog,
  });
  process.stdout.write(`${out.text}\n`);
  if (args.json !== undefined)
    writeFileSync(args.json, JSON.stringify({ args, objects: OBJECTS, rows }, null, 2));
  if (!out.ok) process.exitCode = 1;
} catch (error) {
  process.exitCode = 1;
  // After Ctrl-C the children die under us: that is the stop, not a failure to report.
  if (!cleaned) log(`soak: failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cleanup();
}
