/**
 * `npm run bench`: the slice-fetch benchmark in one run. Sets up a temp dir with a 64 MiB and a 1 GiB file,
 * starts nginx on them, checks that every client delivers the right bytes, then runs each case's clients in
 * rounds (each in its own process, so each peak RSS is its own) and prints Markdown tables of ratios — with
 * medians of `--runs` rounds — and the verdict per target. `--profile` also CPU-profiles the cold and warm
 * 1 GiB transfers (with case 4, `slice-proxy --cache fs`'s cold and warm 1 GiB; with case 7, the handler server's
 * cold 1 GiB) and prints their top self-time functions.
 * Case 4 (persistent stores) also starts a second nginx (slice module + proxy_cache) and a `redis-server`;
 * `--only 4` runs it alone, `--only 1,2,3` skips it (cases 1–3 share their rounds, so any of them runs all
 * three). Case 5 (warm 4 KiB ranges: `createSliceHandler()` vs nginx slice + proxy_cache vs bare `node:http`,
 * under wrk) uses that second nginx too; case 6 (cold 1 GiB via
 * `fetcher.fetch()` vs one undici GET) is case 2's `fetch()` rows, which `--only 6` runs without the rest. Case 7
 * (cold 1 GiB through `createSliceHandler()` in a fresh `node:http` server vs that nginx on a key it has never
 * seen, both read by curl) uses the same nginx and case 5's server. Case 8 (the disk store at edge scale: a
 * million entries) runs `npm run bench:disk` as a child, last, and appends its report.
 *
 * Every run also merges the ratios it measured into `bench/results/ratios.json` and redraws
 * `bench/results/ratios.svg` (bench/chart.ts; `--chart-dir` elsewhere, `--no-chart` not at all).
 *
 * `--glibc-tuned` runs every Node client (ours and the undici baseline alike, not aria2c or nginx) with the glibc
 * allocator settings README lists for a long-running proxy; the report says so.
 *
 * Usage: `npm run bench -- [--runs 3] [--only 1,2,3,4,5,6,7,8] [--range-seconds 10] [--glibc-tuned] [--profile]
 *   [--json out.json] [--chart-dir bench/results] [--no-chart] [--keep]`
 *
 * The parts: flags in bench/run/options.ts, the served files and the client check in bench/run/origin-files.ts,
 * case 4's, 5's and 7's peers in bench/run/cache-peers.ts, the rounds in bench/run/rounds.ts, the report in
 * bench/run/results-report.ts, `--profile` in bench/run/profiles.ts and the chart's ratios in
 * bench/run/chart-entries.ts; the cases themselves in bench/cases/ (1–3, 6), bench/stores/ (4),
 * bench/small-ranges/ (5), bench/handler-cold/ (7) and bench/run/disk-case.ts (8).
 *
 * @module
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchEnv } from './cases/variants.js';
import { updateChart } from './chart.js';
import { log } from './log.js';
import { shortCommit } from './machine.js';
import { startNginx } from './nginx.js';
import { REPO_ROOT } from './paths.js';
import { buildClients, TUNED_MALLOC_ENV, useClientEnv } from './processes.js';
import { startCachePeers } from './run/cache-peers.js';
import { chartEntries } from './run/chart-entries.js';
import { runDiskCase } from './run/disk-case.js';
import { parseBenchOptions } from './run/options.js';
import { verifyClients, writeOriginFiles } from './run/origin-files.js';
import { handlerColdProfile, profiles, proxyFsProfiles } from './run/profiles.js';
import { resultsReport } from './run/results-report.js';
import { measureRounds } from './run/rounds.js';

const options = parseBenchOptions();
if (options.glibcTuned) useClientEnv(TUNED_MALLOC_ENV);
const { withCases123, withCase4, withCase5, withCase6, withCase7 } = options;
if (!(withCases123 || withCase4 || withCase5 || withCase6 || withCase7)) {
  // `--only 8`: the disk store needs no origin, peers or clients.
  process.stdout.write(`${await runDiskCase()}\n`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'slice-bench-'));
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
  const smallSha = writeOriginFiles(www);
  const nginx = await startNginx({ dir: join(dir, 'nginx'), root: www, slowRate: '20m' });
  stops.push(nginx.stop);
  const env: BenchEnv = { clients, base: nginx.base, smallFile: 'obj-64m', largeFile: 'obj-1g', aria2Dir };

  await verifyClients(env, smallSha);
  log('bench: every client delivered the right bytes (SHA-256 of 64 MiB checked)');

  const peers = await startCachePeers(options, { dir, www, env, origin: nginx, smallSha }, stops);
  const { results, rangeResults } = await measureRounds(options, env, peers);

  const report = await resultsReport(options, results, rangeResults, peers.rangeServers);
  const out = report.lines;
  const profileCases123 = options.profile && options.withCases123;
  const profileCase4 = options.profile && peers.storeEnv !== undefined;
  const profileCase7 = options.profile && peers.handlerColdEnv !== undefined;
  if (profileCases123) out.push('', await profiles(env, dir));
  if (profileCase4 && peers.storeEnv !== undefined) out.push('', await proxyFsProfiles(peers.storeEnv, dir));
  if (profileCase7 && peers.handlerColdEnv !== undefined)
    out.push('', await handlerColdProfile(peers.handlerColdEnv, dir));
  if (!profileCases123 && !profileCase4 && !profileCase7 && report.verdicts.some((v) => !v.met))
    out.push(
      '',
      "A target is not met: `npm run bench -- --profile` shows where the CPU goes in cases 1–3, 7 and case 4's " +
        '`slice-proxy` rows; for its in-process rows, run `bench/clients/store.mjs` (kept with `--keep`) under ' +
        '`node --cpu-prof`.',
    );
  if (options.withCase8) out.push('', await runDiskCase());
  if (!options.noChart) {
    const chartDir = options.chartDir ?? join(REPO_ROOT, 'bench', 'results');
    const written = updateChart(chartDir, chartEntries(options, results, rangeResults), {
      commit: shortCommit(),
      runs: options.runs,
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
  if (options.json !== undefined) {
    writeFileSync(
      options.json,
      JSON.stringify(
        { runs: options.runs, results: Object.fromEntries(results), verdicts: report.verdicts },
        null,
        2,
      ),
    );
  }
} finally {
  for (const stop of stops.reverse()) await stop();
  if (options.keep) log(`bench: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
