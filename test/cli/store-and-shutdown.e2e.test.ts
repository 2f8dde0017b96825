/**
 * `slice-proxy` with a store that cannot work (R18): an unusable `--cache-dir` stops the start-up with exit 2
 * and the reason on stderr (it used to run and cache nothing); a store that fails after start logs an error
 * that serialises (it used to log `"err":{}`); a store that hangs cannot hold the shutdown past
 * `shutdownMs` (+1 s for the stores), and a second SIGTERM or Ctrl-C exits at once (both used to be ignored).
 *
 * The hanging and failing stores come from a preload (fixtures/faulty-mkdir.mjs) that makes the disk store's
 * recursive mkdir hang or fail — what Node's recursive mkdir does on `/proc/nope`. Every wait is on a log line
 * or the exit, never on a timer.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, logLines, runCli, runToEnd } from './cli-helpers.js';

const faultyMkdir = join(import.meta.dirname, 'fixtures', 'faulty-mkdir.mjs');
let origin: TestOrigin;
let dir: string;

beforeAll(async () => {
  origin = await startOrigin();
  dir = await mkdtemp(join(tmpdir(), 'slice-proxy-store-'));
});
afterAll(async () => {
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(killAll);

/** A proxy on a disk store under `dir/<name>` (with the faulty mkdir preloaded), listening. */
async function startProxy(name: string, extra: readonly string[] = []) {
  const cli = runCli(
    'slice-proxy',
    [
      '--upstream',
      origin.url('/'),
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--slice-size',
      '64KiB',
      '--cache',
      'fs',
      '--cache-dir',
      join(dir, name),
      ...extra,
    ],
    { nodeArgs: ['--import', faultyMkdir] },
  );
  const line = await cli.waitForLog('listening');
  return { cli, proxy: `http://${String(line.listen)}` };
}

describe('slice-proxy start-up store check', () => {
  it.runIf(process.platform === 'linux')(
    'exits 2 naming the directory and the reason for --cache-dir /proc/nope, and never listens',
    async () => {
      const { code, stdout, stderr } = await runToEnd('slice-proxy', [
        '--upstream',
        origin.url('/'),
        '--listen',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--cache',
        'fs',
        '--cache-dir',
        '/proc/nope',
      ]);
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr).toContain('Cannot use the cache directory `/proc/nope`');
      expect(stderr).toContain('ENOENT');
    },
  );

  it('exits 2 when --cache-dir is a file', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    const { code, stderr } = await runToEnd('slice-proxy', [
      '--upstream',
      origin.url('/'),
      '--cache',
      'tiered',
      '--cache-dir',
      file,
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain(`Cannot use the cache directory \`${file}\``);
    expect(stderr).toContain('is not a directory');
  });
});

describe('slice-proxy with a store that fails or hangs', () => {
  it('logs a store failure with its message and code, never as {}', async () => {
    const { cli } = await startProxy('broken-store');
    const line = await cli.waitForLog('disk cache unusable: serving from the origin');
    expect(line.err).toMatchObject({ message: expect.stringContaining('EACCES') });
    const scan = logLines(cli, 'fsStorage could not scan its directory')[0];
    expect(scan?.error).toMatchObject({ message: expect.stringContaining('EACCES') });
    expect(cli.stdout()).not.toMatch(/"(err|error)":\{\}/);
  });

  it('still serves while the store hangs, then exits 1 by itself at shutdownMs + 1 s', async () => {
    const { seed } = origin.setObject('/hang/a.bin', { size: 256 * 1024 });
    const { cli, proxy } = await startProxy('hang-store', ['--shutdown-timeout', '200']);
    const res = await fetch(`${proxy}/hang/a.bin`, { headers: { range: 'bytes=0-99999' } });
    expect(Buffer.from(await res.arrayBuffer()).equals(contentBytes(seed, 0, 99_999))).toBe(true);

    const started = performance.now();
    cli.child.kill('SIGTERM');
    await cli.waitForLog('closing the stores');
    expect(await cli.exited).toBe(1);
    expect(performance.now() - started).toBeLessThan(200 + 1000 + 2000); // the bound, plus process slack
    expect(logLines(cli, 'shutdown deadline reached with the stores still closing: exiting')).toHaveLength(1);
    expect(cli.stdout()).not.toContain('"msg":"stopped"');
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('exits at once on a second %s while the stores hang', async (signal, exitCode) => {
    const { cli } = await startProxy('hang-store', ['--shutdown-timeout', '600000']);
    cli.child.kill(signal);
    await cli.waitForLog('closing the stores');
    cli.child.kill(signal);
    expect(await cli.exited).toBe(exitCode);
    expect(logLines(cli, 'second signal: exiting now')).toEqual([expect.objectContaining({ signal })]);
  });
});
