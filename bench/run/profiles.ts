/**
 * `npm run bench -- --profile`: CPU profiles of the cold and warm 1 GiB transfers (cases 1–3's clients, case 4's
 * `slice-proxy --cache fs` and case 7's handler server), summarised as Markdown.
 *
 * @module
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { COLD_CACHE_BYTES, LARGE_BYTES, SLICE_SETTINGS, WARM_CACHE_BYTES } from '../cases/settings.js';
import type { BenchEnv } from '../cases/variants.js';
import type { SliceClientSpec } from '../clients/slice.js';
import { curlGet } from '../curl.js';
import { HANDLER_COLD_STORE_BYTES, withHandlerServer } from '../handler-cold/round.js';
import type { HandlerColdEnv } from '../handler-cold/variants.js';
import { REPO_ROOT } from '../paths.js';
import { runClient } from '../processes.js';
import { summarizeProfile } from '../profile.js';
import { table } from '../report.js';
import { proxyPass } from '../stores/proxy-pass.js';
import { settleDisk } from '../stores/round.js';
import type { StoreEnv } from '../stores/variants.js';

/**
 * CPU-profiles the measured pass of the cold and warm 1 GiB transfers (profiles written under `<dir>/profiles`)
 * and summarises each.
 *
 * @example
 * ```ts
 * console.log(await profiles(env, dir));
 * ```
 */
export async function profiles(env: BenchEnv, dir: string): Promise<string> {
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
    sections.push('', profileSection(title, profileDir));
  }
  return sections.join('\n');
}

/**
 * `--profile` with case 7: CPU-profiles a fresh `createSliceHandler()` server (`node --cpu-prof`, the measured
 * row's 1.5 GiB store) over one cold 1 GiB GET by curl (the whole process: its start-up is in it, and the wait
 * for curl in the idle column) and summarises it.
 *
 * @example
 * ```ts
 * console.log(await handlerColdProfile(handlerColdEnv, dir));
 * ```
 */
export async function handlerColdProfile(env: HandlerColdEnv, dir: string): Promise<string> {
  const profileDir = join(dir, 'profiles', 'handler-cold');
  mkdirSync(profileDir, { recursive: true });
  await withHandlerServer(
    env,
    HANDLER_COLD_STORE_BYTES,
    async (_child, base) => {
      const r = await curlGet(`${base}/${env.largeFile}`);
      if (r.status !== 200 || r.bytes !== LARGE_BYTES)
        throw new Error(`handler cold profile: ${r.status}, ${r.bytes} bytes`);
    },
    ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  );
  return [
    '## CPU profile of case 7 (`createSliceHandler()` server, 1.5 GiB memory store, cold 1 GiB read by curl, main thread)',
    '',
    "The server process's whole life: start-up, the wait for curl and the graceful close are in it too.",
    '',
    profileSection('handler server, cold 1 GiB', profileDir),
  ].join('\n');
}

/**
 * `--profile` with case 4: CPU-profiles `slice-proxy --cache fs` (`node --cpu-prof`) over a cold 1 GiB GET by
 * curl on an empty cache directory, then a new process over a warm one on the directory the cold pass filled
 * (which must be all store hits), and summarises each (the whole process: start-up, the store's scan, the wait
 * for curl and the graceful shutdown, which waits for the store writes to land).
 *
 * @example
 * ```ts
 * console.log(await proxyFsProfiles(storeEnv, dir));
 * ```
 */
export async function proxyFsProfiles(env: StoreEnv, dir: string): Promise<string> {
  const cacheDir = join(env.scratch, 'proxy-profile');
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  const sections = [
    "## CPU profile of case 4's `slice-proxy --cache fs` (cold / warm 1 GiB read by curl, main thread)",
    '',
    "Each proxy process's whole life: start-up (the warm one's scan of the cache directory), the wait for curl " +
      'and the graceful shutdown (which waits for the store writes to land) are in it too.',
  ];
  try {
    for (const temperature of ['cold', 'warm'] as const) {
      const profileDir = join(dir, 'profiles', `proxy-fs-${temperature}`);
      mkdirSync(profileDir, { recursive: true });
      if (temperature === 'cold') settleDisk();
      await proxyPass(env, cacheDir, temperature, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
      const title =
        temperature === 'cold'
          ? '`slice-proxy --cache fs`, cold 1 GiB (empty dir, writes to disk), fresh process'
          : '`slice-proxy --cache fs`, warm 1 GiB (the dir the cold pass filled), new process';
      sections.push('', profileSection(title, profileDir));
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  return sections.join('\n');
}

// ---------------------------------------------------------------------------------------------------------

/** The Markdown summary of the one `.cpuprofile` in `profileDir`, under a heading named `title`. */
function profileSection(title: string, profileDir: string): string {
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no profile written in ${profileDir}`);
  const summary = summarizeProfile(join(profileDir, file), REPO_ROOT, 15);
  const pct = (p: number): string => `${p.toFixed(1)} %`;
  return [
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
  ].join('\n');
}
