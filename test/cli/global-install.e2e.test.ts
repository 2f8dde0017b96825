/**
 * The CLIs as `npm i -g slice-fetch` installs them (R18): built by the CLI entry of tsup.config.ts into a
 * package directory whose `node_modules` holds only the package's `dependencies` — no prom-client, pino or
 * yaml, which used to be optional peers / dev tools the CLI imported at run time — `slice-proxy --help` works,
 * a YAML configuration loads, a range is served, `/metrics` is scraped and `slice-fetch` downloads.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Options } from 'tsup';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import config from '../../tsup.config.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, runCli, runToEnd } from './cli-helpers.js';

const root = join(import.meta.dirname, '..', '..');
const BUNDLED = ['prom-client', 'pino', 'yaml'];
let origin: TestOrigin;
let prefix: string;
let pkg: string;

beforeAll(async () => {
  origin = await startOrigin();
  prefix = await mkdtemp(join(tmpdir(), 'slice-fetch-global-'));
  pkg = join(prefix, 'node_modules', 'slice-fetch');
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  // The package's own dependencies, and nothing else, next to it (npm hoists them there).
  for (const name of Object.keys(manifest.dependencies)) {
    const at = join(prefix, 'node_modules', name);
    await mkdir(join(at, '..'), { recursive: true });
    await symlink(join(root, 'node_modules', name), at, 'dir');
  }
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'package.json'), JSON.stringify(manifest));
  // The CLI entry of tsup.config.ts, exactly as `npm run build` builds it (an array of plain option objects).
  const cli = (config as Options[]).find(
    (options) => !Array.isArray(options.entry) && 'cli/slice-proxy' in (options.entry ?? {}),
  ) as Options;
  await build({
    ...cli,
    config: false,
    outDir: join(pkg, 'dist'),
    clean: false,
    silent: true,
    sourcemap: false,
  });
}, 120_000);
afterAll(async () => {
  await origin.close();
  await rm(prefix, { recursive: true, force: true });
});
afterEach(killAll);

const script = (name: string): string => join(pkg, 'dist', 'cli', `${name}.js`);

describe('the CLIs with only the dependencies installed', () => {
  it('needs none of the bundled packages installed', async () => {
    const { dependencies } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const name of BUNDLED) expect(Object.keys(dependencies)).not.toContain(name);
  });

  it('prints the help and the version', async () => {
    const help = await runToEnd('slice-proxy', ['--help'], { script: script('slice-proxy'), cwd: prefix });
    expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: slice-proxy/);
    const version = await runToEnd('slice-fetch', ['--version'], {
      script: script('slice-fetch'),
      cwd: prefix,
    });
    expect(version.stdout).toMatch(/^slice-fetch \d+\.\d+\.\d+/);
  });

  it('serves from a YAML configuration and answers /metrics', async () => {
    const { seed } = origin.setObject('/global/a.bin', { size: 300_000 });
    const file = join(prefix, 'proxy.yaml');
    await writeFile(
      file,
      `upstream: ${origin.url('/')}\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\nsliceSize: 64KiB\n`,
    );
    const proxy = runCli('slice-proxy', ['--config', file], { script: script('slice-proxy'), cwd: prefix });
    const line = await proxy.waitForLog('listening');
    const res = await fetch(`http://${String(line.listen)}/global/a.bin`, {
      headers: { range: 'bytes=1000-99999' },
    });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(contentBytes(seed, 1000, 99_999))).toBe(true);
    const metrics = await fetch(`http://${String(line.admin)}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^slice_fetch_bytes_total\{source="origin"\} 99000$/m);
    expect(proxy.stderr()).toBe('');
  });

  it('downloads with slice-fetch', async () => {
    const { seed } = origin.setObject('/global/b.bin', { size: 200_000 });
    const out = join(prefix, 'b.bin');
    const run = await runToEnd('slice-fetch', [origin.url('/global/b.bin'), '-o', out], {
      script: script('slice-fetch'),
      cwd: prefix,
    });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await readFile(out)).equals(contentBytes(seed, 0, 199_999))).toBe(true);
  });
});
