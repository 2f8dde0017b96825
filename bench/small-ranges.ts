/**
 * Case 5, "warm 4 KiB ranges": many small range requests for a warm 64 MiB object, answered by three servers in
 * the same run, each loaded by `wrk -t2 -c64 -d<seconds>` with bench/lua/ranges-4k.lua (uniformly random
 * offsets, 4096 bytes each):
 * - `createSliceHandler()` in a `node:http` server (bench/servers/handler-server.ts, bundled from `src/` like
 *   every other client of the bench), 1 MiB slices, 256 MiB memory store, in front of the origin nginx;
 * - nginx slice + proxy_cache (the case-4 cache nginx: `slice 1m`, keep-alive upstream), warm;
 * - bare `node:http` answering the 4 KiB from the object held in memory (bench/servers/bare-server.ts): the floor
 *   of any Node server.
 * Both caches are filled by one GET of the whole object first; every server must return the right bytes for a
 * set of random ranges before anything is timed. The servers take turns going first in each round.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { SLICE_SETTINGS, SMALL_BYTES } from './cases.js';
import type { Clients } from './processes.js';
import { median, ratio, table, type Verdict } from './report.js';
import type { BareServerSpec } from './servers/bare-server.js';
import type { HandlerServerSpec } from './servers/handler-server.js';
import { rps, runWrk, socketErrors, type WrkResult } from './wrk.js';

const MiB = 1024 * 1024;
const RANGE_BYTES = 4096;

/** Case-5 ids, in table order. */
export const CASE5_IDS = ['c5.handler', 'c5.nginx', 'c5.bare'] as const;
type Case5Id = (typeof CASE5_IDS)[number];

const LABELS: Record<Case5Id, string> = {
  'c5.handler': '`createSliceHandler()` in `node:http` (256 MiB memory store, warm)',
  'c5.nginx': 'nginx slice + proxy_cache (warm)',
  'c5.bare': 'bare `node:http`, 4 KiB from memory (floor)',
};

/** What case 5 runs against. */
export interface RangeEnv {
  readonly clients: Clients;
  /** The origin nginx (files under `/fast/`). */
  readonly origin: string;
  /** The slice-cache nginx (files under `/sliced/`) and its master's pid. */
  readonly cache: string;
  readonly cachePid: number;
  readonly smallFile: string;
  /** The 64 MiB object's path on disk (for the bare server and the byte checks) and its SHA-256. */
  readonly smallPath: string;
  readonly smallSha: string;
  /** `wrk -d`, seconds. */
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
}

/** The running servers of case 5. */
export interface RangeServers {
  readonly env: RangeEnv;
  /** URL (base + path) and the pid whose CPU is counted, by id. */
  readonly targets: ReadonlyMap<Case5Id, { readonly url: string; readonly pid: () => number | undefined }>;
  stop(): Promise<void>;
}

/** Repeated measurements of one server. */
export interface RangeSamples {
  readonly rps: number[];
  readonly p50Us: number[];
  readonly p99Us: number[];
  /** Server CPU (user + system) per response, microseconds. */
  readonly cpuUsPerRequest: number[];
  /** Bytes read by wrk per response (headers and body). */
  readonly bytesPerResponse: number[];
  /** Socket errors and status ≥ 400 over all rounds. */
  errors: number;
}

/**
 * Starts the handler and bare servers, fills both caches with the whole 64 MiB object and checks random ranges
 * of every server against the file.
 *
 * @example
 * ```ts
 * const servers = await startRangeServers(env);
 * try { await rangeRound(servers, 1, results); } finally { await servers.stop(); }
 * ```
 */
export async function startRangeServers(env: RangeEnv): Promise<RangeServers> {
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
  };
  try {
    const handlerSpec: HandlerServerSpec = {
      upstream: `${env.origin}/fast`,
      ...SLICE_SETTINGS,
      cacheBytes: 256 * MiB,
    };
    const handler = await startServer(env.clients.handlerServer, handlerSpec, children);
    const bareSpec: BareServerSpec = { file: env.smallPath };
    const bare = await startServer(env.clients.bareServer, bareSpec, children);
    const path = `/${env.smallFile}`;
    const targets = new Map<Case5Id, { url: string; pid: () => number | undefined }>([
      ['c5.handler', { url: `http://127.0.0.1:${handler.port}${path}`, pid: () => handler.child.pid }],
      ['c5.nginx', { url: `${env.cache}/sliced${path}`, pid: () => nginxWorker(env.cachePid) }],
      ['c5.bare', { url: `http://127.0.0.1:${bare.port}${path}`, pid: () => bare.child.pid }],
    ]);
    // The runner stays small (its RSS is what every process it forks starts from): the whole object is hashed
    // as it streams, and ranges are compared with the bytes read from the file at their offset.
    const fd = openSync(env.smallPath, 'r');
    const expected = (start: number): Buffer => {
      const buffer = Buffer.alloc(RANGE_BYTES);
      readSync(fd, buffer, 0, RANGE_BYTES, start);
      return buffer;
    };
    try {
      for (const [id, { url }] of targets) {
        // Fill the cache (untimed), then the byte check: range starts spread over the object and its slice edges.
        const res = await fetch(url);
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of res.body ?? []) {
          hash.update(chunk);
          bytes += chunk.byteLength;
        }
        const sha = hash.digest('hex');
        if (res.status !== 200 || sha !== env.smallSha)
          throw new Error(
            `case 5 ${id}: the whole object came back wrong (${res.status}, ${bytes} B, ${sha})`,
          );
        const starts = [0, MiB - 100, SMALL_BYTES - RANGE_BYTES];
        for (let i = 0; i < 20; i++) starts.push(Math.floor(Math.random() * (SMALL_BYTES - RANGE_BYTES + 1)));
        for (const start of starts) {
          const end = start + RANGE_BYTES - 1;
          const part = await fetch(url, { headers: { range: `bytes=${start}-${end}` } });
          const body = Buffer.from(await part.arrayBuffer());
          if (part.status !== 206 || !body.equals(expected(start)))
            throw new Error(
              `case 5 ${id} bytes=${start}-${end}: status ${part.status}, ${body.length} bytes, wrong`,
            );
          if (id === 'c5.handler' && part.headers.get('x-slice-cache') !== 'HIT')
            throw new Error(
              `case 5 ${id}: a warm range was not a store hit (${part.headers.get('x-slice-cache')})`,
            );
        }
      }
    } finally {
      closeSync(fd);
    }
    // JIT and connection warm-up, untimed.
    for (const { url } of targets.values()) await wrk(env, url, 2);
    return { env, targets, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One round: each server under wrk in turn (a different one first each round), recorded into `results`.
 *
 * @example
 * ```ts
 * await rangeRound(servers, round, results);
 * ```
 */
export async function rangeRound(
  servers: RangeServers,
  round: number,
  results: Map<string, RangeSamples>,
): Promise<void> {
  const ids = [...CASE5_IDS];
  const order = [...ids.slice((round - 1) % ids.length), ...ids.slice(0, (round - 1) % ids.length)];
  for (const id of order) {
    const target = servers.targets.get(id);
    if (target === undefined) continue;
    const pid = target.pid();
    const cpuBefore = pid === undefined ? Number.NaN : cpuMs(pid);
    const r = await wrk(servers.env, target.url, servers.env.seconds);
    const cpu = pid === undefined ? Number.NaN : cpuMs(pid) - cpuBefore;
    let s = results.get(id);
    if (s === undefined) {
      s = { rps: [], p50Us: [], p99Us: [], cpuUsPerRequest: [], bytesPerResponse: [], errors: 0 };
      results.set(id, s);
    }
    s.rps.push(rps(r));
    s.p50Us.push(r.latencyUs.p50);
    s.p99Us.push(r.latencyUs.p99);
    s.cpuUsPerRequest.push((cpu * 1000) / r.requests);
    s.bytesPerResponse.push(r.bytes / r.requests);
    s.errors += socketErrors(r) + r.errors.status;
    process.stderr.write(
      `bench: round ${round} ${id}: ${Math.round(rps(r))} req/s, p99 ${(r.latencyUs.p99 / 1000).toFixed(1)} ms, ` +
        `${Math.round((cpu * 1000) / r.requests)} µs CPU/request\n`,
    );
  }
}

/**
 * The case-5 table in Markdown.
 *
 * @example
 * ```ts
 * console.log(rangeTable(results, env));
 * ```
 */
export function rangeTable(results: ReadonlyMap<string, RangeSamples>, env: RangeEnv): string {
  const ours = median(results.get('c5.handler')?.rps ?? []);
  const rows = CASE5_IDS.map((id) => {
    const s = results.get(id);
    const r = s?.rps ?? [];
    return [
      LABELS[id],
      `${Math.round(median(r))} (${Math.round(Math.min(...r))}–${Math.round(Math.max(...r))})`,
      ratio(ours / median(r)),
      `${ms(median(s?.p50Us ?? []))} / ${ms(median(s?.p99Us ?? []))}`,
      `${Math.round(median(s?.cpuUsPerRequest ?? []))} µs`,
      `${Math.round(median(s?.bytesPerResponse ?? []))} B`,
      String(s?.errors ?? 'n/a'),
    ];
  });
  return [
    '### Case 5 — warm 4 KiB ranges of a 64 MiB object: requests per second',
    '',
    `\`wrk -t${env.threads} -c${env.connections} -d${env.seconds}s\` per server and round, \`Range: bytes=a-(a+4095)\` at`,
    'uniformly random offsets (bench/lua/ranges-4k.lua), both caches filled first. Server CPU per request is',
    "the server process's (nginx: the cache's worker) user + system time over the run ÷ responses. wrk, the",
    'server and its origin share the machine.',
    '',
    table(
      [
        'server',
        'req/s: median (min–max)',
        'slice-fetch ÷ this (req/s)',
        'latency p50 / p99',
        'server CPU per request',
        'bytes per response',
        'errors',
      ],
      rows,
    ),
    '',
    `slice-fetch \`createSliceHandler()\` ÷ nginx: **${ratio(ours / median(results.get('c5.nginx')?.rps ?? []))}**; ÷ bare ` +
      `\`node:http\`: **${ratio(ours / median(results.get('c5.bare')?.rps ?? []))}**.`,
  ].join('\n');
}

/**
 * Case 5 has no target in the issue: its verdict rows only flag errors (every response must be a 206).
 *
 * @example
 * ```ts
 * rangeVerdicts(results).every((v) => v.met);
 * ```
 */
export function rangeVerdicts(results: ReadonlyMap<string, RangeSamples>): Verdict[] {
  return CASE5_IDS.map((id) => {
    const errors = results.get(id)?.errors ?? Number.NaN;
    return {
      target: `5. ${LABELS[id]}: no socket error or status ≥ 400 under load`,
      measured: String(errors),
      met: errors === 0,
    };
  });
}

/** The requests-per-second ratio of `createSliceHandler()` to `peer` (for the chart). */
export function rangeRatio(results: ReadonlyMap<string, RangeSamples>, peer: 'c5.nginx' | 'c5.bare'): number {
  return median(results.get('c5.handler')?.rps ?? []) / median(results.get(peer)?.rps ?? []);
}

// ---------------------------------------------------------------------------------------------------------

function ms(us: number): string {
  return Number.isFinite(us) ? `${(us / 1000).toFixed(2)} ms` : 'n/a';
}

function wrk(env: RangeEnv, url: string, seconds: number): Promise<WrkResult> {
  const { origin, pathname } = new URL(url);
  return runWrk({
    url: `${origin}/`,
    script: 'ranges-4k.lua',
    args: [pathname, String(SMALL_BYTES), String(RANGE_BYTES)],
    threads: env.threads,
    connections: env.connections,
    seconds,
  });
}

async function startServer(
  script: string,
  spec: object,
  children: ChildProcess[],
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [script, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not listen within 10 s:\n${stderr}`)),
      10_000,
    );
    child.stdout?.on('data', (data: Buffer) => {
      stdout += data.toString();
      const m = /LISTENING (\d+)/.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with code ${code}:\n${stderr}`));
    });
  });
  return { child, port };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** nginx's worker: the master's only child (`worker_processes 1`). */
function nginxWorker(masterPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8')
      .trim()
      .split(/\s+/);
    const pid = Number(children[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU of a process, in milliseconds (Linux clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
