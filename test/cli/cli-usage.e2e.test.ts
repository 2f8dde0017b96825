/**
 * The CLIs' own words (R18): `--help` prints the usage, every usage error ends with it (never `undefined`, the
 * text used to be declared after the top-level `await main()`), `--version` prints package.json's version, and
 * every error that stops a CLI goes to stderr with its reason — stdout stays for data and JSON logs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runToEnd } from './cli-helpers.js';

const { version } = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'),
) as {
  version: string;
};

afterEach(killAll);

describe('slice-fetch usage', () => {
  it('prints the usage for --help, exit 0', async () => {
    const { code, stdout, stderr } = await runToEnd('slice-fetch', ['--help']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Usage: slice-fetch <url>/);
    expect(stdout).toContain('--cache-dir <dir>');
    expect(stdout).not.toContain('undefined');
  });

  it('ends every usage error with the usage on stderr, exit 2', async () => {
    for (const argv of [[], ['a', 'b'], ['--bogus', 'http://x/']]) {
      const { code, stdout, stderr } = await runToEnd('slice-fetch', argv);
      expect({ argv, code, stdout }).toEqual({ argv, code: 2, stdout: '' });
      expect(stderr).toMatch(/^slice-fetch: /);
      expect(stderr.trimEnd()).toMatch(/--version +the version$/);
      expect(stderr).not.toContain('undefined');
    }
  });

  it('prints the package version for --version', async () => {
    const { code, stdout } = await runToEnd('slice-fetch', ['--version']);
    expect({ code, stdout }).toEqual({ code: 0, stdout: `slice-fetch ${version}\n` });
  });
});

describe('slice-proxy usage', () => {
  it('prints the package version for --version', async () => {
    const { code, stdout } = await runToEnd('slice-proxy', ['--version']);
    expect({ code, stdout }).toEqual({ code: 0, stdout: `slice-proxy ${version}\n` });
  });

  it('documents every flag it parses in --help', async () => {
    const { code, stdout } = await runToEnd('slice-proxy', ['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--tls-cert',
      '--tls-key',
      '--include',
      '--exclude',
      '--min-size',
      '--forward-header',
      '--pass-through',
      '--shutdown-timeout',
      '--version',
    ])
      expect(stdout).toContain(flag);
  });

  it('reports a missing configuration file on stderr with the reason and the path, exit 2', async () => {
    const { code, stdout, stderr } = await runToEnd('slice-proxy', [
      '--config',
      '/nonexistent/slice-proxy.yaml',
    ]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toContain('Cannot read the configuration file `/nonexistent/slice-proxy.yaml`');
    expect(stderr).toContain("ENOENT: no such file or directory, open '/nonexistent/slice-proxy.yaml'");
  });

  it('refuses a port above 65535 before binding: the sentence on stderr, exit 2', async () => {
    const { code, stdout, stderr } = await runToEnd('slice-proxy', [
      '--upstream',
      'http://127.0.0.1:1',
      '--listen',
      '127.0.0.1:70000',
      '--admin',
      '127.0.0.1:99999',
    ]);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toContain(
      'Expected `listen` to be a host:port address with a port between 0 and 65535, got `"127.0.0.1:70000"`.',
    );
    expect(stderr).toContain(
      'Expected `admin` to be a host:port address with a port between 0 and 65535, got `"127.0.0.1:99999"`.',
    );
  });

  it('reports an address it cannot bind on stderr, exit 1', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const { code, stderr } = await runToEnd('slice-proxy', [
        '--upstream',
        'http://127.0.0.1:1',
        '--listen',
        `127.0.0.1:${port}`,
        '--admin',
        '127.0.0.1:0',
      ]);
      expect(code).toBe(1);
      expect(stderr).toContain('slice-proxy: start-up failed:');
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });
});
