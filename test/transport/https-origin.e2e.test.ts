/**
 * An `https:` origin through the default transport: slices go through `requestInto` on TLS sockets (undici's own
 * connector: no reused reads there, the body still copied into the slice's memory), the first slice and the
 * metadata through `request`. The certificate is self-signed (test/support/self-signed.ts; `openssl` is a CI
 * tool), so verification is turned off for this file's connections only, through Node's documented environment
 * switch.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSliceFetcher, undiciTransport } from '../../src/index.js';
import { writeSelfSignedCert } from '../support/self-signed.js';

const BODY = randomBytes(3 * 1024 * 1024 + 777);
let server: Server;
let url: string;
let dir: string;
let rejectUnauthorized: string | undefined;
const served: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slice-fetch-https-'));
  const { key, cert } = writeSelfSignedCert(dir);
  server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    served.push(req.headers.range ?? 'none');
    const common = { etag: '"v1"', 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (match === null) {
      res.writeHead(200, { ...common, 'content-length': BODY.length });
      res.end(BODY);
      return;
    }
    const start = Number(match[1]);
    const end = Math.min(match[2] === '' ? BODY.length - 1 : Number(match[2]), BODY.length - 1);
    res.writeHead(206, {
      ...common,
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${BODY.length}`,
    });
    res.end(BODY.subarray(start, end + 1));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/object.bin`;
  rejectUnauthorized = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
});

afterAll(() => {
  if (rejectUnauthorized === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  else process.env.NODE_TLS_REJECT_UNAUTHORIZED = rejectUnauthorized;
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('an https: origin', () => {
  it('copies a body into the caller’s memory over TLS (requestInto)', async () => {
    const transport = undiciTransport();
    try {
      const memory = Buffer.alloc(100_000);
      const bytes = await transport.requestInto?.(
        { url, method: 'GET', headers: { range: 'bytes=5000-104999' }, signal: new AbortController().signal },
        { head: () => memory },
      );
      expect(bytes).toBe(100_000);
      expect(memory.equals(BODY.subarray(5000, 105_000))).toBe(true);
    } finally {
      await transport.close?.();
    }
  });

  it('serves the whole object and ranges byte-exact through fetch(), every slice from the origin once', async () => {
    const fetcher = createSliceFetcher({ sliceSize: 256 * 1024, concurrency: 4 });
    try {
      served.length = 0;
      const whole = Buffer.from(await (await fetcher.fetch(url)).arrayBuffer());
      expect(whole.equals(BODY)).toBe(true);
      expect(served).toHaveLength(Math.ceil(BODY.length / (256 * 1024)));
      const response = await fetcher.fetch(url, { range: 'bytes=1000000-2100000' });
      expect(response.status).toBe(206);
      expect(response.headers.get('x-slice-cache')).toBe('HIT');
      expect(Buffer.from(await response.arrayBuffer()).equals(BODY.subarray(1_000_000, 2_100_001))).toBe(
        true,
      );
    } finally {
      await fetcher.close();
    }
  });
});
