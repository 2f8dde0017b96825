/**
 * HTTPS on `slice-proxy`'s listening side (R18): `--tls-cert`/`--tls-key` (or `tls: { cert, key }` in YAML)
 * make the proxy an HTTPS server that serves ranges byte-exact to a client trusting the certificate; a missing
 * or unusable file stops the start-up with exit 2 and its reason. The certificate is self-signed
 * (test/support/self-signed.ts); without openssl the suite is skipped.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { hasOpenssl, writeSelfSignedCert } from '../support/self-signed.js';
import { killAll, runCli, runToEnd } from './cli-helpers.js';

let origin: TestOrigin;
let dir: string;
let cert: string;
let key: string;

beforeAll(async () => {
  origin = await startOrigin();
  dir = await mkdtemp(join(tmpdir(), 'slice-proxy-tls-'));
  if (hasOpenssl) ({ cert, key } = writeSelfSignedCert(dir));
});
afterAll(async () => {
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(killAll);

const base = (): string[] => [
  '--upstream',
  origin.url('/'),
  '--listen',
  '127.0.0.1:0',
  '--admin',
  '127.0.0.1:0',
];

describe.runIf(hasOpenssl)('slice-proxy over TLS', () => {
  it('serves a range byte-exact over HTTPS with --tls-cert/--tls-key', async () => {
    const { seed } = origin.setObject('/tls/a.bin', { size: 300_000 });
    const cli = runCli('slice-proxy', [
      ...base(),
      '--slice-size',
      '64KiB',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
    ]);
    const line = await cli.waitForLog('listening');
    expect(line.tls).toBe(true);
    const agent = new Agent({ connect: { ca: await readFile(cert) } });
    try {
      const res = await request(`https://${String(line.listen)}/tls/a.bin`, {
        dispatcher: agent,
        headers: { range: 'bytes=70000-200000' },
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      expect(res.statusCode).toBe(206);
      expect(body.equals(contentBytes(seed, 70_000, 200_000))).toBe(true);
      // Plain HTTP on the TLS port is refused.
      await expect(fetch(`http://${String(line.listen)}/tls/a.bin`)).rejects.toThrow();
    } finally {
      await agent.close();
    }
  });

  it('reads tls.cert and tls.key from YAML', async () => {
    origin.setObject('/tls/b.bin', { size: 1000 });
    const file = join(dir, 'tls.yaml');
    await writeFile(file, `tls:\n  cert: ${cert}\n  key: ${key}\n`);
    const cli = runCli('slice-proxy', ['--config', file, ...base()]);
    const line = await cli.waitForLog('listening');
    const agent = new Agent({ connect: { ca: await readFile(cert) } });
    try {
      const res = await request(`https://${String(line.listen)}/tls/b.bin`, { dispatcher: agent });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    } finally {
      await agent.close();
    }
  });

  it('exits 2 with the reason when a file is missing or is not a key', async () => {
    const missing = await runToEnd('slice-proxy', [
      ...base(),
      '--tls-cert',
      cert,
      '--tls-key',
      join(dir, 'nope.pem'),
    ]);
    expect({ code: missing.code, stdout: missing.stdout }).toEqual({ code: 2, stdout: '' });
    expect(missing.stderr).toContain(`Cannot read \`tls.key\` \`${join(dir, 'nope.pem')}\`: ENOENT`);

    const swapped = await runToEnd('slice-proxy', [...base(), '--tls-cert', key, '--tls-key', cert]);
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toContain('Cannot use `tls.cert` and `tls.key`');

    const half = await runToEnd('slice-proxy', [...base(), '--tls-cert', cert]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('Expected `tls.key` to be a private key file path, got `undefined`.');
  });
});
