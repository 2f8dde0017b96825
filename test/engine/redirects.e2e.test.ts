/**
 * Redirects (R21): `fetch()` follows them like WHATWG fetch — slicing where they lead, keyed by the URL asked
 * for, leaving credentials behind when a hop changes origin — or hands the 3xx back (`manual`), or fails
 * (`error`); the handler hands it to its client, as a reverse proxy does, unless told to follow.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
let redirector: Server;
/** What the redirector saw: request line and whether it carried credentials. */
const seen: string[] = [];
let redirectorUrl = '';

beforeAll(async () => {
  origin = await startOrigin();
  // Another origin (another port): /to/<path> answers 302 to the test origin's <path>; /loop answers to itself.
  redirector = createServer((req, res) => {
    seen.push(
      `${req.method} ${req.url} ${req.headers.authorization === undefined ? 'anonymous' : 'credentials'}`,
    );
    const target = req.url === '/loop' ? '/loop' : origin.url((req.url ?? '').replace(/^\/to/, ''));
    res.writeHead(302, { location: target, 'content-length': 0 });
    res.end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await closeFetchers();
  origin.clearFaults();
  seen.length = 0;
});
afterAll(async () => {
  redirector.closeAllConnections();
  await new Promise((resolve) => redirector.close(resolve));
  await origin.close();
});

const SLICE = 64 * KiB;

describe('fetch() and redirects', () => {
  it('follows a redirect, slices where it leads, and keys the object by the URL asked for (regression: 302 PASS)', async () => {
    const path = '/redirected/object.bin';
    const size = 5 * SLICE + 3;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const asked = `${redirectorUrl}/to${path}`;
    const res = await fetcher.fetch(asked, { range: `bytes=100-${3 * SLICE}` });
    expect(res.status).toBe(206);
    expect(res.headers.get('x-slice-cache')).toBe('MISS');
    expect((await drain(res)).bytes.equals(contentBytes(seed, 100, 3 * SLICE))).toBe(true);
    expect(seen).toHaveLength(1); // only the reference went through the redirect; slices go straight there
    origin.resetStats();
    seen.length = 0;
    const again = await fetcher.fetch(asked);
    expect((await drain(again)).bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(seen).toEqual([]); // the URL asked for is the key: the redirect is not asked again while fresh
    expect(origin.rangeCounts(path).size).toBe(2); // slices 4 and 5 were still missing
  });

  it('leaves credentials behind when a redirect crosses to another origin', async () => {
    const path = '/redirected/credentials.bin';
    origin.setObject(path, { size: 3 * SLICE });
    const fetcher = makeFetcher({ sliceSize: SLICE, cachePolicy: { cacheAuthorized: true } });
    await drain(
      await fetcher.fetch(`${redirectorUrl}/to${path}`, { headers: { authorization: 'Bearer t' } }),
    );
    expect(seen).toEqual([`GET /to${path} credentials`]);
    const atOrigin = origin.stats.log.filter((entry) => entry.path === path);
    expect(atOrigin.length).toBe(3);
    expect(atOrigin.every((entry) => entry.headers.authorization === undefined)).toBe(true);
  });

  it("hands the 3xx back with redirect 'manual', fails with 'error' and past 20 redirects", async () => {
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const manual = await fetcher.fetch(`${redirectorUrl}/to/x.bin`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(manual.headers.get('location')).toBe(origin.url('/x.bin'));
    expect(manual.headers.get('x-slice-cache')).toBe('PASS');
    await drain(manual);
    await expect(fetcher.fetch(`${redirectorUrl}/to/x.bin`, { redirect: 'error' })).rejects.toMatchObject({
      code: 'ERR_SLICE_ORIGIN_STATUS',
    });
    await expect(fetcher.fetch(`${redirectorUrl}/loop`)).rejects.toMatchObject({
      code: 'ERR_SLICE_ORIGIN_STATUS',
    });
    expect(seen.filter((line) => line.includes('/loop'))).toHaveLength(21);
  });
});

describe('the handler and redirects', () => {
  it('hands an origin 3xx to its client by default, and follows it when told to', async () => {
    const path = '/redirected/handler.bin';
    const { seed } = origin.setObject(path, { size: 2 * SLICE });
    for (const followRedirects of [false, true]) {
      const handler = createSliceHandler({ upstream: redirectorUrl, sliceSize: SLICE, followRedirects });
      const server = createServer(handler);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/to${path}`;
        const res = await request(url);
        const body = Buffer.from(await res.body.arrayBuffer());
        if (followRedirects) {
          expect(res.statusCode).toBe(200);
          expect(body.equals(contentBytes(seed, 0, 2 * SLICE - 1))).toBe(true);
        } else {
          expect(res.statusCode).toBe(302);
          expect(res.headers.location).toBe(origin.url(path));
          expect(res.headers['x-slice-cache']).toBe('PASS');
        }
      } finally {
        await new Promise((resolve) => server.close(resolve));
        await handler.close();
      }
    }
  });
});
