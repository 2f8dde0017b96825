/**
 * The deployment examples under examples/deploy (R18) stay consistent with the proxy: the systemd unit passes
 * `systemd-analyze verify` (when the machine has it) with a low exposure score, stops later than the proxy's
 * default drain, does not restart on a configuration error (exit 2); the Dockerfile runs the published binary
 * as a non-root user and gives it the same stop budget.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sliceProxyConfigSchema } from '../../src/cli/proxy-config.js';

const deploy = join(import.meta.dirname, '..', '..', 'examples', 'deploy');
const unit = readFileSync(join(deploy, 'slice-proxy.service'), 'utf8');
const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
const { shutdownMs } = sliceProxyConfigSchema.parse({ upstream: 'http://127.0.0.1:1' });

const hasSystemdAnalyze = (() => {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The values of `key=` lines of the unit. */
const values = (key: string): string[] =>
  [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] as string).trim());

describe('examples/deploy/slice-proxy.service', () => {
  it('lets the drain finish, and does not loop on a configuration error', () => {
    const stop = /^(\d+)s$/.exec(values('TimeoutStopSec')[0] ?? '');
    expect(Number(stop?.[1]) * 1000).toBeGreaterThan(shutdownMs + 1000);
    expect(values('RestartPreventExitStatus')).toEqual(['2']);
    expect(values('ExecStart')[0]).toMatch(/\/slice-proxy --config \/etc\/slice-proxy\/slice-proxy\.yaml$/);
    expect(values('CacheDirectory')).toEqual(['slice-proxy']);
  });

  it.runIf(hasSystemdAnalyze)('passes systemd-analyze verify, with an exposure below 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unit-'));
    try {
      // `verify` also checks that ExecStart exists: point it at an executable this machine has.
      const file = join(dir, 'slice-proxy.service');
      writeFileSync(file, unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
      execFileSync('systemd-analyze', ['verify', file], { stdio: 'pipe' });
      const security = execFileSync('systemd-analyze', ['security', '--offline=yes', file], {
        encoding: 'utf8',
      });
      const score = Number(/Overall exposure level for slice-proxy\.service: ([\d.]+)/.exec(security)?.[1]);
      expect(score).toBeLessThan(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('examples/deploy/Dockerfile', () => {
  it('runs slice-proxy as a non-root user with a stop budget above the drain', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["slice-proxy"\]$/m);
    expect(dockerfile).toMatch(/^STOPSIGNAL SIGTERM$/m);
    const stop = Number(/--stop-timeout (\d+)/.exec(dockerfile)?.[1]);
    expect(stop * 1000).toBeGreaterThan(shutdownMs + 1000);
  });
});
