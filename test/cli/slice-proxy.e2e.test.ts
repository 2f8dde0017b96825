import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes, contentHash, hashStream } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, runCli, runToEnd } from './cli-helpers.js';

const KiB = 1024;
let origin: TestOrigin;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin.close());
afterEach(() => {
  killAll();
  origin.configure({ throttleBytesPerSecond: 0 });
});

/** Starts the proxy on free ports and resolves the base URLs from its "listening" log line. */
async function startProxy(extra: readonly string[] = []) {
  const cli = runCli('slice-proxy', [
    '--upstream',
    origin.url('/'),
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--slice-size',
    '64KiB',
    ...extra,
  ]);
  const line = await cli.waitForLog('listening');
  return { cli, proxy: `http://${String(line.listen)}`, admin: `http://${String(line.admin)}` };
}

describe('slice-proxy configuration', () => {
  it('exits non-zero naming the key when a flag is out of range', async () => {
    const { code, stderr } = await runToEnd('slice-proxy', [
      '--upstream',
      origin.url('/'),
      '--slice-size',
      '0',
    ]);
    expect(code).not.toBe(0);
    expect(stderr).toContain('Expected `sliceSize` to be an integer between 65536 and 67108864, got `0`.');
  });

  it('exits non-zero with the library sentences for a bad YAML file', async () => {
    const file = join(tmpdir(), `slice-proxy-bad-${process.pid}.yaml`);
    await writeFile(
      file,
      'upstream: http://127.0.0.1:1\nconcurrency: 0\nretry:\n  retries: 99\nlisten: nowhere\nbogus: 1\n',
    );
    const { code, stderr } = await runToEnd('slice-proxy', ['--config', file]);
    expect(code).not.toBe(0);
    expect(stderr).toContain('Expected `concurrency` to be an integer between 1 and 64, got `0`.');
    expect(stderr).toContain('Expected `retry.retries` to be an integer between 0 and 20, got `99`.');
    expect(stderr).toContain('Expected `listen` to be a host:port address, got `"nowhere"`.');
    expect(stderr).toContain('Unknown option `bogus`.');
  });

  it('refuses to start without an upstream', async () => {
    const { code, stderr } = await runToEnd('slice-proxy', []);
    expect(code).not.toBe(0);
    expect(stderr).toContain('`upstream`');
  });
});

describe('slice-proxy serving', () => {
  it('serves a range byte-exact, answers /healthz and exposes slice_fetch_ counters on /metrics', async () => {
    const { seed } = origin.setObject('/proxy/range.bin', { size: 1024 * KiB });
    const { proxy, admin } = await startProxy();

    const res = await fetch(`${proxy}/proxy/range.bin`, { headers: { range: 'bytes=100000-299999' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100000-299999/${1024 * KiB}`);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(Buffer.from(await res.arrayBuffer()).equals(contentBytes(seed, 100_000, 299_999))).toBe(true);

    const health = await fetch(`${admin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');

    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^slice_fetch_subrequests_total\{status="206"\} [1-9]/m);
    expect(text).toMatch(/^slice_fetch_cache_misses_total [1-9]/m);
    expect(text).toMatch(/^slice_fetch_bytes_total\{source="origin"\} 200000$/m);
  });

  it('lets an in-flight download finish byte-exact on SIGTERM, then exits 0', async () => {
    const size = 2048 * KiB;
    const { seed } = origin.setObject('/proxy/slow.bin', { size });
    // Slow enough that the body is still streaming when the signal arrives.
    origin.configure({ throttleBytesPerSecond: 2 * 1024 * 1024 });
    const { cli, proxy } = await startProxy(['--concurrency', '2']);

    const res = await fetch(`${proxy}/proxy/slow.bin`);
    expect(res.status).toBe(200);
    cli.child.kill('SIGTERM');
    await cli.waitForLog('shutting down: draining in-flight responses');
    const { hash, bytes } = await hashStream(res.body as AsyncIterable<Uint8Array>);
    expect(bytes).toBe(size);
    expect(hash).toBe(contentHash(seed, 0, size - 1));
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toContain('"msg":"stopped"');
  });
});
