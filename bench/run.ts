/**
 * `npm run bench`: the slice-fetch benchmark in one run. Sets up a temp dir with a 64 MiB and a 1 GiB file,
 * starts nginx on them, checks that every client delivers the right bytes, then runs each case's clients in
 * rounds (each in its own process, so each peak RSS is its own) and prints Markdown tables of ratios — with
 * medians of `--runs` rounds — and the verdict per target. `--profile` also CPU-profiles the cold and warm
 * 1 GiB transfers and prints their top self-time functions. Case 4 (persistent stores) also starts a second
 * nginx (slice module + proxy_cache) and a `redis-server`; `--only 4` runs it alone, `--only 1,2,3` skips it
 * (cases 1–3 share their rounds, so any of them runs all three).
 *
 * `--glibc-tuned` runs every Node client (ours and the undici baseline alike, not aria2c or nginx) with the glibc
 * allocator settings README lists for a long-running proxy; the report says so.
 *
 * Usage: `npm run bench -- [--runs 3] [--only 1,2,3,4] [--glibc-tuned] [--profile] [--json out.json] [--keep]`
 *
 * @module
 */

import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
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
  COLD_CACHE_BYTES,
  LARGE_BYTES,
  resultTables,
  SLICE_SETTINGS,
  SMALL_BYTES,
  VARIANTS,
  verdicts,
  WARM_CACHE_BYTES,
} from './cases.js';
import type { SliceClientSpec } from './clients/slice.js';
import { nginxVersion, startNginx } from './nginx.js';
import { buildClients, runClient, TUNED_MALLOC_ENV, useClientEnv } from './processes.js';
import { summarizeProfile } from './profile.js';
import { type Samples, samples, table, type Verdict, verdictTable } from './report.js';
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
    only: { type: 'string', default: '1,2,3,4' },
    'glibc-tuned': { type: 'boolean', default: false },
  },
});
const only = new Set(args.only.split(',').map((c) => c.trim()));
if (only.size === 0 || [...only].some((c) => !['1', '2', '3', '4'].includes(c)))
  throw new Error(`Expected \`--only\` to list cases 1–4 (e.g. \`4\` or \`1,2,3\`), got \`${args.only}\`.`);
const withCases123 = only.has('1') || only.has('2') || only.has('3');
const withCase4 = only.has('4');
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
  if (withCase4) {
    const cacheNginx = await startNginx({
      dir: join(dir, 'nginx-cache'),
      root: www,
      slowRate: '20m',
      sliceCache: {
        upstream: nginx.base.replace('http://', ''),
        cacheDir: join(dir, 'stores', 'nginx-cache'),
      },
    });
    stops.push(cacheNginx.stop);
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

  const variants = withCases123 ? VARIANTS : [];
  const results = new Map<string, Samples>(
    [...variants.map((v) => v.id), ...CASE4_IDS, ...CASE4_PROXY_IDS].map((id) => [id, samples()]),
  );
  const record = (
    id: string,
    m: { ms: number; rssKiB: number; cpuMs: number; arrayBuffersKiB: number },
    round: number,
  ): void => {
    const s = results.get(id) as Samples;
    s.ms.push(m.ms);
    s.rssKiB.push(m.rssKiB);
    s.cpuMs.push(m.cpuMs);
    s.arrayBuffersKiB.push(m.arrayBuffersKiB);
    log(
      `bench: round ${round}/${runs} ${id}: ${Math.round(m.ms)} ms, ${Math.round(m.rssKiB / 1024)} MiB RSS`,
    );
  };
  for (let round = 1; round <= runs; round++) {
    if (storeEnv !== undefined) for (const [id, m] of await storeRound(storeEnv, round)) record(id, m, round);
    for (const variant of variants) {
      record(variant.id, await variant.run(env), round);
    }
  }

  const list: Verdict[] = [
    ...(withCases123 ? verdicts(results) : []),
    ...(withCase4 ? storeVerdicts(results) : []),
  ];
  const out = [
    `## Results (median of ${runs} runs)`,
    '',
    await machine(),
    '',
    args['glibc-tuned']
      ? `Every Node client ran with ${Object.entries(TUNED_MALLOC_ENV)
          .map(([name, value]) => `\`${name}=${value}\``)
          .join(' ')} (\`--glibc-tuned\`); aria2c and nginx ran as usual.\n`
      : 'Every client ran with its allocator defaults (see `--glibc-tuned`).\n',
    ...(withCases123 ? [resultTables(results), ''] : []),
    ...(withCase4 ? [storeTable(results), '', storeProxyTable(results), ''] : []),
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

async function machine(): Promise<string> {
  const model =
    /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const undiciVersion = (
    JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'undici', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return table(
    ['nproc', 'CPU', 'Node', 'nginx', 'undici', 'slice-fetch'],
    [[String(cpus().length), model, process.version, await nginxVersion(), undiciVersion, revision()]],
  );
}

/** The commit measured, flagged when `src/` has uncommitted changes (read-only git calls). */
function revision(): string {
  try {
    const git = (...a: string[]): string =>
      execFileSync('git', a, { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--', 'src') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted src/ changes' : ''}`;
  } catch {
    return 'unknown';
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
