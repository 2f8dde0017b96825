/**
 * `examples/slice-proxy.yaml` (R18): the commented example validates, exercises every proxy key of the
 * reference table, and a real `slice-proxy` started from it (upstream, addresses and cache directory
 * overridden by flags) applies the handler options it sets — `include`, `exclude`, `minSize`,
 * `forwardRequestHeaders` and `passThroughMethods` — to real requests. The same options given as flags reach
 * the handler too.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProxyConfig } from '../../src/cli/load-proxy-config.js';
import { PROXY_OPTION_DOCS } from '../../src/cli/proxy-config.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, runCli } from './cli-helpers.js';

const example = join(import.meta.dirname, '..', '..', 'examples', 'slice-proxy.yaml');
const MiB = 1024 * 1024;
let origin: TestOrigin;
let dir: string;

beforeAll(async () => {
  origin = await startOrigin();
  dir = await mkdtemp(join(tmpdir(), 'example-config-'));
});
afterAll(async () => {
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  killAll();
  origin.resetStats();
});

async function startProxy(args: readonly string[]): Promise<string> {
  const cli = runCli('slice-proxy', [
    ...args,
    '--upstream',
    origin.url('/'),
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
  ]);
  return `http://${String((await cli.waitForLog('listening')).listen)}`;
}

/** The headers the origin saw on the requests for `path`. */
function seenBy(path: string) {
  return origin.stats.log.filter((entry) => entry.path === path);
}

describe('examples/slice-proxy.yaml', () => {
  it('validates, with the values its comments describe', async () => {
    const config = await loadProxyConfig(['--config', example]);
    expect(config).toMatchObject({
      upstream: 'https://origin.example.com',
      store: { type: 'fs', dir: '/var/cache/slice-proxy', maxBytes: 20 * 1024 ** 3 },
      include: ['^/(video|iso|models)/', '\\.(mp4|iso|bin|safetensors)(\\?|$)'],
      exclude: ['^/video/live/'],
      minSize: 4 * MiB,
      forwardRequestHeaders: ['authorization', 'user-agent', 'accept-language'],
      passThroughMethods: 'refuse',
      sliceSize: MiB,
      maxBufferedBytes: 256 * MiB,
    });
  });

  it('mentions every proxy key of the reference table (tls commented out: it needs real files)', () => {
    const text = readFileSync(example, 'utf8');
    for (const { path } of PROXY_OPTION_DOCS) {
      const leaf = path.split('.').at(-1) as string;
      expect({ path, found: new RegExp(`^\\s*#?\\s*${leaf}:`, 'm').test(text) }).toEqual({
        path,
        found: true,
      });
    }
  });

  it('runs, and applies include, exclude, minSize, forwardRequestHeaders and passThroughMethods', async () => {
    const big = origin.setObject('/video/a.bin', { size: 6 * MiB });
    origin.setObject('/video/live/a.bin', { size: 6 * MiB });
    origin.setObject('/docs/readme.txt', { size: 1000 });
    origin.setObject('/iso/small.iso', { size: MiB + 5 });
    const proxy = await startProxy(['--config', example, '--cache-dir', join(dir, 'cache')]);

    // Included: sliced (1 MiB slices), and only the forwarded headers reach the origin.
    const res = await fetch(`${proxy}/video/a.bin`, {
      headers: { range: 'bytes=0-99', 'user-agent': 'ua-test', 'x-tenant': 't1', cookie: 'c=1' },
    });
    expect(res.headers.get('x-slice-cache')).toBe('MISS');
    expect(Buffer.from(await res.arrayBuffer()).equals(contentBytes(big.seed, 0, 99))).toBe(true);
    const [sliced] = seenBy('/video/a.bin');
    expect(sliced?.range).toBe(`bytes=0-${MiB - 1}`);
    expect(sliced?.headers['user-agent']).toBe('ua-test');
    expect(sliced?.headers['x-tenant']).toBeUndefined();
    expect(sliced?.headers.cookie).toBeUndefined();

    // Excluded, and not included: proxied as they are.
    for (const path of ['/video/live/a.bin', '/docs/readme.txt']) {
      const passed = await fetch(`${proxy}${path}`, { headers: { range: 'bytes=0-99' } });
      await passed.arrayBuffer();
      expect({ path, cache: passed.headers.get('x-slice-cache') }).toEqual({ path, cache: 'PASS' });
      expect(seenBy(path).map((entry) => entry.range)).toEqual(['bytes=0-99']);
    }

    // Below minSize (4 MiB): sliced until its size is known, then proxied.
    const first = await fetch(`${proxy}/iso/small.iso`, { headers: { range: 'bytes=0-9' } });
    await first.arrayBuffer();
    expect(first.headers.get('x-slice-cache')).toBe('MISS');
    const second = await fetch(`${proxy}/iso/small.iso`, { headers: { range: 'bytes=0-9' } });
    await second.arrayBuffer();
    expect(second.headers.get('x-slice-cache')).toBe('PASS');

    // passThroughMethods: refuse.
    const post = await fetch(`${proxy}/video/a.bin`, { method: 'POST', body: 'x' });
    await post.arrayBuffer();
    expect(post.status).toBe(405);
    expect(seenBy('/video/a.bin').filter((entry) => entry.method === 'POST')).toHaveLength(0);
  });

  it('takes the same options as flags', async () => {
    origin.setObject('/flags/a.bin', { size: 2 * MiB });
    origin.setObject('/flags/skip.bin', { size: 2 * MiB });
    const proxy = await startProxy([
      '--slice-size',
      '64KiB',
      '--include',
      '^/flags/',
      '--exclude',
      'skip',
      '--forward-header',
      'x-tenant',
      '--pass-through',
      'proxy',
      '--min-size',
      '1M',
    ]);
    const res = await fetch(`${proxy}/flags/a.bin`, {
      headers: { range: 'bytes=0-9', 'x-tenant': 't1', 'user-agent': 'ua-test' },
    });
    await res.arrayBuffer();
    expect(res.headers.get('x-slice-cache')).toBe('MISS');
    const [sliced] = seenBy('/flags/a.bin');
    expect(sliced?.range).toBe('bytes=0-65535');
    expect(sliced?.headers['x-tenant']).toBe('t1');
    expect(sliced?.headers['user-agent']).not.toBe('ua-test');
    const skipped = await fetch(`${proxy}/flags/skip.bin`, { headers: { range: 'bytes=0-9' } });
    await skipped.arrayBuffer();
    expect(skipped.headers.get('x-slice-cache')).toBe('PASS');
    // Proxied to the origin (which answers 405 itself), not refused by the proxy.
    const post = await fetch(`${proxy}/flags/a.bin`, { method: 'POST', body: 'x' });
    await post.arrayBuffer();
    expect(seenBy('/flags/a.bin').filter((entry) => entry.method === 'POST')).toHaveLength(1);
  });
});
