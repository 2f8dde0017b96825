import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LARGE_BYTES, type Measure, SLICE_SETTINGS, SMALL_BYTES } from './cases.js';
import type { PassResult } from './clients/protocol.js';
import type { StoreClientSpec } from './clients/store.js';
import { freePort } from './nginx.js';
import { type Clients, runClient, startNodeServer } from './processes.js';
import { mbps, median, ratio, rssCell, type Samples, table, timeCell, type Verdict } from './report.js';

const MiB = 1024 * 1024;
/** Per cold disk pass: how long its store writes trailed its last byte (untimed, reported under the table). */
const drains: number[] = [];

/** The disk store's budget: twice the object, so nothing of it is evicted. */
export const FS_STORE_BYTES = 2048 * MiB;

/** What case 4 runs against. */
export interface StoreEnv {
  readonly clients: Clients;
  /** The origin nginx (files under `/fast/`). */
  readonly origin: string;
  /** The slice-cache nginx (files under `/sliced/`). */
  readonly cache: string;
  readonly smallFile: string;
  readonly largeFile: string;
  /** Scratch directory for the disk stores (same disk as nginx's cache). */
  readonly scratch: string;
  /** `redis://127.0.0.1:<port>` */
  readonly redisUrl: string;
}

/** Case-4 variant ids, in table order. */
export const CASE4_IDS = [
  'c4.fs.warm',
  'c4.redis.warm',
  'c4.nginx.warm',
  'c4.fs.cold',
  'c4.nginx.cold',
] as const;

/** Case-4 proxy-against-proxy ids (both proxies read by curl), in table order. */
export const CASE4_PROXY_IDS = ['c4p.fs.warm', 'c4p.nginx.warm', 'c4p.fs.cold', 'c4p.nginx.cold'] as const;

const PROXY_LABELS: Record<(typeof CASE4_PROXY_IDS)[number], string> = {
  'c4p.fs.warm': '`slice-proxy --cache fs`, warm, new process',
  'c4p.nginx.warm': 'nginx slice + proxy_cache, warm',
  'c4p.fs.cold': '`slice-proxy --cache fs`, cold (empty dir, writes to disk)',
  'c4p.nginx.cold': 'nginx slice + proxy_cache, cold (empty key, writes to disk)',
};

const LABELS: Record<(typeof CASE4_IDS)[number], string> = {
  'c4.fs.warm': 'slice-fetch `fsStorage`, warm, new process',
  'c4.redis.warm': 'slice-fetch `redisStorage`, warm, new process',
  'c4.nginx.warm': 'nginx slice + proxy_cache, warm (undici GET through it)',
  'c4.fs.cold': 'slice-fetch `fsStorage`, cold (empty dir, writes to disk)',
  'c4.nginx.cold': 'nginx slice + proxy_cache, cold (empty key, writes to disk)',
};

/**
 * Checks that the stores and nginx's slice cache return the 64 MiB object byte for byte, cold and warm, with
 * every warm slice a store hit, and so must `slice-proxy --cache fs` (cold, then warm in a new process); then
 * fills Redis and nginx's cache with the 1 GiB object (untimed).
 *
 * @example
 * ```ts
 * await prepareStores(env, sha);
 * ```
 */
export async function prepareStores(env: StoreEnv, sha: string): Promise<void> {
  const small = `${env.origin}/fast/${env.smallFile}`;
  const dir = join(env.scratch, 'verify-fs');
  const stores = [fsSpec(dir), { kind: 'redis', url: env.redisUrl } as const];
  for (const store of stores) {
    for (const temperature of ['cold', 'warm'] as const) {
      const pass = await storePass(env, { url: small, store, verify: true });
      check(pass.sha256 === sha && pass.bytes === SMALL_BYTES, `${store.kind} ${temperature}`, pass);
      if (temperature === 'warm')
        check(pass.cacheMisses === 0, `${store.kind} warm: every slice must be a store hit`, pass);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const proxyDir = join(env.scratch, 'verify-proxy');
  for (const temperature of ['cold', 'warm']) {
    const digest = await withProxy(env, proxyDir, async (_proxy, base) => {
      const res = await fetch(`${base}/${env.smallFile}`);
      return createHash('sha256')
        .update(Buffer.from(await res.arrayBuffer()))
        .digest('hex');
    });
    check(digest === sha, `slice-proxy --cache fs ${temperature}`, { digest });
  }
  rmSync(proxyDir, { recursive: true, force: true });
  for (let i = 0; i < 2; i++) {
    const r = await runClient(env.clients.undici, {
      url: `${env.cache}/sliced/${env.smallFile}`,
      verify: true,
    });
    const pass = r.passes[0];
    check(pass?.sha256 === sha && pass.bytes === SMALL_BYTES, 'nginx slice cache', pass);
  }
  const large = `${env.origin}/fast/${env.largeFile}`;
  const filled = await storePass(env, { url: large, store: { kind: 'redis', url: env.redisUrl } });
  check(filled.cacheStores === LARGE_BYTES / MiB, 'redis fill: every slice stored', filled);
  await undiciPass(env, `${env.cache}/sliced/${env.largeFile}`);
}

/**
 * Runs one round of case 4 and returns a measure per variant id.
 *
 * @example
 * ```ts
 * const m = await storeRound(env, 1); // m.get('c4.fs.warm')?.ms
 * ```
 */
export async function storeRound(env: StoreEnv, round: number): Promise<Map<string, Measure>> {
  const out = new Map<string, Measure>();
  const large = `${env.origin}/fast/${env.largeFile}`;
  const dir = join(env.scratch, `fs-${round}`);
  mkdirSync(dir, { recursive: true });
  const fsCold = async (): Promise<void> => {
    settleDisk();
    const cold = await storePass(env, { url: large, store: fsSpec(dir) });
    check(cold.cacheStores === LARGE_BYTES / MiB, 'fs cold: every slice stored', cold);
    out.set('c4.fs.cold', cold.measure);
    drains.push(cold.drainMs ?? Number.NaN);
  };
  const nginxCold = async (): Promise<void> => {
    settleDisk();
    // A query nginx has never seen is a new cache key: every slice misses and is written to disk.
    out.set('c4.nginx.cold', await undiciPass(env, `${env.cache}/sliced/${env.largeFile}?cold=${round}`));
  };
  await inTurns(round, fsCold, nginxCold);
  // The same comparison between two proxies, each read by curl: slice-proxy over a disk store against nginx.
  const proxyDir = join(env.scratch, `proxy-${round}`);
  mkdirSync(proxyDir, { recursive: true });
  const proxyCold = async (): Promise<void> => {
    settleDisk();
    out.set('c4p.fs.cold', await proxyPass(env, proxyDir, 'cold'));
  };
  const nginxCurlCold = async (): Promise<void> => {
    settleDisk();
    out.set('c4p.nginx.cold', await curlPass(`${env.cache}/sliced/${env.largeFile}?curl-cold=${round}`));
  };
  await inTurns(round, proxyCold, nginxCurlCold);
  out.set('c4p.fs.warm', await proxyPass(env, proxyDir, 'warm'));
  rmSync(proxyDir, { recursive: true, force: true });
  out.set('c4p.nginx.warm', await curlPass(`${env.cache}/sliced/${env.largeFile}`));

  const warm = await storePass(env, { url: large, store: fsSpec(dir) });
  check(warm.cacheMisses === 0, 'fs warm: every slice a store hit', warm);
  out.set('c4.fs.warm', warm.measure);
  rmSync(dir, { recursive: true, force: true });
  const redis = await storePass(env, { url: large, store: { kind: 'redis', url: env.redisUrl } });
  check(redis.cacheMisses === 0, 'redis warm: every slice a store hit', redis);
  out.set('c4.redis.warm', redis.measure);
  out.set('c4.nginx.warm', await undiciPass(env, `${env.cache}/sliced/${env.largeFile}`));
  return out;
}

/**
 * Runs two cold passes back to back, `ours` first in odd rounds and `theirs` first in even ones: the VM's disk and
 * memory get slower as a run writes more, so a fixed order would hand whichever goes second a systematic handicap.
 */
async function inTurns(round: number, ours: () => Promise<void>, theirs: () => Promise<void>): Promise<void> {
  const [first, second] = round % 2 === 1 ? [ours, theirs] : [theirs, ours];
  await first();
  await second();
}

/**
 * Flushes dirty pages to disk (untimed) before a cold pass, so no cold pass pays for the kernel writing back
 * what an earlier pass wrote.
 */
function settleDisk(): void {
  execFileSync('sync');
}

/**
 * The case-4 table in Markdown.
 *
 * @example
 * ```ts
 * console.log(storeTable(results));
 * ```
 */
export function storeTable(results: ReadonlyMap<string, Samples>): string {
  const rows = CASE4_IDS.map((id) =>
    versusRow(results, LABELS[id], id, id.endsWith('.cold') ? 'c4.nginx.cold' : 'c4.nginx.warm'),
  );
  return [
    '### Case 4 — persistent stores: 1 GiB, 1 MiB slices, concurrency 8, vs nginx slice + proxy_cache',
    '',
    `slice-fetch: \`fetch()\` + reader in-process, \`fsStorage({ maxBytes: ${FS_STORE_BYTES / MiB} MiB })\` in the bench`,
    "temp dir (same disk as nginx's cache) or `redisStorage` on a local `redis-server --save '' --appendonly no",
    '--maxmemory 3gb`. Warm = a new process reading a store filled by an earlier one. nginx: a second nginx with',
    '`slice 1m; proxy_cache` (keep-alive upstream) in front of the origin, read by the undici one-GET client;',
    'warm = a key fetched before, cold = a new query string. CPU is the client process only (not nginx or Redis).',
    '',
    table(['client', ...VERSUS_HEADERS], rows),
    '',
    `The cold disk pass's store writes were all on disk ${Math.round(median(drains))} ms (median) after its last byte`,
    '(untimed: the time column ends at the last byte, as it does for nginx).',
  ].join('\n');
}

/**
 * The case-4 proxy-against-proxy table in Markdown.
 *
 * @example
 * ```ts
 * console.log(storeProxyTable(results));
 * ```
 */
export function storeProxyTable(results: ReadonlyMap<string, Samples>): string {
  const rows = CASE4_PROXY_IDS.map((id) =>
    versusRow(results, PROXY_LABELS[id], id, id.endsWith('.cold') ? 'c4p.nginx.cold' : 'c4p.nginx.warm'),
  );
  return [
    '### Case 4, proxy against proxy: `slice-proxy --cache fs` and nginx slice + proxy_cache, each read by curl',
    '',
    '`slice-proxy` (bundled from `src/cli`) with `--cache fs --cache-size 2GiB` in the bench temp dir, upstream the',
    "origin's `/fast/`, one process per pass (warm = a new process on the directory the cold pass filled; SIGTERM",
    "lets its writes land). Both read by `curl -o /dev/null`; time is curl's `time_total`; CPU and peak RSS are the",
    "slice-proxy process's over the transfer (not measured for nginx's worker).",
    '',
    table(['server', ...VERSUS_HEADERS], rows),
  ].join('\n');
}

/**
 * The case-4 verdicts (Redis has no target: its ratio is in the table).
 *
 * @example
 * ```ts
 * storeVerdicts(results).every((v) => v.met);
 * ```
 */
export function storeVerdicts(results: ReadonlyMap<string, Samples>): Verdict[] {
  const t = (id: string): number => median(results.get(id)?.ms ?? []);
  const warm = t('c4.nginx.warm') / t('c4.fs.warm');
  const cold = t('c4.nginx.cold') / t('c4.fs.cold');
  // The same targets for the two proxies read by curl (the shape in which slice-proxy replaces nginx).
  const proxyWarm = t('c4p.nginx.warm') / t('c4p.fs.warm');
  const proxyCold = t('c4p.nginx.cold') / t('c4p.fs.cold');
  return [
    { target: '4. `fsStorage` warm: throughput ≥ 0.5 × nginx warm', measured: ratio(warm), met: warm >= 0.5 },
    { target: '4. `fsStorage` cold: throughput ≥ 1.0 × nginx cold', measured: ratio(cold), met: cold >= 1 },
    {
      target: '4. `slice-proxy --cache fs` warm: throughput ≥ 0.5 × nginx warm (both read by curl)',
      measured: ratio(proxyWarm),
      met: proxyWarm >= 0.5,
    },
    {
      target: '4. `slice-proxy --cache fs` cold: throughput ≥ 1.0 × nginx cold (both read by curl)',
      measured: ratio(proxyCold),
      met: proxyCold >= 1,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------

/** Columns of a case-4 row after its label. */
const VERSUS_HEADERS = [
  'time: median (min–max)',
  'throughput',
  'throughput ÷ nginx (same temperature)',
  'best ÷ best',
  'CPU',
  'peak RSS',
];

/** One table row: variant `id` against the nginx variant `base` of the same temperature. */
function versusRow(results: ReadonlyMap<string, Samples>, label: string, id: string, base: string): string[] {
  const ms = results.get(id)?.ms ?? [];
  const baseMs = results.get(base)?.ms ?? [];
  const cpu = median(results.get(id)?.cpuMs ?? []);
  return [
    label,
    timeCell(ms),
    mbps(LARGE_BYTES, median(ms)),
    ratio(median(baseMs) / median(ms)),
    ratio(Math.min(...baseMs) / Math.min(...ms)),
    Number.isFinite(cpu) ? `${(cpu / 1000).toFixed(2)} s` : 'n/a',
    rssCell(median(results.get(id)?.rssKiB ?? [])),
  ];
}

function fsSpec(dir: string): StoreClientSpec['store'] {
  return { kind: 'fs', dir, maxBytes: FS_STORE_BYTES };
}

interface StorePass extends PassResult {
  readonly measure: Measure;
}

async function storePass(
  env: StoreEnv,
  options: { url: string; store: StoreClientSpec['store']; verify?: boolean },
): Promise<StorePass> {
  const spec: StoreClientSpec = { entry: 'response', ...SLICE_SETTINGS, ...options };
  const r = await runClient(env.clients.store, spec);
  const pass = r.passes[0];
  if (pass === undefined) throw new Error('store client: no pass reported');
  const want = options.url.includes(env.smallFile) ? SMALL_BYTES : LARGE_BYTES;
  check(pass.status === 200 && pass.bytes === want, 'store client: status 200 and every byte', pass);
  return {
    ...pass,
    measure: { ms: pass.ms, rssKiB: r.maxRssKiB, cpuMs: pass.cpuMs, arrayBuffersKiB: r.peakArrayBuffersKiB },
  };
}

/** One GET by curl (a native client costs the server it measures next to nothing); its transfer time. */
async function curlPass(url: string): Promise<Measure> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url],
      (error, out) => (error === null ? resolve(out) : reject(error)),
    );
  });
  const [status, bytes, seconds] = stdout.trim().split(' ').map(Number);
  check(status === 200 && bytes === LARGE_BYTES, `curl ${url}: status 200 and every byte`, { status, bytes });
  return {
    ms: (seconds as number) * 1000,
    rssKiB: Number.NaN,
    cpuMs: Number.NaN,
    arrayBuffersKiB: Number.NaN,
  };
}

/**
 * One curl GET of the large object through a fresh `slice-proxy --cache fs` on `dir`. CPU and peak RSS are the
 * proxy's, from /proc. A warm pass must be all store hits (read from the proxy's `/metrics`).
 */
function proxyPass(env: StoreEnv, dir: string, temperature: 'cold' | 'warm'): Promise<Measure> {
  return withProxy(env, dir, async (proxy, base, admin) => {
    const cpuBefore = cpuMsOf(proxy);
    const measure = await curlPass(`${base}/${env.largeFile}`);
    const cpuMs = cpuMsOf(proxy) - cpuBefore;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))?.[1];
    if (temperature === 'warm') {
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      const hits = metricSum(metrics, 'slice_fetch_cache_hits_total');
      const misses = metricSum(metrics, 'slice_fetch_cache_misses_total');
      check(hits === LARGE_BYTES / MiB && misses === 0, 'slice-proxy warm: every slice a store hit', {
        hits,
        misses,
      });
    }
    return { ...measure, cpuMs, rssKiB: Number(hwm) };
  });
}

/**
 * Runs `use` against a fresh `slice-proxy --cache fs` on `dir` (upstream: the origin's `/fast/`), then stops it
 * with SIGTERM, whose graceful shutdown waits for the store writes to land.
 */
async function withProxy<T>(
  env: StoreEnv,
  dir: string,
  use: (proxy: ChildProcess, base: string, admin: string) => Promise<T>,
): Promise<T> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const proxy = startNodeServer(env.clients.proxy, [
    ...['--upstream', `${env.origin}/fast`, '--listen', `127.0.0.1:${port}`],
    ...['--admin', `127.0.0.1:${adminPort}`, '--cache', 'fs', '--cache-dir', dir],
    ...['--cache-size', String(FS_STORE_BYTES), '--log-level', 'silent'],
  ]);
  let stderr = '';
  proxy.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<void>((resolve) => proxy.once('exit', () => resolve()));
  try {
    await waitUntilHealthy(proxy, adminPort);
    return await use(proxy, `http://127.0.0.1:${port}`, `http://127.0.0.1:${adminPort}`);
  } catch (error) {
    throw new Error(`slice-proxy pass failed: ${(error as Error).message}\n${stderr}`);
  } finally {
    proxy.kill('SIGTERM');
    await exited;
  }
}

async function waitUntilHealthy(proxy: ChildProcess, adminPort: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proxy.exitCode !== null) throw new Error(`slice-proxy exited with code ${proxy.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${adminPort}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('slice-proxy did not become healthy within 10 s');
}

/** The sum of a Prometheus counter over all its label sets. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** User + system CPU of a child, in milliseconds (Linux clock ticks of 10 ms). */
function cpuMsOf(child: ChildProcess): number {
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function undiciPass(env: StoreEnv, url: string): Promise<Measure> {
  const r = await runClient(env.clients.undici, { url });
  const pass = r.passes[0];
  check(pass?.status === 200 && pass.bytes === LARGE_BYTES, `undici through nginx ${url}`, pass);
  const p = pass as PassResult;
  return { ms: p.ms, rssKiB: r.maxRssKiB, cpuMs: p.cpuMs, arrayBuffersKiB: r.peakArrayBuffersKiB };
}

function check(ok: boolean, what: string, pass: unknown): void {
  if (!ok) throw new Error(`case 4 check failed: ${what}; got ${JSON.stringify(pass)}`);
}
