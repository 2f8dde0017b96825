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
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { loadAverages, machine, wrkVersion } from './machine.js';
import { freePort, startNginx } from './nginx.js';
import { table } from './report.js';
import { runWrk, socketErrors, type WrkResult } from './wrk.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SLICE_SIZE = MiB;
const repoRoot = join(import.meta.dirname, '..');

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    requests: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    'cache-size': { type: 'string', default: '256MiB' },
    'flat-mb': { type: 'string', default: '4' },
    'round-timeout': { type: 'string', default: '1800' },
    'head-share': { type: 'string', default: '0.1' },
    'cold-share': { type: 'string', default: '0.01' },
    'cold-keys': { type: 'string', default: '500' },
    'cold-object': { type: 'string' },
    'heap-snapshots': { type: 'boolean', default: false },
    proxy: { type: 'string', default: join(repoRoot, 'dist', 'cli', 'slice-proxy.js') },
    build: { type: 'boolean', default: false },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const rounds = positiveInt('rounds');
const requestsPerRound = positiveInt('requests');
const connections = positiveInt('connections');
const threads = positiveInt('threads');
const roundTimeout = positiveInt('round-timeout');
const flatMB = Number(args['flat-mb']);
if (!(flatMB > 0))
  throw new Error(`Expected \`--flat-mb\` to be a positive number, got \`${args['flat-mb']}\`.`);
if (connections < threads) throw new Error('Expected `--connections` to be at least `--threads`.');
const headShare = Number(args['head-share']);
if (!(headShare >= 0 && headShare < 1))
  throw new Error(`Expected \`--head-share\` to be in [0, 1), got \`${args['head-share']}\`.`);
/** Per round: HEADs sent by this process (wrk cannot, wg/wrk#198), the rest by wrk. */
const headsPerRound = Math.round(requestsPerRound * headShare);
const coldShare = Number(args['cold-share']);
if (!(coldShare >= 0 && coldShare <= 1))
  throw new Error(`Expected \`--cold-share\` to be in [0, 1], got \`${args['cold-share']}\`.`);
const coldKeys = Number(args['cold-keys']);
if (!Number.isInteger(coldKeys) || coldKeys < 0)
  throw new Error(`Expected \`--cold-keys\` to be a non-negative integer, got \`${args['cold-keys']}\`.`);
/** HEAD requests in flight at once, on as many keep-alive connections. */
const HEAD_CONNECTIONS = 4;

/** The objects served: two of at most one slice (whole-object GETs), three of several (odd sizes included). */
const OBJECTS: readonly { readonly name: string; readonly size: number }[] = [
  { name: 'tiny-16k', size: 16 * KiB },
  { name: 'small-200k', size: 200 * KiB + 1 },
  { name: 'odd-5m', size: 5 * MiB + 12_345 },
  { name: 'mid-20m', size: 20 * MiB },
  { name: 'large-64m', size: 64 * MiB },
];

/** One row of the report: the probe's line after a round, with what wrk and `/metrics` said. */
interface Row {
  readonly round: number;
  readonly requestsSoFar: number;
  readonly wrk?: WrkResult;
  readonly heads?: HeadResult;
  /** Wall time of the round (wrk and the HEADs, which run side by side), ms. */
  readonly wallMs?: number;
  readonly probe: ProbeLine;
  readonly gauges: Gauges;
  /** CPU seconds of the proxy over the round. */
  readonly cpuS: number;
}

/** A line written by bench/soak-probe.mjs. */
interface ProbeLine {
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

/** The HEADs of a round. */
interface HeadResult {
  readonly requests: number;
  readonly hit: number;
  readonly bad: readonly string[];
  readonly badCount: number;
}

/** What the proxy's `/metrics` says after a round. */
interface Gauges {
  readonly requestsInFlight: number;
  readonly slicesInFlight: number;
  readonly bufferedBytes: number;
  readonly cacheBytes: number;
  readonly cacheEntries: number;
  readonly errorRequests: number;
  readonly sliceErrors: number;
  readonly cacheErrors: number;
}

const log = (text: string): void => {
  process.stderr.write(`${text}\n`);
};
const dir = mkdtempSync(join(tmpdir(), 'slice-soak-'));
const stops: (() => Promise<void>)[] = [];
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
    execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const proxyScript = args.proxy;
  if (!existsSync(proxyScript))
    throw new Error(`${proxyScript} does not exist: run \`npm run build\` first (or pass --build).`);
  const staleness = stale(proxyScript);
  if (staleness !== undefined) log(`soak: WARNING: ${staleness}`);
  const runScript = await snapshot(proxyScript);

  const www = join(dir, 'www');
  mkdirSync(www);
  const shas = writeObjects(www);
  const nginx = await startNginx({ dir: join(dir, 'nginx'), root: www, slowRate: '20m' });
  stops.push(nginx.stop);
  const origin = `${nginx.base}/fast`;

  const probeFile = join(dir, 'probe.jsonl');
  writeFileSync(probeFile, '');
  const [port, adminPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const logFile = join(dir, 'proxy.log');
  const proxyArgs = [
    '--expose-gc',
    '--import',
    pathToFileURL(join(import.meta.dirname, 'soak-probe.mjs')).href,
    runScript,
    ...['--upstream', origin, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`],
    ...['--cache', 'memory', '--cache-size', args['cache-size'], '--slice-size', String(SLICE_SIZE)],
    ...['--log-level', 'warn'],
  ];
  const logFd = openSync(logFile, 'w');
  const proxy = spawn(process.execPath, proxyArgs, {
    stdio: ['ignore', logFd, logFd],
    env: {
      ...process.env,
      SLICE_SOAK_PROBE_FILE: probeFile,
      ...(args['heap-snapshots'] ? { SLICE_SOAK_SNAPSHOT_DIR: join(dir, 'snapshots') } : {}),
    },
  });
  closeSync(logFd);
  const proxyExited = new Promise<void>((resolve) => proxy.once('exit', () => resolve()));
  stops.push(async () => {
    if (proxy.exitCode !== null || proxy.signalCode !== null) return;
    proxy.kill('SIGTERM');
    const timer = setTimeout(() => proxy.kill('SIGKILL'), 15_000);
    await proxyExited;
    clearTimeout(timer);
  });
  const alive = (): void => {
    if (proxy.exitCode !== null || proxy.signalCode !== null)
      throw new Error(
        `slice-proxy exited (code ${proxy.exitCode}, signal ${proxy.signalCode}); its log:\n${tail(logFile)}`,
      );
  };
  await waitUntilHealthy(admin, alive);
  log(`soak: temp dir ${dir}; nginx ${nginx.base}; slice-proxy pid ${proxy.pid} on ${base}`);

  await verify(base, shas);
  log('soak: every object checked through the proxy (whole SHA-256, ranges, HEAD, 416)');

  const probe = async (): Promise<ProbeLine> => {
    alive();
    const before = lines(probeFile).length;
    proxy.kill('SIGUSR2');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const all = lines(probeFile);
      if (all.length > before) return JSON.parse(all[all.length - 1] as string) as ProbeLine;
      await sleep(50);
    }
    alive();
    throw new Error('the soak probe wrote nothing within 30 s of SIGUSR2');
  };

  const objectArgs = OBJECTS.map((o) => `${o.name}:${o.size}`);
  const coldObject = args['cold-object'] ?? '-';
  if (coldObject !== '-' && !OBJECTS.some((o) => o.name === coldObject))
    throw new Error(`Expected \`--cold-object\` to be one of ${OBJECTS.map((o) => o.name).join(', ')}.`);
  if (args['heap-snapshots']) mkdirSync(join(dir, 'snapshots'));
  const quota = Math.ceil((requestsPerRound - headsPerRound) / threads);
  const headPool = new Pool(base, { connections: HEAD_CONNECTIONS, pipelining: 1 });
  stops.push(() => headPool.destroy());
  const rows: Row[] = [];
  let cpuBefore = cpuSeconds(proxy);
  rows.push({ round: 0, requestsSoFar: 0, probe: await probe(), gauges: await gauges(admin), cpuS: 0 });
  log(header());
  log(rowCells(rows[0] as Row).join(' | '));
  let requestsSoFar = 0;
  for (let round = 1; round <= rounds; round++) {
    const roundStart = performance.now();
    const headsDone = heads(headPool, headsPerRound);
    const result = await runWrk({
      url: `${base}/`,
      script: 'soak-mix.lua',
      args: [
        String(quota),
        String(SLICE_SIZE),
        String(coldShare),
        String(coldKeys),
        coldObject,
        ...objectArgs,
      ],
      threads,
      connections,
      seconds: roundTimeout,
      untilThreadsDone: true,
      onSpawn: (child) => {
        wrkChild = child;
      },
    });
    wrkChild = undefined;
    const headResult = await headsDone;
    const wallMs = performance.now() - roundStart;
    requestsSoFar += result.requests + headResult.requests;
    const cpuNow = cpuSeconds(proxy);
    const row: Row = {
      round,
      requestsSoFar,
      wrk: result,
      heads: headResult,
      wallMs,
      probe: await probe(),
      gauges: await gauges(admin),
      cpuS: cpuNow - cpuBefore,
    };
    cpuBefore = cpuNow;
    rows.push(row);
    log(rowCells(row).join(' | '));
    for (const text of [...(result.bad ?? []), ...headResult.bad])
      log(`soak: round ${round}: bad response: ${text}`);
  }

  const proxyLog = lines(logFile);
  const out = report(rows, {
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

// ---------------------------------------------------------------------------------------------------------

function positiveInt(name: keyof typeof args): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`Expected \`--${name}\` to be a positive integer, got \`${String(args[name])}\`.`);
  return value;
}

/** Writes the objects (random bytes) and returns their SHA-256 by name. */
function writeObjects(www: string): Map<string, string> {
  const shas = new Map<string, string>();
  for (const { name, size } of OBJECTS) {
    const bytes = randomFillSync(Buffer.allocUnsafe(size));
    writeFileSync(join(www, name), bytes);
    shas.set(name, createHash('sha256').update(bytes).digest('hex'));
  }
  return shas;
}

/**
 * Other work may rebuild `dist/` (tsup empties it first) while the soak runs: the proxy runs from a copy of the
 * whole `dist/` (its chunks are imported from `../`) under the repository's `.bench/` (git-ignored; inside the
 * repository so `node_modules` still resolves), removed at the end. A script outside `dist/` runs as it is.
 */
async function snapshot(script: string): Promise<string> {
  const dist = join(repoRoot, 'dist');
  const inDist = relative(dist, script);
  if (inDist.startsWith('..')) return script;
  mkdirSync(join(repoRoot, '.bench'), { recursive: true });
  const copy = mkdtempSync(join(repoRoot, '.bench', 'soak-dist-'));
  stops.push(async () => rmSync(copy, { recursive: true, force: true }));
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

/** A sentence when `src/` has files newer than the proxy script (the build is older than the code). */
function stale(script: string): string | undefined {
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
  walk(join(repoRoot, 'src'));
  if (newest === undefined || newest.mtimeMs <= built) return undefined;
  return (
    `${relative(repoRoot, script)} (built ${new Date(built).toISOString()}) is older than ` +
    `${relative(repoRoot, newest.path)} (${new Date(newest.mtimeMs).toISOString()}): the proxy measured is the ` +
    'last build, not the working tree (`npm run build` or `--build`).'
  );
}

async function waitUntilHealthy(admin: string, alive: () => void): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    alive();
    const ok = await fetch(`${admin}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await sleep(50);
  }
  alive();
  throw new Error('slice-proxy did not become healthy within 15 s');
}

/**
 * Before anything is timed, through the proxy, per object: the whole body's SHA-256 (which also fills the
 * store), a range across the first slice boundary (or the middle of a small object), a suffix, a HEAD and a 416.
 */
async function verify(base: string, shas: ReadonlyMap<string, string>): Promise<void> {
  const fail = (what: string): never => {
    throw new Error(`soak verification failed: ${what}`);
  };
  for (const { name, size } of OBJECTS) {
    const url = `${base}/${name}`;
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    const sha = createHash('sha256').update(whole).digest('hex');
    if (whole.length !== size || sha !== shas.get(name))
      fail(`${name}: got ${whole.length} bytes with SHA-256 ${sha}`);
    const first = size > SLICE_SIZE ? SLICE_SIZE - 1000 : Math.floor(size / 3);
    const last = Math.min(size - 1, first + 4095);
    const ranged = await fetch(url, { headers: { range: `bytes=${first}-${last}` } });
    const part = Buffer.from(await ranged.arrayBuffer());
    if (ranged.status !== 206 || !part.equals(whole.subarray(first, last + 1)))
      fail(`${name} bytes=${first}-${last}: status ${ranged.status}, ${part.length} bytes`);
    const suffix = await fetch(url, { headers: { range: 'bytes=-100' } });
    const end = Buffer.from(await suffix.arrayBuffer());
    if (suffix.status !== 206 || !end.equals(whole.subarray(size - 100)))
      fail(`${name} bytes=-100: status ${suffix.status}, ${end.length} bytes`);
    const head = await fetch(url, { method: 'HEAD' });
    if (head.status !== 200 || head.headers.get('content-length') !== String(size))
      fail(`${name} HEAD: status ${head.status}, content-length ${head.headers.get('content-length')}`);
    const past = await fetch(url, { headers: { range: `bytes=${size}-` } });
    await past.arrayBuffer();
    if (past.status !== 416 || past.headers.get('content-range') !== `bytes */${size}`)
      fail(
        `${name} bytes=${size}-: status ${past.status}, content-range ${past.headers.get('content-range')}`,
      );
  }
}

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

/**
 * Sends `count` HEADs of random objects through `pool`, `HEAD_CONNECTIONS` at a time; each must answer 200
 * with the object's size as Content-Length and no body.
 */
async function heads(pool: Pool, count: number): Promise<HeadResult> {
  let next = 0;
  let hit = 0;
  let badCount = 0;
  const bad: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const o = OBJECTS[Math.floor(Math.random() * OBJECTS.length)] as (typeof OBJECTS)[number];
      try {
        const res = await pool.request({ path: `/${o.name}`, method: 'HEAD' });
        const body = await res.body.arrayBuffer();
        if (res.headers['x-slice-cache'] === 'HIT') hit++;
        if (
          res.statusCode !== 200 ||
          res.headers['content-length'] !== String(o.size) ||
          body.byteLength !== 0
        ) {
          badCount++;
          if (bad.length < 5)
            bad.push(`HEAD /${o.name}: ${res.statusCode}, content-length ${res.headers['content-length']}`);
        }
      } catch (error) {
        badCount++;
        if (bad.length < 5) bad.push(`HEAD /${o.name}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: HEAD_CONNECTIONS }, worker));
  return { requests: count, hit, bad, badCount };
}

/** User + system CPU of a child, in seconds (Linux clock ticks of 10 ms). */
function cpuSeconds(child: ChildProcess): number {
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function gauges(admin: string): Promise<Gauges> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const sum = (name: string, labels?: string): number => {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
      if (labels !== undefined && !line.includes(labels)) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  };
  return {
    requestsInFlight: sum('slice_fetch_requests_in_flight'),
    slicesInFlight: sum('slice_fetch_slices_in_flight'),
    bufferedBytes: sum('slice_fetch_buffered_bytes'),
    cacheBytes: sum('slice_fetch_cache_bytes'),
    cacheEntries: sum('slice_fetch_cache_entries'),
    errorRequests: sum('slice_fetch_requests_total', 'outcome="error"'),
    sliceErrors: sum('slice_fetch_slice_errors_total'),
    cacheErrors: sum('slice_fetch_cache_errors_total'),
  };
}

function MB(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function columns(): string[] {
  return [
    'round',
    'requests so far',
    'req/s',
    'heap used after GC (MB)',
    'RSS (MB)',
    'ArrayBuffers (MB)',
    'store (MB / entries)',
    'in flight (req / slices / buffered)',
    'active handles',
    'proxy CPU (s)',
    'HIT %',
    'bad / socket errors',
  ];
}

function header(): string {
  return columns().join(' | ');
}

function rowCells(row: Row): string[] {
  const w = row.wrk;
  const counts = w?.counts ?? {};
  const h = row.heads;
  const answered = (w?.requests ?? 0) + (h?.requests ?? 0);
  const hits = (counts.hit ?? 0) + (h?.hit ?? 0);
  const g = row.gauges;
  return [
    row.round === 0 ? '0 (after the check)' : String(row.round),
    row.requestsSoFar.toLocaleString('en-US'),
    w === undefined || row.wallMs === undefined
      ? '–'
      : Math.round((w.requests + (h?.requests ?? 0)) / (row.wallMs / 1000)).toLocaleString('en-US'),
    MB(row.probe.heapUsed),
    MB(row.probe.rss),
    MB(row.probe.arrayBuffers),
    `${MB(g.cacheBytes)} / ${g.cacheEntries}`,
    `${g.requestsInFlight} / ${g.slicesInFlight} / ${g.bufferedBytes}`,
    String(row.probe.activeResources),
    w === undefined ? '–' : row.cpuS.toFixed(1),
    w === undefined || answered === 0 ? '–' : ((hits / answered) * 100).toFixed(1),
    w === undefined ? '–' : `${(counts.nbad ?? 0) + (h?.badCount ?? 0)} / ${socketErrors(w)}`,
  ];
}

/** Least-squares slope of `y` over `x`. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

function report(
  rows: readonly Row[],
  context: {
    machine: string;
    loadAtStart: string;
    seconds: number;
    proxyScript: string;
    staleness: string | undefined;
    proxyLog: readonly string[];
  },
): { text: string; ok: boolean } {
  const measured = rows.filter((r) => r.round >= 1);
  const totals = {
    n206: 0,
    n200: 0,
    n416: 0,
    nbad: 0,
    hit: 0,
    miss: 0,
    partial: 0,
    revalidated: 0,
    pass: 0,
    nocache: 0,
  };
  let socket = 0;
  let headCount = 0;
  let headHits = 0;
  let headBad = 0;
  for (const r of measured) {
    for (const key of Object.keys(totals) as (keyof typeof totals)[])
      totals[key] += r.wrk?.counts?.[key] ?? 0;
    socket += r.wrk === undefined ? 0 : socketErrors(r.wrk);
    headCount += r.heads?.requests ?? 0;
    headHits += r.heads?.hit ?? 0;
    headBad += r.heads?.badCount ?? 0;
  }
  const total = measured.reduce((s, r) => s + (r.wrk?.requests ?? 0) + (r.heads?.requests ?? 0), 0);
  const wrong = totals.nbad + headBad;
  const from = rows.find((r) => r.round === 2);
  const last = rows[rows.length - 1] as Row;
  const out: string[] = [
    `## Heap over a long run (${measured.length} rounds × ${requestsPerRound.toLocaleString('en-US')} requests)`,
    '',
    context.machine,
    '',
    `Command: \`npm run bench:soak -- ${process.argv.slice(2).join(' ')}\`; proxy \`${relative(repoRoot, context.proxyScript)}\``,
    `(built ${new Date(statSync(context.proxyScript).mtimeMs).toISOString()}), \`--cache memory --cache-size ${args['cache-size']}\`,`,
    `\`--slice-size 1MiB\`, \`--log-level warn\`; per round ${(requestsPerRound - headsPerRound).toLocaleString('en-US')} requests by wrk`,
    `\`-t${threads} -c${connections}\` (bench/lua/soak-mix.lua) and, side by side, ${headsPerRound.toLocaleString('en-US')} HEADs by undici on`,
    `${HEAD_CONNECTIONS} connections (wrk cannot send HEAD); objects ${OBJECTS.map((o) => `${o.name} (${o.size} B)`).join(', ')}.`,
    `Cold keys: ${(coldShare * 100).toFixed(1)} % of wrk's requests ask for 4 KiB of ${args['cold-object'] ?? 'an object of more than three slices'}`,
    `under \`?v=<n>\`, n from 1..${coldKeys > 0 ? coldKeys.toLocaleString('en-US') : '10^9 (a new URL each time)'}.`,
    `Total ${context.seconds.toFixed(0)} s. Load average (1/5/15 min) at start ${context.loadAtStart}, at end ${loadAverages()}.`,
    '',
    ...(context.staleness === undefined ? [] : [`**Warning**: ${context.staleness}`, '']),
    table(columns(), rows.map(rowCells)),
    '',
    'MB = 10^6 bytes. Every row is taken with the proxy idle, after two `gc()` calls. Store and in-flight figures',
    "are the proxy's `/metrics` gauges; HIT % is the share of responses with `x-slice-cache: HIT`.",
    '',
    `Responses over all rounds: ${total.toLocaleString('en-US')} — by wrk: 206 ${totals.n206}, 200 ${totals.n200},`,
    `416 ${totals.n416}, x-slice-cache HIT ${totals.hit} / MISS ${totals.miss} / PARTIAL ${totals.partial} / REVALIDATED`,
    `${totals.revalidated} / PASS ${totals.pass} / none ${totals.nocache}; HEADs ${headCount} (HIT ${headHits}); wrong:`,
    `${wrong}; wrk socket errors: ${socket}.`,
    `Proxy errors on \`/metrics\` at the end: ${last.gauges.errorRequests} requests with outcome \`error\`, ` +
      `${last.gauges.sliceErrors} failed slices, ${last.gauges.cacheErrors} store errors. Proxy log (warn and ` +
      `above): ${context.proxyLog.length} lines${context.proxyLog.length > 0 ? `; first: \`${context.proxyLog[0]?.slice(0, 300)}\`` : ''}.`,
    '',
  ];
  let flat = false;
  if (from === undefined || last.round < 3) {
    out.push('Verdict: n/a (needs at least 3 rounds: round 1 fills the store, round 2 is the reference).');
  } else {
    const growth = last.probe.heapUsed - from.probe.heapUsed;
    const rssGrowth = last.probe.rss - from.probe.rss;
    const perRound = slope(rows.filter((r) => r.round >= 2).map((r) => [r.round, r.probe.heapUsed / 1e6]));
    flat = Math.abs(growth) <= flatMB * 1e6;
    out.push(
      `Verdict: heap used after GC went from ${MB(from.probe.heapUsed)} MB after round 2 to ${MB(last.probe.heapUsed)} MB ` +
        `after round ${last.round} (${growth >= 0 ? '+' : ''}${MB(growth)} MB over ` +
        `${(last.requestsSoFar - from.requestsSoFar).toLocaleString('en-US')} requests; least-squares slope ` +
        `${perRound >= 0 ? '+' : ''}${perRound.toFixed(2)} MB per round): ` +
        `**${flat ? 'flat' : 'NOT flat'}** (threshold ±${flatMB} MB). RSS ${rssGrowth >= 0 ? '+' : ''}${MB(rssGrowth)} MB over the same rounds.`,
    );
  }
  const ok = flat && wrong === 0 && socket === 0;
  return { text: out.join('\n'), ok };
}
