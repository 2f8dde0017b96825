/**
 * `npm run bench:disk`: the disk store at edge scale (the "fleet" issue). Fills an `fsStorage` directory with
 * `--entries` small entries (bench/disk-scale/fill.ts), then opens it in a fresh child process
 * (bench/disk-scale/child.ts, bundled with esbuild and run as plain `node --expose-gc`, so its heap is the
 * store's) and prints a Markdown report: time to the first hit and to `ready`, heap and RSS per entry, `get`
 * latency, what `has`/`stats`/`purgeObject` answer before `ready`, and a projection to 10 M entries.
 *
 * Usage: `npm run bench:disk -- --entries 200000 [--slice-bytes 1024] [--per-object 8] [--samples 2000]
 * [--keep-dir DIR] [--heap-snapshots]`. The temp dir (`$TMPDIR/slice-disk-*`) is removed at the end, also on
 * failure and Ctrl-C, unless `--keep-dir` names the directory to use (and keep).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fillStore } from './disk-scale/fill.js';
import { parseDiskScaleOptions } from './disk-scale/options.js';
import type { ChildInput, ChildResult } from './disk-scale/protocol.js';
import { report } from './disk-scale/report.js';
import { log } from './log.js';
import { loadAverages, machine } from './machine.js';
import { NODE_ESM_BUNDLE } from './processes.js';

const options = parseDiskScaleOptions();
const work = options.keepDir ?? mkdtempSync(join(tmpdir(), 'slice-disk-'));
const cleanUp = (): void => {
  if (options.keepDir === undefined) rmSync(work, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  log('bench:disk: interrupted; removing the temp dir');
  cleanUp();
  process.exit(130);
});
try {
  const started = performance.now();
  const loadAtStart = loadAverages();
  const dir = join(work, 'store');
  if (existsSync(dir))
    throw new Error(`bench:disk: ${dir} exists already; --keep-dir needs a fresh directory`);
  mkdirSync(dir, { recursive: true });
  log(`bench:disk: filling ${dir} with ${options.entries} entries of ${options.sliceBytes} B…`);
  const filled = await fillStore(dir, {
    entries: options.entries,
    sliceBytes: options.sliceBytes,
    perObject: options.perObject,
    sample: Math.max(4 * options.samples, 1000),
  });
  log(`bench:disk: filled in ${Math.round(filled.fillMs)} ms; building the child…`);
  const child = await buildChild(work);
  const input: ChildInput = {
    dir,
    entries: filled.entries,
    sliceBytes: options.sliceBytes,
    bodyHead: filled.body.subarray(0, 16).toString('hex'),
    firstKey: filled.firstKey,
    sample: filled.sample,
    purge: filled.purge,
    latencySamples: options.samples,
    ...(options.heapSnapshots ? { snapshotDir: work } : {}),
  };
  const inputPath = join(work, 'input.json');
  writeFileSync(inputPath, JSON.stringify(input));
  log('bench:disk: opening the store in a fresh process…');
  const result = await runChild(child, inputPath);
  const out = [
    ...report(filled, result, options),
    '',
    `Command: \`npm run bench:disk -- ${process.argv.slice(2).join(' ')}\`. Load average (1 / 5 / 15 min) at ` +
      `start ${loadAtStart}, at end ${loadAverages()}, on ${cpus().length} CPUs; total ` +
      `${Math.round((performance.now() - started) / 1000)} s.`,
    `Store directory on ${fsName(dir)} (\`${dir}\`); \`TMPDIR\` picks where the temp dir goes.`,
    '',
    await machine(),
  ];
  if (options.heapSnapshots)
    out.push(
      '',
      `Heap snapshots: \`npx tsx bench/heap-diff.ts ${work}/before.heapsnapshot ${work}/after.heapsnapshot\``,
    );
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  cleanUp();
  if (options.keepDir !== undefined) log(`bench:disk: kept ${work}`);
}

/** The file system type of `path`, by its statfs magic number. */
function fsName(path: string): string {
  const type = statfsSync(path).type;
  const known: Record<number, string> = {
    16914836: 'tmpfs',
    61267: 'ext4',
    1481003842: 'xfs',
    2435016766: 'btrfs',
    2035054128: 'overlayfs',
  };
  return known[type] ?? `file system type 0x${type.toString(16)}`;
}

/** Bundles the child from `src/` into `outDir`; resolves the bundle's path. */
async function buildChild(outDir: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(outDir, 'disk-child.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'disk-scale', 'child.ts')],
    outfile,
    ...NODE_ESM_BUNDLE,
  });
  return outfile;
}

/** Runs the child; resolves its JSON line, rejects on a non-zero exit. */
function runChild(bundle: string, inputPath: string): Promise<ChildResult> {
  const child = spawn(process.execPath, ['--expose-gc', bundle, inputPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (data: Buffer) => {
    out += data.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`bench:disk: the child exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as ChildResult);
    });
  });
}
