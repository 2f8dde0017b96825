/**
 * HTTP semantics end to end over loopback: pass-through fallbacks (R14), empty objects and 416 (R4, P20),
 * multi-range `multipart/byteranges` (R10), HEAD and conditionals (R13), and origin errors reaching the
 * caller unchanged (P15).
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { boundaryOf, closeFetchers, drain, KiB, makeFetcher, parseMultipart } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await closeFetchers();
  origin.clearFaults();
  origin.configure({ ignoreRange: false });
});
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;

describe('pass-through fallbacks (R14)', () => {
  it('streams the full object unchanged when the origin ignores Range and answers 200', async () => {
    const { seed } = origin.setObject('/r14/ignore.bin', { size: 3 * SLICE + 17 });
    origin.configure({ ignoreRange: true });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    for (const range of [undefined, 'bytes=100-200']) {
      const res = await fetcher.fetch(origin.url('/r14/ignore.bin'), { range });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-slice-cache')).toBe('PASS');
      expect(res.headers.get('content-length')).toBe(String(3 * SLICE + 17));
      const { bytes, error } = await drain(res);
      expect(error).toBeUndefined();
      expect(bytes.equals(contentBytes(seed, 0, 3 * SLICE + 16))).toBe(true);
    }
  });

  it('passes through an object whose length the origin does not know (chunked, bytes a-b/*)', async () => {
    const path = '/r14/no-length.bin';
    const { seed } = origin.setObject(path, { size: 2 * SLICE + 5 });
    origin.addFault({ path, times: Infinity, fault: { type: 'no-length' } });
    const fetcher = makeFetcher({ sliceSize: SLICE });

    const whole = await fetcher.fetch(origin.url(path));
    expect(whole.status).toBe(200);
    expect(whole.headers.get('x-slice-cache')).toBe('PASS');
    const all = await drain(whole);
    expect(all.error).toBeUndefined();
    expect(all.bytes.equals(contentBytes(seed, 0, 2 * SLICE + 4))).toBe(true);

    const ranged = await fetcher.fetch(origin.url(path), { range: 'bytes=1000-70000' });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 1000-70000/*');
    const part = await drain(ranged);
    expect(part.error).toBeUndefined();
    expect(part.bytes.equals(contentBytes(seed, 1000, 70000))).toBe(true);
  });

  it('passes through a gzip-encoded 206 instead of slicing encoded bytes', async () => {
    const path = '/r14/gzip.bin';
    const { seed } = origin.setObject(path, { size: 100 * KiB });
    origin.addFault({ path, times: Infinity, fault: { type: 'gzip' } });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const res = await fetcher.fetch(origin.url(path), { range: 'bytes=10-50000' });
    expect(res.headers.get('x-slice-cache')).toBe('PASS');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const { bytes, error } = await drain(res);
    expect(error).toBeUndefined();
    // The client's own request went through: its range, encoded by the origin.
    expect(res.status).toBe(206);
    expect(gunzipSync(bytes).equals(contentBytes(seed, 10, 50000))).toBe(true);
  });

  it('serves an empty object as a 200 with an empty body, and a range of it as 416 bytes */0', async () => {
    const path = '/r14/empty.bin';
    origin.setObject(path, { size: 0 });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    for (let round = 0; round < 2; round++) {
      const res = await fetcher.fetch(origin.url(path));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe('0');
      const { bytes, error } = await drain(res);
      expect(error).toBeUndefined();
      expect(bytes.length).toBe(0);

      const ranged = await fetcher.fetch(origin.url(path), { range: 'bytes=0-10' });
      expect(ranged.status).toBe(416);
      expect(ranged.headers.get('content-range')).toBe('bytes */0');
    }
    // R4: no request ever asked a zero-length object for a range it cannot have beyond the probe.
    for (const key of origin.rangeCounts(path).keys()) expect(key.startsWith('0-')).toBe(true);
  });

  it('answers 416 with bytes */size for a start at or past the end, cold and with metadata cached', async () => {
    const path = '/r14/past-eof.bin';
    const size = 2 * SLICE + 1;
    origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    for (const range of [`bytes=${size}-`, `bytes=${10 * SLICE}-${11 * SLICE}`, `bytes=${size}-${size}`]) {
      const cold = makeFetcher({ sliceSize: SLICE });
      const first = await cold.fetch(origin.url(path), { range });
      expect(first.status).toBe(416);
      expect(first.headers.get('content-range')).toBe(`bytes */${size}`);
      expect((await drain(first)).bytes.length).toBe(0);
    }
    // Metadata known: the 416 is decided without asking the origin again.
    expect((await fetcher.fetch(origin.url(path), { range: 'bytes=0-0' })).status).toBe(206);
    const before = origin.stats.requests;
    const warm = await fetcher.fetch(origin.url(path), { range: `bytes=${size + 5}-` });
    expect(warm.status).toBe(416);
    expect(warm.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(origin.stats.requests).toBe(before);
  });
});

describe('multi-range requests (R10)', () => {
  it('answers bytes=0-10,100-200 with a 206 multipart/byteranges whose parts are exact', async () => {
    const path = '/multi/a.bin';
    const size = 3 * SLICE;
    const { seed } = origin.setObject(path, { size, contentType: 'video/mp4' });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const res = await fetcher.fetch(origin.url(path), { range: 'bytes=0-10,100-200' });
    expect(res.status).toBe(206);
    const type = res.headers.get('content-type') ?? '';
    const { bytes, error } = await drain(res);
    expect(error).toBeUndefined();
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    const parts = parseMultipart(bytes, boundaryOf(type));
    expect(parts.map((p) => p.headers['content-range'])).toEqual([
      `bytes 0-10/${size}`,
      `bytes 100-200/${size}`,
    ]);
    expect(parts.map((p) => p.headers['content-type'])).toEqual(['video/mp4', 'video/mp4']);
    expect(parts[0]?.body.equals(contentBytes(seed, 0, 10))).toBe(true);
    expect(parts[1]?.body.equals(contentBytes(seed, 100, 200))).toBe(true);
  });

  it('assembles parts that span several slices and come partly from the cache', async () => {
    const path = '/multi/b.bin';
    const size = 6 * SLICE + 99;
    const { seed } = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE, concurrency: 2 });
    await drain(await fetcher.fetch(origin.url(path), { range: `bytes=${SLICE}-${2 * SLICE - 1}` }));
    const ranges: [number, number][] = [
      [5, SLICE + 10],
      [3 * SLICE - 7, 4 * SLICE + 3],
      [6 * SLICE, size - 1],
    ];
    const res = await fetcher.fetch(origin.url(path), {
      range: `bytes=${ranges.map(([a, b]) => `${a}-${b}`).join(', ')}`,
    });
    expect(res.status).toBe(206);
    const { bytes, error } = await drain(res);
    expect(error).toBeUndefined();
    const parts = parseMultipart(bytes, boundaryOf(res.headers.get('content-type') ?? ''));
    expect(parts).toHaveLength(3);
    ranges.forEach(([a, b], i) => {
      expect(parts[i]?.headers['content-range']).toBe(`bytes ${a}-${b}/${size}`);
      expect(parts[i]?.body.equals(contentBytes(seed, a, b))).toBe(true);
    });
  });
});

describe('HEAD and conditionals (R13)', () => {
  it('answers HEAD from metadata: one reference fetch when cold, none when warm, never a body', async () => {
    const path = '/r13/head.bin';
    const size = 4 * SLICE + 3;
    const object = origin.setObject(path, { size });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    origin.resetStats();
    const cold = await fetcher.fetch(origin.url(path), { method: 'HEAD' });
    expect(cold.status).toBe(200);
    expect(cold.body).toBeNull();
    expect(cold.headers.get('content-length')).toBe(String(size));
    expect(cold.headers.get('etag')).toBe(object.etag);
    expect(origin.stats.byPath.get(path)).toBe(1);

    const warm = await fetcher.fetch(origin.url(path), { method: 'HEAD', range: 'bytes=10-19' });
    expect(warm.status).toBe(206);
    expect(warm.body).toBeNull();
    expect(warm.headers.get('content-length')).toBe('10');
    expect(warm.headers.get('content-range')).toBe(`bytes 10-19/${size}`);
    expect(origin.stats.byPath.get(path)).toBe(1);
  });

  it('answers If-None-Match with 304, a failed If-Match with 412, and ignores a stale If-Range', async () => {
    const path = '/r13/cond.bin';
    const size = 3 * SLICE;
    const object = origin.setObject(path, { size });
    const etag = object.etag as string;
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const url = origin.url(path);

    const notModified = await fetcher.fetch(url, { headers: { 'If-None-Match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(etag);
    expect((await drain(notModified)).bytes.length).toBe(0);

    const failed = await fetcher.fetch(url, { headers: { 'if-match': '"something-else"' } });
    expect(failed.status).toBe(412);

    const matched = await fetcher.fetch(url, { headers: { 'if-match': etag }, range: 'bytes=5-9' });
    expect(matched.status).toBe(206);
    expect((await drain(matched)).bytes.equals(contentBytes(object.seed, 5, 9))).toBe(true);

    const stale = await fetcher.fetch(url, { headers: { 'if-range': '"old"' }, range: 'bytes=5-9' });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('content-range')).toBeNull();
    const full = await drain(stale);
    expect(full.bytes.equals(contentBytes(object.seed, 0, size - 1))).toBe(true);

    // The same, with the range given as a request header instead of `init.range`.
    const staleHeader = await fetcher.fetch(url, { headers: { range: 'bytes=5-9', 'if-range': '"old"' } });
    expect(staleHeader.status).toBe(200);
    expect((await drain(staleHeader)).bytes.length).toBe(size);

    const fresh = await fetcher.fetch(url, { headers: { 'if-range': etag }, range: 'bytes=5-9' });
    expect(fresh.status).toBe(206);
    expect((await drain(fresh)).bytes.equals(contentBytes(object.seed, 5, 9))).toBe(true);

    // R13: the client's conditionals are evaluated here, never forwarded. The only precondition the origin sees
    // is the engine's own If-Match with the reference's ETag, on slices after the reference.
    const entries = origin.stats.log.filter((e) => e.path === path);
    expect(entries.some((e) => e.headers['if-match'] === etag)).toBe(true);
    for (const entry of entries) {
      expect(entry.headers['if-none-match']).toBeUndefined();
      expect([undefined, etag]).toContain(entry.headers['if-match']);
      expect(entry.headers['if-range']).toBeUndefined();
    }
  });
});

describe('origin errors on the reference (P15)', () => {
  it('hands a 404 to the caller with its status and body', async () => {
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const res = await fetcher.fetch(origin.url('/p15/missing.bin'));
    expect(res.status).toBe(404);
    const { bytes, error } = await drain(res);
    expect(error).toBeUndefined();
    expect(bytes.toString()).toBe('Not Found');
  });

  it('hands a 403 to the caller with its status, body and content type, and does not retry it', async () => {
    const path = '/p15/forbidden.bin';
    origin.setObject(path, { size: 5 * SLICE });
    origin.addFault({
      path,
      times: Infinity,
      fault: { type: 'status', status: 403, body: 'no entry for you' },
    });
    const fetcher = makeFetcher({ sliceSize: SLICE, retry: { retries: 3, baseDelayMs: 0 } });
    origin.resetStats();
    for (const range of [undefined, 'bytes=70000-80000']) {
      const res = await fetcher.fetch(origin.url(path), { range });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('text/plain');
      const { bytes, error } = await drain(res);
      expect(error).toBeUndefined();
      expect(bytes.toString()).toBe('no entry for you');
    }
    expect(origin.stats.byPath.get(path)).toBe(2);
  });
});
