/**
 * @module Real download clients against the running `slice-proxy` binary: `curl --range`, a download cut short and resumed
 * with `curl -C -`, and `aria2c` splitting one file over four connections must all write files byte-identical to
 * the origin's object (SHA-256 against {@link contentHash}).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cli, killAll, runCli } from '../cli/cli-helpers.js';
import { contentBytes, contentHash } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const MiB = 1024 * 1024;
const SIZE = 6 * MiB + 12_345; // seven slices, the last one short
const PATH = '/download.bin';

let origin: TestOrigin;
let proxy: Cli;
let base = '';
let seed = 0;
let dir = '';

/** GETs of the object the running proxy logged so far (one "http request" line each). */
function proxiedRequests(): number {
  return proxy
    .stdout()
    .split('\n')
    .filter((line) => line.includes('"http request"') && line.includes(`"url":"${PATH}"`)).length;
}

beforeAll(async () => {
  origin = await startOrigin();
  seed = origin.setObject(PATH, { size: SIZE }).seed;
  // The real binary, as a user runs it.
  proxy = runCli('slice-proxy', [
    '--upstream',
    origin.url('/'),
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--slice-size',
    '1MiB',
  ]);
  const line = await proxy.waitForLog('listening');
  base = `http://${String(line.listen)}`;
  dir = await mkdtemp(join(tmpdir(), 'slice-clients-'));
});

afterAll(async () => {
  killAll();
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});

describe('download clients through the running slice-proxy', () => {
  it('curl --range writes exactly the requested bytes, across slice boundaries', async () => {
    const file = join(dir, 'range.part');
    const [start, end] = [MiB - 100, 3 * MiB + 99];
    const run = await exec('curl', [
      '-sS',
      '--fail',
      '--range',
      `${start}-${end}`,
      '-o',
      file,
      `${base}${PATH}`,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(await fileHash(file)).toBe(contentHash(seed, start, end));
  });

  it('curl --range with a suffix writes the object tail', async () => {
    const file = join(dir, 'suffix.part');
    const run = await exec('curl', ['-sS', '--fail', '--range', '-5000', '-o', file, `${base}${PATH}`]);
    expect(run.code, run.stderr).toBe(0);
    expect(await fileHash(file)).toBe(contentHash(seed, SIZE - 5000, SIZE - 1));
  });

  it('curl -C - resumes a cut download into the same file, byte-exact', async () => {
    const file = join(dir, 'resumed.bin');
    // The first part as curl itself wrote it before the cut: a byte range saved to the target file.
    const cut = 2 * MiB + 777;
    const first = await exec('curl', [
      '-sS',
      '--fail',
      '--range',
      `0-${cut - 1}`,
      '-o',
      file,
      `${base}${PATH}`,
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect((await stat(file)).size).toBe(cut);
    const resumed = await exec('curl', ['-sS', '--fail', '-C', '-', '-o', file, `${base}${PATH}`]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await stat(file)).size).toBe(SIZE);
    expect(await fileHash(file)).toBe(contentHash(seed, 0, SIZE - 1));
  });

  it('curl -C - resumes from a partial file written by someone else', async () => {
    const file = join(dir, 'partial.bin');
    await writeFile(file, contentBytes(seed, 0, 4 * MiB + 2));
    const resumed = await exec('curl', ['-sS', '--fail', '-C', '-', '-o', file, `${base}${PATH}`]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await fileHash(file)).toBe(contentHash(seed, 0, SIZE - 1));
  });

  it('aria2c -x4 -s4 -k1M downloads over four connections, byte-exact', async () => {
    const name = 'aria2.bin';
    const before = proxiedRequests();
    const run = await exec('aria2c', [
      '-x4',
      '-s4',
      '-k1M',
      '--file-allocation=none',
      '--allow-overwrite=true',
      '--auto-file-renaming=false',
      '--no-conf',
      '--summary-interval=0',
      '--console-log-level=warn',
      '--max-tries=1',
      '-d',
      dir,
      '-o',
      name,
      `${base}${PATH}`,
    ]);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(await fileHash(join(dir, name))).toBe(contentHash(seed, 0, SIZE - 1));
    // aria2c really split the download: several requests reached the proxy.
    expect(proxiedRequests() - before).toBeGreaterThan(1);
  });
});

// ---------------------------------------------------------------------------------------------------------

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function exec(command: string, args: readonly string[]): Promise<Run> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

async function fileHash(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
