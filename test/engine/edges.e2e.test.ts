/**
 * Smaller edges of sharing and requests: one `Range` length cap for every door (R15), a suffix range placed by
 * the size already known of an object that may not be stored (R10), `Set-Cookie` kept for the one client of an
 * unshared answer and never for a shared one (R19), and a deadline on each slice attempt however the origin
 * trickles (R5).
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
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await closeFetchers();
  origin.clearFaults();
  origin.configure({ throttleBytesPerSecond: 0 });
});
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;

/** A multi-range header of about `length` characters. */
function longRange(length: number): string {
  const parts: string[] = [];
  let text = 'bytes=';
  for (let i = 0; text.length + 12 < length; i++) {
    parts.push(`${i * 10}-${i * 10 + 1}`);
    text = `bytes=${parts.join(',')}`;
  }
  return text;
}

describe('one Range length cap (R15)', () => {
  it('parses a 6 KiB Range through fetch() and the handler alike, and answers 400 above 8 KiB through both (regression: 4 KiB vs 8 KiB)', async () => {
    const path = '/edges/long-range.bin';
    origin.setObject(path, { size: 4 * SLICE });
    const handler = createSliceHandler({ upstream: origin.url('/'), sliceSize: SLICE, maxRanges: 1000 });
    const server: Server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
    const fetcher = makeFetcher({ sliceSize: SLICE, maxRanges: 1000 });
    try {
      const six = longRange(6 * KiB);
      const viaFetch = await fetcher.fetch(origin.url(path), { headers: { range: six } });
      expect(viaFetch.status).toBe(206);
      await drain(viaFetch);
      const viaHandler = await request(proxy, { headers: { range: six } });
      expect(viaHandler.statusCode).toBe(206);
      await viaHandler.body.dump();

      const nine = longRange(9 * KiB);
      await expect(fetcher.fetch(origin.url(path), { headers: { range: nine } })).rejects.toMatchObject({
        code: 'ERR_SLICE_RANGE',
        status: 400,
      });
      const refused = await request(proxy, { headers: { range: nine } });
      expect(refused.statusCode).toBe(400);
      await refused.body.dump();
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await handler.close();
    }
  });
});

describe('ranges given as arguments (R21)', () => {
  it('rejects an invalid range argument with ERR_SLICE_RANGE (400) instead of answering the whole object', async () => {
    const path = '/edges/range-args.bin';
    origin.setObject(path, { size: 4 * SLICE });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const url = origin.url(path);
    const bad: unknown[] = [
      'bytes=100-50',
      'abc',
      'bytes=',
      { start: 10, end: 5 },
      { start: -1 },
      { suffix: 1.5 },
      5,
      null,
    ];
    for (const range of bad) {
      await expect(
        fetcher.fetch(url, { range: range as string }),
        JSON.stringify(range),
      ).rejects.toMatchObject({
        code: 'ERR_SLICE_RANGE',
        status: 400,
      });
    }
    // A client's Range header stays judged by RFC 9110: a malformed one is ignored, the whole object answered.
    const lenient = await fetcher.fetch(url, { headers: { range: 'bytes=100-50' } });
    expect(lenient.status).toBe(200);
    await drain(lenient);
    expect(origin.stats.byPath.get(path)).toBe(4);
  });
});

describe('a fetch() body is the caller’s own (R21)', () => {
  it('cannot poison the cache by writing into its chunks, and hands over each slice as one chunk', async () => {
    const path = '/edges/own-bytes.bin';
    const size = 3 * SLICE + 5;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const url = origin.url(path);
    for (const round of ['cold', 'warm', 'warm small']) {
      const res = await fetcher.fetch(url, round === 'warm small' ? { range: 'bytes=10-99' } : {});
      const chunks: Uint8Array[] = [];
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
      expect(chunks.length, round).toBe(round === 'warm small' ? 1 : 4);
      for (const chunk of chunks) chunk.fill(0); // regression: this changed what the next HIT returned
    }
    const again = await drain(await fetcher.fetch(url));
    expect(again.bytes.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });

  it('hands over the cache’s own memory only to a caller that opts into zeroCopy', async () => {
    const path = '/edges/zero-copy.bin';
    const size = 2 * SLICE;
    origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const url = origin.url(path);
    await drain(await fetcher.fetch(url));
    const buffers = async (zeroCopy: boolean) => {
      const res = await fetcher.fetch(url, { range: 'bytes=0-99', zeroCopy });
      const out: ArrayBufferLike[] = [];
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) out.push(chunk.buffer);
      return out;
    };
    const [shared] = await buffers(true);
    expect(await buffers(true)).toEqual([shared]);
    expect((await buffers(false))[0]).not.toBe(shared);
  });
});

describe('a suffix range of an object that may not be stored (R10)', () => {
  it('fetches only the slices the suffix needs once the size is known (regression: slice 0 every time)', async () => {
    const path = '/edges/suffix.bin';
    const size = 10 * SLICE + 5;
    const { seed } = origin.setObject(path, { size, cacheControl: 'no-store' });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const url = origin.url(path);
    await drain(await fetcher.fetch(url, { range: 'bytes=-1000' }));
    origin.resetStats();
    const { bytes } = await drain(await fetcher.fetch(url, { range: 'bytes=-1000' }));
    expect(bytes.equals(contentBytes(seed, size - 1000, size - 1))).toBe(true);
    // The last 1000 bytes lie in slices 9 and 10 (5 bytes): those two, not slice 0.
    expect([...origin.rangeCounts(path).keys()].sort()).toEqual([
      `${9 * SLICE}-${10 * SLICE - 1}`,
      `${10 * SLICE}-${size - 1}`,
    ]);
  });
});

describe('Set-Cookie (R19)', () => {
  it('hands the one client of an unshared answer its Set-Cookie, and strips it from answers that are stored', async () => {
    const privatePath = '/edges/cookie-private.bin';
    const publicPath = '/edges/cookie-public.bin';
    origin.setObject(privatePath, {
      size: 2 * SLICE,
      cacheControl: 'private',
      headers: { 'set-cookie': ['session=abc; HttpOnly', 'theme=dark'] },
    });
    origin.setObject(publicPath, { size: 2 * SLICE, headers: { 'set-cookie': 'session=abc' } });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const own = await fetcher.fetch(origin.url(privatePath));
    expect(own.headers.getSetCookie()).toEqual(['session=abc; HttpOnly', 'theme=dark']);
    await drain(own);
    const shared = await fetcher.fetch(origin.url(publicPath));
    expect(shared.headers.getSetCookie()).toEqual([]);
    await drain(shared);
    const hit = await fetcher.fetch(origin.url(publicPath));
    expect(hit.headers.getSetCookie()).toEqual([]);
    await drain(hit);
  });

  it('never gives one request the Set-Cookie of an answer another request fetched', async () => {
    const path = '/edges/cookie-joined.bin';
    origin.setObject(path, { size: 2 * SLICE, cacheControl: 'no-store', headers: { 'set-cookie': 'id=1' } });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const both = await Promise.all([fetcher.fetch(origin.url(path)), fetcher.fetch(origin.url(path))]);
    const cookies = both.map((res) => res.headers.getSetCookie().length);
    await Promise.all(both.map(drain));
    // Each got its own answer's cookie, or — having joined the other's fetch — none; never the other's.
    expect(cookies.reduce((a, b) => a + b, 0)).toBe(origin.stats.byPath.get(path) === 2 ? 1 : 2);
  });
});

describe('a trickling origin (R5)', () => {
  it('gives up on a reference that trickles past timeouts.sliceMs instead of holding the client without a head', async () => {
    const path = '/edges/trickle.bin';
    origin.setObject(path, { size: 4 * SLICE });
    // 2 KiB/s: each chunk comes well within bodyMs, the slice never within sliceMs.
    origin.configure({ throttleBytesPerSecond: 2 * KiB });
    const fetcher = makeFetcher({
      sliceSize: SLICE,
      timeouts: { sliceMs: 300 },
      retry: { retries: 1, baseDelayMs: 0, deadlineMs: 100 },
    });
    await expect(fetcher.fetch(origin.url(path))).rejects.toMatchObject({ status: 504 });
  });
});
