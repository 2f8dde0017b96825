/**
 * `slice-fetch -o` resumes at any size (R18): a download interrupted by Ctrl-C or `kill -9` keeps `file.part`
 * and its sidecar; a rerun asks the origin only for the bytes after the part (from the slice holding the first
 * missing byte) and the file ends byte-exact — with no slice cache at all, and with a `--cache-dir` far smaller
 * than the object (which used to make the rerun fetch everything again). A part of an object that changed
 * since is thrown away and the download starts over.
 *
 * The interruption waits on the part file's own growth (fs.watch), never on a timer.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes, contentHash } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, runCli, runToEnd } from './cli-helpers.js';

const KiB = 1024;
const SLICE = 64 * KiB;
const SIZE = 4 * 1024 * KiB + 123; // 4 MiB and a bit: 65 slices
let origin: TestOrigin;
let dir: string;

beforeAll(async () => {
  origin = await startOrigin();
  dir = await mkdtemp(join(tmpdir(), 'slice-fetch-resume-'));
});
afterAll(async () => {
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  killAll();
  origin.configure({ throttleBytesPerSecond: 0 });
  origin.resetStats();
});

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Resolves once `file` exists and holds at least `bytes` bytes. */
async function waitForSize(file: string, bytes: number, child: ChildProcess): Promise<void> {
  const size = async (): Promise<number> => (await stat(file).catch(() => undefined))?.size ?? 0;
  const watcher = watch(join(file, '..'));
  try {
    for (;;) {
      if ((await size()) >= bytes) return;
      if (child.exitCode !== null) throw new Error(`slice-fetch exited with ${child.exitCode} first`);
      await new Promise<void>((resolve) => watcher.once('change', () => resolve()));
    }
  } finally {
    watcher.close();
  }
}

/** Starts a throttled download of `path` into `file`, stops it with `signal` once the part holds `bytes`. */
async function interrupt(path: string, file: string, signal: NodeJS.Signals, extra: readonly string[] = []) {
  origin.configure({ throttleBytesPerSecond: 1024 * KiB });
  const cli = runCli('slice-fetch', [origin.url(path), '-o', file, '--slice-size', '64KiB', ...extra]);
  await waitForSize(`${file}.part`, 1024 * KiB, cli.child);
  cli.child.kill(signal);
  const code = await cli.exited;
  origin.configure({ throttleBytesPerSecond: 0 });
  await origin.waitForNoInFlight();
  return { code, stderr: cli.stderr(), have: (await stat(`${file}.part`)).size };
}

/** What a rerun should cost the origin: everything from the start of the slice holding the first missing byte. */
const missingFromSlice = (have: number): number => SIZE - Math.floor(have / SLICE) * SLICE;

describe('slice-fetch resume', () => {
  it('after Ctrl-C, a rerun fetches only the missing bytes and the file is byte-exact', async () => {
    const { seed } = origin.setObject('/resume/ctrl-c.bin', { size: SIZE });
    const file = join(dir, 'ctrl-c.bin');
    const stopped = await interrupt('/resume/ctrl-c.bin', file, 'SIGINT');
    expect({ code: stopped.code, stderr: stopped.stderr }).toEqual({ code: 130, stderr: expect.any(String) });
    expect(stopped.stderr).toContain('run the same command again to resume');
    expect(existsSync(`${file}.part.json`)).toBe(true);
    expect(stopped.have).toBeGreaterThanOrEqual(1024 * KiB);
    expect(stopped.have).toBeLessThan(SIZE);

    origin.resetStats();
    const rerun = await runToEnd('slice-fetch', [
      origin.url('/resume/ctrl-c.bin'),
      '-o',
      file,
      '--slice-size',
      '64KiB',
    ]);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toContain(`resuming ${stopped.have}-${SIZE - 1}`);
    expect(origin.stats.bytesSent).toBe(missingFromSlice(stopped.have));
    expect(origin.stats.bytesSent).toBeLessThan(SIZE - stopped.have + SLICE);
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, SIZE - 1));
    expect(existsSync(`${file}.part`)).toBe(false);
    expect(existsSync(`${file}.part.json`)).toBe(false);
  });

  it('after kill -9, with a --cache-dir smaller than the object, a rerun still fetches only the missing bytes', async () => {
    const { seed } = origin.setObject('/resume/kill.bin', { size: SIZE });
    const file = join(dir, 'kill.bin');
    const cache = ['--cache-dir', join(dir, 'small-cache'), '--cache-size', '1MiB'];
    const stopped = await interrupt('/resume/kill.bin', file, 'SIGKILL', cache);
    expect(stopped.code).toBe('SIGKILL');

    origin.resetStats();
    const rerun = await runToEnd('slice-fetch', [
      origin.url('/resume/kill.bin'),
      '-o',
      file,
      '--slice-size',
      '64KiB',
      ...cache,
    ]);
    expect(rerun.code).toBe(0);
    expect(origin.stats.bytesSent).toBeLessThanOrEqual(missingFromSlice(stopped.have));
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, SIZE - 1));
  });

  it('resumes a --range download within the range', async () => {
    const { seed } = origin.setObject('/resume/range.bin', { size: SIZE });
    const file = join(dir, 'range.bin');
    const range = ['--range', `100000-${SIZE - 1000}`];
    const stopped = await interrupt('/resume/range.bin', file, 'SIGINT', range);
    origin.resetStats();
    const rerun = await runToEnd('slice-fetch', [
      origin.url('/resume/range.bin'),
      '-o',
      file,
      '--slice-size',
      '64KiB',
      ...range,
    ]);
    expect(rerun.code).toBe(0);
    const from = 100_000 + stopped.have;
    // Whole slices: from the one holding the first missing byte to the end of the one holding the range's last.
    const end = Math.min((Math.floor((SIZE - 1000) / SLICE) + 1) * SLICE, SIZE);
    expect(origin.stats.bytesSent).toBe(end - Math.floor(from / SLICE) * SLICE);
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 100_000, SIZE - 1000));
  });

  it('starts over when the object changed since the part was written', async () => {
    origin.setObject('/resume/changed.bin', { size: SIZE, seed: 1 });
    const file = join(dir, 'changed.bin');
    await interrupt('/resume/changed.bin', file, 'SIGINT');
    const { seed } = origin.setObject('/resume/changed.bin', { size: SIZE, seed: 2 });
    const rerun = await runToEnd('slice-fetch', [
      origin.url('/resume/changed.bin'),
      '-o',
      file,
      '--slice-size',
      '64KiB',
    ]);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toContain('starting over: the object changed');
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, SIZE - 1));
  });

  it('starts over with --restart, and when the part has no sidecar', async () => {
    const { seed } = origin.setObject('/resume/restart.bin', { size: SIZE });
    const file = join(dir, 'restart.bin');
    await interrupt('/resume/restart.bin', file, 'SIGINT');
    origin.resetStats();
    const restarted = await runToEnd('slice-fetch', [
      origin.url('/resume/restart.bin'),
      '-o',
      file,
      '--restart',
    ]);
    expect(restarted.code).toBe(0);
    expect(origin.stats.bytesSent).toBe(SIZE);
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, SIZE - 1));

    await interrupt('/resume/restart.bin', file, 'SIGINT');
    await rm(`${file}.part.json`);
    origin.resetStats();
    const orphan = await runToEnd('slice-fetch', [origin.url('/resume/restart.bin'), '-o', file]);
    expect(orphan.code).toBe(0);
    expect(orphan.stderr).toContain(`starting over: ${file}.part has no readable ${file}.part.json`);
    expect(origin.stats.bytesSent).toBe(SIZE);
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, SIZE - 1));
  });

  it('finishes a complete part whose rename was lost by checking one byte of the version', async () => {
    const { seed } = origin.setObject('/resume/complete.bin', { size: SIZE });
    const file = join(dir, 'complete.bin');
    await interrupt('/resume/complete.bin', file, 'SIGINT');
    await writeFile(`${file}.part`, contentBytes(seed, 0, SIZE - 1));
    origin.resetStats();
    const rerun = await runToEnd('slice-fetch', [
      origin.url('/resume/complete.bin'),
      '-o',
      file,
      '--slice-size',
      '64KiB',
    ]);
    expect(rerun.code).toBe(0);
    expect(origin.stats.bytesSent).toBe(SIZE - Math.floor((SIZE - 1) / SLICE) * SLICE); // the last slice only
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, SIZE - 1));
  });
});
