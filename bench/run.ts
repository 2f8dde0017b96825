/**
 * `npm run bench`: the slice-fetch benchmark in one run. Sets up a temp dir with a 64 MiB and a 1 GiB file,
 * starts nginx on them, checks that every client delivers the right bytes, then runs each case's clients in
 * rounds (each in its own process, so each peak RSS is its own) and prints Markdown tables of ratios — with
 * medians of `--runs` rounds — and the verdict per target. `--profile` also CPU-profiles the cold and warm
 * 1 GiB transfers and prints their top self-time functions. Case 4 (persistent stores) also starts a second
 * nginx (slice module + proxy_cache) and a `redis-server`; `--only 4` runs it alone, `--only 1,2,3` skips it
 * (cases 1–3 share their rounds, so any of them runs all three). Case 5 (warm 4 KiB ranges: `createSliceHandler()`
 * vs nginx slice + proxy_cache vs bare `node:http`, under wrk) uses that second nginx too; case 6 (cold 1 GiB via
 * `fetcher.fetch()` vs one undici GET) is case 2's `fetch()` rows, which `--only 6` runs without the rest.
 *
 * Every run also merges the ratios it measured into `bench/results/ratios.json` and redraws
 * `bench/results/ratios.svg` (bench/chart.ts; `--chart-dir` elsewhere, `--no-chart` not at all).
 *
 * `--glibc-tuned` runs every Node client (ours and the undici baseline alike, not aria2c or nginx) with the glibc
 * allocator settings README lists for a long-running proxy; the report says so.
 *
 * Usage: `npm run bench -- [--runs 3] [--only 1,2,3,4,5,6] [--range-seconds 10] [--glibc-tuned] [--profile]
 *   [--json out.json] [--chart-dir bench/results] [--no-chart] [--keep]`
 *
 * @module
 */

import { createHash, randomFillSync } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRedisServer } from '../test/support/redis-server.js';
import {
  type BenchEnv,
  CASE6_IDS,
  COLD_CACHE_BYTES,
  fetchBodyTable,
  fetchBodyVerdicts,
  LARGE_BYTES,
  resultTables,
  SLICE_SETTINGS,
  SMALL_BYTES,
  VARIANTS,
  verdicts,
  WARM_CACHE_BYTES,
} from './cases.js';
import { type ChartEntry, updateChart } from './chart.js';
import type { SliceClientSpec } from './clients/slice.js';
import { machine, shortCommit, wrkVersion } from './machine.js';
import { startNginx } from './nginx.js';
import { buildClients, runClient, TUNED_MALLOC_ENV, useClientEnv } from './processes.js';
import { summarizeProfile } from './profile.js';
import { median, type Samples, samples, table, type Verdict, verdictTable } from './report.js';
import {
  type RangeEnv,
  type RangeSamples,
  type RangeServers,
  rangeRatio,
  rangeRound,
  rangeTable,
  rangeVerdicts,
  startRangeServers,
} from './small-ranges.js';
import {
  CASE4_IDS,
  CASE4_PROXY_IDS,
  prepareStores,
  type StoreEnv,
  storeProxyTable,
  storeRound,
  storeTable,
  storeVerdicts,
} from './stores.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    only: { type: 'string', default: '1,2,3,4,5,6' },
    'range-seconds': { type: 'string', default: '10' },
    'glibc-tuned': { type: 'boolean', default: false },
    'chart-dir': { type: 'string' },
    'no-chart': { type: 'boolean', default: false },
  },
});
const only = new Set(args.only.split(',').map((c) => c.trim()));
if (only.size === 0 || [...only].some((c) => !['1', '2', '3', '4', '5', '6'].includes(c)))
  throw new Error(`Expected \`--only\` to list cases 1–6 (e.g. \`4\` or \`5,6\`), got \`${args.only}\`.`);
const withCases123 = only.has('1') || only.has('2') || only.has('3');
const withCase4 = only.has('4');
const withCase5 = only.has('5');
const withCase6 = only.has('6');
const rangeSeconds = Number(args['range-seconds']);
if (!Number.isInteger(rangeSeconds) || rangeSeconds < 1)
  throw new Error(`Expected \`--range-seconds\` to be a positive integer, got \`${args['range-seconds']}\`.`);
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`Expected \`--runs\` to be a positive integer, got \`${args.runs}\`.`);

const repoRoot = join(import.meta.dirname, '..');
if (args['glibc-tuned']) useClientEnv(TUNED_MALLOC_ENV);
const dir = mkdtempSync(join(tmpdir(), 'slice-bench-'));
const log = (text: string): void => {
  process.stderr.write(`${text}\n`);
};
const stops: (() => Promise<void>)[] = [];
try {
  const started = performance.now();
  const loadAtStart = loadavg()[0] ?? 0;
  const www = join(dir, 'www');
  const aria2Dir = join(dir, 'aria2');
  mkdirSync(www);
  mkdirSync(aria2Dir);
  log(`bench: temp dir ${dir}; building clients and writing files…`);
  const clients = await buildClients(join(dir, 'clients'));
  const smallSha = writeObjects(www);
  const nginx = await startNginx({ dir: join(dir, 'nginx'), root: www, slowRate: '20m' });
  stops.push(nginx.stop);
  const env: BenchEnv = { clients, base: nginx.base, smallFile: 'obj-64m', largeFile: 'obj-1g', aria2Dir };

  await verifyClients(env, smallSha);
  log('bench: every client delivered the right bytes (SHA-256 of 64 MiB checked)');

  let storeEnv: StoreEnv | undefined;
  // nginx slice + proxy_cache in front of the origin: case 4's peer and case 5's.
  const cacheNginx =
    withCase4 || withCase5
      ? await startNginx({
          dir: join(dir, 'nginx-cache'),
          root: www,
          slowRate: '20m',
          sliceCache: {
            upstream: nginx.base.replace('http://', ''),
            cacheDir: join(dir, 'stores', 'nginx-cache'),
          },
        })
      : undefined;
  if (cacheNginx !== undefined) stops.push(cacheNginx.stop);
  if (withCase4 && cacheNginx !== undefined) {
    // Persistence off, and room for the 1 GiB object.
    const redis = await startRedisServer({ args: ['--maxmemory', '3gb'] });
    stops.push(redis.dispose);
    storeEnv = {
      clients,
      origin: nginx.base,
      cache: cacheNginx.base,
      smallFile: env.smallFile,
      largeFile: env.largeFile,
      scratch: join(dir, 'stores'),
      redisUrl: redis.url,
    };
    await prepareStores(storeEnv, smallSha);
    log(
      'bench: case 4 stores and nginx slice cache verified (SHA-256 of 64 MiB), Redis and nginx cache filled',
    );
  }

  let rangeServers: RangeServers | undefined;
  if (withCase5 && cacheNginx !== undefined) {
    const rangeEnv: RangeEnv = {
      clients,
      origin: nginx.base,
      cache: cacheNginx.base,
      cachePid: cacheNginx.pid,
      smallFile: env.smallFile,
      smallPath: join(www, env.smallFile),
      smallSha,
      seconds: rangeSeconds,
      connections: 64,
      threads: 2,
    };
    rangeServers = await startRangeServers(rangeEnv);
    stops.push(rangeServers.stop);
    log('bench: case 5 servers verified (random 4 KiB ranges byte for byte) and both caches warm');
  }
  const rangeResults = new Map<string, RangeSamples>();

  const variants = withCases123
    ? VARIANTS
    : withCase6
      ? VARIANTS.filter((v) => CASE6_IDS.includes(v.id))
      : [];
  const results = new Map<string, Samples>(
    [...variants.map((v) => v.id), ...CASE4_IDS, ...CASE4_PROXY_IDS].map((id) => [id, samples()]),
  );
  const record = (
    id: string,
    m: { ms: number; rssKiB: number; cpuMs: number; arrayBuffersKiB: number; rusageRssKiB?: number },
    round: number,
  ): void => {
    const s = results.get(id) as Samples;
    s.ms.push(m.ms);
    s.rssKiB.push(m.rssKiB);
    s.cpuMs.push(m.cpuMs);
    s.arrayBuffersKiB.push(m.arrayBuffersKiB);
    log(
      `bench: round ${round}/${runs} ${id}: ${Math.round(m.ms)} ms, ${Math.round(m.rssKiB / 1024)} MiB RSS` +
        (m.rusageRssKiB === undefined ? '' : ` (maxRSS ${Math.round(m.rusageRssKiB / 1024)} MiB)`),
    );
  };
  // What each client process starts from: the kernel counts it in `maxRSS`, not in the `VmHWM` they report.
  log(`bench: runner RSS ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
  for (let round = 1; round <= runs; round++) {
    if (storeEnv !== undefined) for (const [id, m] of await storeRound(storeEnv, round)) record(id, m, round);
    if (rangeServers !== undefined) await rangeRound(rangeServers, round, rangeResults);
    for (const variant of variants) {
      record(variant.id, await variant.run(env), round);
    }
  }

  const list: Verdict[] = [
    ...(withCases123 ? verdicts(results) : withCase6 ? fetchBodyVerdicts(results) : []),
    ...(withCase4 ? storeVerdicts(results) : []),
    ...(rangeServers !== undefined ? rangeVerdicts(rangeResults) : []),
  ];
  const out = [
    `## Results (median of ${runs} runs)`,
    '',
    await machine(withCase5 ? [['wrk', await wrkVersion()]] : []),
    '',
    args['glibc-tuned']
      ? `Every Node client ran with ${Object.entries(TUNED_MALLOC_ENV)
          .map(([name, value]) => `\`${name}=${value}\``)
          .join(' ')} (\`--glibc-tuned\`); aria2c and nginx ran as usual.\n`
      : 'Every client ran with its allocator defaults (see `--glibc-tuned`).\n',
    ...(withCases123 ? [resultTables(results), ''] : []),
    ...(withCase4 ? [storeTable(results), '', storeProxyTable(results), ''] : []),
    ...(rangeServers !== undefined ? [rangeTable(rangeResults, rangeServers.env), ''] : []),
    ...(withCase6 ? [fetchBodyTable(results), ''] : []),
    '### Verdicts',
    '',
    verdictTable(list),
  ];
  if (args.profile && withCases123) out.push('', await profiles(env));
  else if (list.some((v) => !v.met))
    out.push(
      '',
      'A target is not met: `npm run bench -- --profile` shows where the CPU goes in cases 1–3; for case 4, run ' +
        '`bench/clients/store.mjs` (kept with `--keep`) under `node --cpu-prof`.',
    );
  if (!args['no-chart']) {
    const chartDir = args['chart-dir'] ?? join(repoRoot, 'bench', 'results');
    const written = updateChart(chartDir, chartEntries(results, rangeResults), {
      commit: shortCommit(),
      runs,
    });
    log(`bench: chart ${written.svg} (data ${written.json})`);
  }
  out.push(
    '',
    `Total bench time: ${((performance.now() - started) / 1000).toFixed(0)} s. Load average (1 min) at start ` +
      `${loadAtStart.toFixed(2)}, at end ${(loadavg()[0] ?? 0).toFixed(2)}, on ${cpus().length} CPUs: ` +
      'anything else running on the machine makes the figures noisier (clients and nginx share the cores).',
  );
  process.stdout.write(`${out.join('\n')}\n`);
  if (args.json !== undefined) {
    writeFileSync(
      args.json,
      JSON.stringify({ runs, results: Object.fromEntries(results), verdicts: list }, null, 2),
    );
  }
} finally {
  for (const stop of stops.reverse()) await stop();
  if (args.keep) log(`bench: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------

/** Writes 64 MiB of random bytes and a 1 GiB file of 16 copies of them; returns the small file's SHA-256. */
function writeObjects(www: string): string {
  const small = randomFillSync(Buffer.allocUnsafe(SMALL_BYTES));
  const write = (name: string, copies: number): void => {
    const fd = openSync(join(www, name), 'w');
    try {
      for (let i = 0; i < copies; i++) writeSync(fd, small);
    } finally {
      closeSync(fd);
    }
  };
  write('obj-64m', 1);
  write('obj-1g', LARGE_BYTES / SMALL_BYTES);
  return createHash('sha256').update(small).digest('hex');
}

/** Every client, both slice entries, must return the 64 MiB object byte for byte before anything is timed. */
async function verifyClients(env: BenchEnv, sha: string): Promise<void> {
  const url = `${env.base}/fast/${env.smallFile}`;
  const checks = [
    runClient(env.clients.undici, { url, verify: true }),
    ...(['open', 'response'] as const).map((entry) => {
      const spec: SliceClientSpec = {
        url,
        entry,
        passes: 2,
        cacheBytes: WARM_CACHE_BYTES,
        verify: true,
        ...SLICE_SETTINGS,
      };
      return runClient(env.clients.slice, spec);
    }),
  ];
  for (const result of await Promise.all(checks)) {
    for (const pass of result.passes) {
      if (pass.sha256 !== sha || pass.bytes !== SMALL_BYTES)
        throw new Error(
          `verification failed: got ${pass.bytes} bytes with SHA-256 ${pass.sha256}, want ${sha}`,
        );
    }
  }
}

/** CPU-profiles the measured pass of the cold and warm 1 GiB transfers and summarises each. */
async function profiles(env: BenchEnv): Promise<string> {
  const url = `${env.base}/fast/${env.largeFile}`;
  const warmup = `${env.base}/fast/${env.smallFile}?warmup`;
  const runsToProfile: readonly { title: string; spec: SliceClientSpec }[] = [
    {
      title: 'cold, internal open, fresh process',
      spec: { url, entry: 'open', passes: 1, cacheBytes: COLD_CACHE_BYTES, ...SLICE_SETTINGS },
    },
    {
      title: 'cold, internal open, warm process',
      spec: {
        url,
        entry: 'open',
        passes: 1,
        cacheBytes: COLD_CACHE_BYTES,
        warmupUrl: warmup,
        ...SLICE_SETTINGS,
      },
    },
    {
      title: 'cold, `fetch()` + reader, warm process',
      spec: {
        url,
        entry: 'response',
        passes: 1,
        cacheBytes: COLD_CACHE_BYTES,
        warmupUrl: warmup,
        ...SLICE_SETTINGS,
      },
    },
    {
      title: 'warm, internal open',
      spec: { url, entry: 'open', passes: 2, cacheBytes: WARM_CACHE_BYTES, ...SLICE_SETTINGS },
    },
    {
      title: 'warm, `fetch()` + reader',
      spec: { url, entry: 'response', passes: 2, cacheBytes: WARM_CACHE_BYTES, ...SLICE_SETTINGS },
    },
  ];
  const sections: string[] = [
    '## CPU profiles (1 GiB, main thread, measured pass only)',
    '',
    '"busy" excludes `(idle)`: the event loop\'s poll phase, which also holds the kernel time of socket reads.',
    'GC helper threads and JIT compiler threads are not in these profiles; the CPU column above includes them.',
  ];
  let n = 0;
  for (const { title, spec } of runsToProfile) {
    const profileDir = join(dir, 'profiles', String(n++));
    mkdirSync(profileDir, { recursive: true });
    await runClient(env.clients.slice, { ...spec, profileDir });
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`no profile written in ${profileDir}`);
    const summary = summarizeProfile(join(profileDir, file), repoRoot, 15);
    const pct = (p: number): string => `${p.toFixed(1)} %`;
    sections.push(
      '',
      `### ${title} — ${Math.round(summary.totalMs - summary.idleMs)} ms busy, ${Math.round(summary.idleMs)} ms idle`,
      '',
      table(
        ['function', 'where', 'self ms', '% of busy'],
        summary.functions.map((r) => [`\`${r.name}\``, r.where, r.selfMs.toFixed(0), pct(r.percent)]),
      ),
      '',
      table(
        ['file / package', 'self ms', '% of busy'],
        summary.files.slice(0, 10).map((r) => [r.name, r.selfMs.toFixed(0), pct(r.percent)]),
      ),
    );
  }
  return sections.join('\n');
}

/** The ratios this run measured, for the chart (each a throughput or req/s ratio: higher favours slice-fetch). */
function chartEntries(
  results: ReadonlyMap<string, Samples>,
  ranges: ReadonlyMap<string, RangeSamples>,
): ChartEntry[] {
  const t = (id: string): number => median(results.get(id)?.ms ?? []);
  const out: ChartEntry[] = [];
  if (withCases123)
    out.push(
      {
        id: 'c1.vs-aria2c',
        workload: 'Case 1: 64 MiB, origin limited to 20 MiB/s per connection',
        ours: 'slice-fetch fetch(), first fetch',
        peer: 'aria2c -x8 -s8 -k1M',
        ratio: t('c1.aria2c') / t('c1.response'),
      },
      {
        id: 'c2.warm.vs-get',
        workload: 'Case 2: 1 GiB warm (memory store), unthrottled nginx',
        ours: 'slice-fetch fetch() + reader',
        peer: 'one undici GET from the origin',
        ratio: t('c2.undici') / t('c2.warm.response'),
      },
    );
  if (withCases123 || withCase6)
    out.push({
      id: 'c2.cold.vs-get',
      workload: 'Cases 2 and 6: 1 GiB cold, unthrottled nginx',
      ours: 'fetcher.fetch(), Response body read',
      peer: 'one undici request() GET',
      ratio: t('c2.undici') / t('c2.cold.response'),
    });
  if (withCase4)
    out.push(
      {
        id: 'c4.fs.warm',
        workload: 'Case 4: 1 GiB warm from a disk store, in-process',
        ours: 'slice-fetch fsStorage, new process',
        peer: 'nginx slice + proxy_cache (undici GET)',
        ratio: t('c4.nginx.warm') / t('c4.fs.warm'),
      },
      {
        id: 'c4.fs.cold',
        workload: 'Case 4: 1 GiB cold into a disk store, in-process',
        ours: 'slice-fetch fsStorage',
        peer: 'nginx slice + proxy_cache (undici GET)',
        ratio: t('c4.nginx.cold') / t('c4.fs.cold'),
      },
      {
        id: 'c4p.warm',
        workload: 'Case 4: 1 GiB warm from disk, proxy vs proxy (curl)',
        ours: 'slice-proxy --cache fs',
        peer: 'nginx slice + proxy_cache',
        ratio: t('c4p.nginx.warm') / t('c4p.fs.warm'),
      },
      {
        id: 'c4p.cold',
        workload: 'Case 4: 1 GiB cold into disk, proxy vs proxy (curl)',
        ours: 'slice-proxy --cache fs',
        peer: 'nginx slice + proxy_cache',
        ratio: t('c4p.nginx.cold') / t('c4p.fs.cold'),
      },
    );
  if (withCase5)
    out.push(
      {
        id: 'c5.vs-nginx',
        workload: 'Case 5: warm 4 KiB ranges, req/s (wrk -c64)',
        ours: 'createSliceHandler() in node:http',
        peer: 'nginx slice + proxy_cache',
        ratio: rangeRatio(ranges, 'c5.nginx'),
      },
      {
        id: 'c5.vs-bare',
        workload: 'Case 5: warm 4 KiB ranges, req/s, against the floor',
        ours: 'createSliceHandler() in node:http',
        peer: 'bare node:http, 4 KiB from memory',
        ratio: rangeRatio(ranges, 'c5.bare'),
      },
    );
  return out;
}
