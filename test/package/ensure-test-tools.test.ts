/**
 * `scripts/ensure-test-tools.mjs` (the `pretest` script) on simulated machines: a `PATH` holding only fake
 * tools, nginx looked for at a path of the test's choosing, and root or apt-get taken away by its overrides.
 * The system's own tools and apt-get are never reached.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'ensure-test-tools.mjs');

let dir: string;
let bin: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ensure-tools-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An executable named `name` in the fake `PATH` directory (or at `path`). */
function fakeTool(name: string, body = 'process.exit(0);', path = join(bin, name)): string {
  writeFileSync(path, `#!${process.execPath}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Runs the script with nothing of the real environment but what is given. */
function run(env: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, [SCRIPT], {
    env: {
      PATH: bin,
      SLICE_FETCH_NGINX: join(dir, 'no', 'nginx'),
      SLICE_FETCH_HAPROXY: fakeTool('haproxy', undefined, join(dir, 'haproxy')),
      ...env,
    },
    encoding: 'utf8',
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** The message is one sentence on one line: one final full stop, no other sentence end. */
function expectOneSentence(text: string): void {
  const message = text.trim();
  expect(message.split('\n')).toHaveLength(1);
  expect(message).toMatch(/\.$/);
  expect(message.slice(0, -1)).not.toMatch(/[.!?]\s+[A-Z]/);
}

describe.skipIf(process.platform === 'win32')('pretest: ensure-test-tools', () => {
  it('passes silently when every tool is there', () => {
    for (const name of ['redis-server', 'aria2c', 'curl']) fakeTool(name);
    const nginx = fakeTool('nginx', undefined, join(dir, 'nginx'));
    const result = run({ SLICE_FETCH_NGINX: nginx });
    expect(result).toEqual({ status: 0, stderr: '', stdout: '' });
  });

  it('without apt-get, stops with one sentence naming every missing tool and how to install it', () => {
    // apt-get is not on the PATH
    const result = run({ SLICE_FETCH_AS_ROOT: '1', SLICE_FETCH_HAPROXY: join(dir, 'no', 'haproxy') });
    expect(result.status).toBe(1);
    expectOneSentence(result.stderr);
    expect(result.stderr).toContain('redis-server, nginx, aria2c, curl and haproxy');
    expect(result.stderr).toContain('apt-get install redis-server nginx aria2 curl haproxy');
    expect(result.stderr).toContain('brew install redis nginx aria2 curl haproxy');
    expect(result.stderr).toContain(join(dir, 'no', 'nginx'));
    expect(result.stdout).toBe('');
  });

  it('names only what is missing', () => {
    fakeTool('redis-server');
    fakeTool('curl');
    const nginx = fakeTool('nginx', undefined, join(dir, 'nginx'));
    const result = run({ SLICE_FETCH_NGINX: nginx, SLICE_FETCH_APT: '0' });
    expect(result.status).toBe(1);
    expectOneSentence(result.stderr);
    expect(result.stderr).toMatch(/need aria2c, which is not installed: install it /);
    expect(result.stderr).toContain('apt-get install aria2`');
  });

  it('finds redis-server where REDIS_SERVER points, as the tests do', () => {
    for (const name of ['aria2c', 'curl']) fakeTool(name);
    const nginx = fakeTool('nginx', undefined, join(dir, 'nginx'));
    const redis = fakeTool('my-redis', undefined, join(dir, 'my-redis'));
    expect(run({ SLICE_FETCH_NGINX: nginx, REDIS_SERVER: redis }).status).toBe(0);
    expect(
      run({ SLICE_FETCH_NGINX: nginx, REDIS_SERVER: join(dir, 'gone'), SLICE_FETCH_APT: '0' }),
    ).toMatchObject({
      status: 1,
      stderr: expect.stringContaining('need redis-server,'),
    });
  });

  it('as a user other than root, tells how to install with sudo and does not call apt-get', () => {
    const log = join(dir, 'apt.log');
    fakeTool('apt-get', `require('node:fs').appendFileSync(${JSON.stringify(log)}, 'called\\n');`);
    fakeTool('curl');
    const result = run({ SLICE_FETCH_AS_ROOT: '0' });
    expect(result.status).toBe(1);
    expectOneSentence(result.stderr);
    expect(result.stderr).toContain('need redis-server, nginx and aria2c');
    expect(result.stderr).toContain('sudo apt-get install -y redis-server nginx aria2');
    expect(existsSync(log)).toBe(false);
  });

  it('as root with apt-get, installs the missing packages and passes', () => {
    const log = join(dir, 'apt.log');
    const nginx = join(dir, 'nginx');
    // A fake apt-get: records its arguments and DEBIAN_FRONTEND; `install` creates the tools it was asked for.
    fakeTool(
      'apt-get',
      `const fs = require('node:fs');
       const args = process.argv.slice(2);
       fs.appendFileSync(${JSON.stringify(log)}, process.env.DEBIAN_FRONTEND + ' ' + args.join(' ') + '\\n');
       const made = { aria2: ${JSON.stringify(join(bin, 'aria2c'))}, nginx: ${JSON.stringify(nginx)} };
       if (args[0] === 'install')
         for (const pkg of args) if (made[pkg]) { fs.writeFileSync(made[pkg], '#!/bin/sh\\n'); fs.chmodSync(made[pkg], 0o755); }`,
    );
    fakeTool('redis-server');
    fakeTool('curl');
    const result = run({ SLICE_FETCH_AS_ROOT: '1', SLICE_FETCH_NGINX: nginx });
    expect(result.stderr).toBe('pretest: installing nginx aria2 (apt-get) for the end-to-end tests\n');
    expect(result.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(
      'noninteractive update -qq\nnoninteractive install -y -qq nginx aria2\n',
    );
  });

  it('as root, stops with one sentence when apt-get fails', () => {
    fakeTool('apt-get', 'process.exit(100);');
    const result = run({ SLICE_FETCH_AS_ROOT: '1' });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^pretest: installing /);
    expectOneSentence(lines.slice(1).join('\n'));
    expect(lines[1]).toContain('`apt-get update -qq` failed (exit 100)');
  });

  it('checks nothing with SLICE_FETCH_SKIP_TOOLS=1', () => {
    expect(run({ SLICE_FETCH_SKIP_TOOLS: '1' })).toEqual({ status: 0, stderr: '', stdout: '' });
  });
});
