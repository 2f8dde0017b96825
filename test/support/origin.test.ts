import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CONTENT_BLOCK,
  contentBytes,
  contentEtag,
  contentHash,
  fillContent,
  hashStream,
  MAX_CONTENT_SIZE,
} from './content.js';
import { startOrigin, type TestOrigin } from './origin.js';

let origin: TestOrigin;
let agent: Agent;

beforeAll(async () => {
  origin = await startOrigin();
  agent = new Agent();
});

afterAll(async () => {
  await agent.close();
  await origin.close();
});

afterEach(() => {
  origin.clearFaults();
  origin.configure({ throttleBytesPerSecond: 0, latencyMs: 0, ignoreRange: false });
});

describe('content', () => {
  it('gives every sub-range the same bytes as the matching part of a larger range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 - 40_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (start, skip, length, seed) => {
          const whole = contentBytes(seed, start, start + 20_000 + length);
          const part = contentBytes(seed, start + skip, start + skip + length - 1);
          expect(part.equals(whole.subarray(skip, skip + length))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives different bytes to the same window moved by any multiple of 4096', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 39 }),
        fc.integer({ min: 1, max: 2 ** 26 }),
        fc.integer({ min: 0, max: 1000 }),
        (position, blocks, seed) => {
          const a = contentBytes(seed, position, position + CONTENT_BLOCK - 1);
          const shifted = position + blocks * CONTENT_BLOCK;
          const b = contentBytes(seed, shifted, shifted + CONTENT_BLOCK - 1);
          expect(a.equals(b)).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('tells slices of 1 MiB, two seeds and the last bytes below 2^40 apart', () => {
    const mib = 1 << 20;
    expect(contentBytes(1, 0, mib - 1).equals(contentBytes(1, mib, 2 * mib - 1))).toBe(false);
    expect(contentBytes(1, 0, 4095).equals(contentBytes(2, 0, 4095))).toBe(false);
    expect(contentBytes(1, MAX_CONTENT_SIZE - 16, MAX_CONTENT_SIZE - 1)).toHaveLength(16);
    expect(contentBytes(1, 10, 9)).toHaveLength(0);
  });

  it('fills into a caller buffer at an offset without touching the rest', () => {
    const target = Buffer.alloc(100, 0xaa);
    fillContent(9, 5000, target, 10, 50);
    expect(target.subarray(10, 60).equals(contentBytes(9, 5000, 5049))).toBe(true);
    expect(target.subarray(0, 10).every((byte) => byte === 0xaa)).toBe(true);
    expect(target.subarray(60).every((byte) => byte === 0xaa)).toBe(true);
  });

  it('hashes a range in chunks exactly like sha256 of its bytes', () => {
    const start = 12_345;
    const end = start + 3 * 1024 * 1024 + 17;
    const expected = createHash('sha256')
      .update(contentBytes(4, start, end))
      .digest('hex');
    expect(contentHash(4, start, end)).toBe(expected);
  });

  it('hashes and counts a stream', async () => {
    const parts = [contentBytes(5, 0, 999), contentBytes(5, 1000, 70_000)];
    const result = await hashStream(Readable.from(parts));
    expect(result).toEqual({ hash: contentHash(5, 0, 70_000), bytes: 70_001 });
  });

  it('rejects positions outside 0..2^40 and non-integer seeds', () => {
    expect(() => contentBytes(1, -1, 5)).toThrow(RangeError);
    expect(() => contentBytes(1, 0, MAX_CONTENT_SIZE)).toThrow(RangeError);
    expect(() => contentBytes(1.5, 0, 5)).toThrow(RangeError);
    expect(() => contentBytes(1, 10, 5)).toThrow(RangeError);
  });
});

describe('serving', () => {
  it('serves the whole object with validators, type and Accept-Ranges', async () => {
    const object = origin.setObject('/whole', {
      size: 300_000,
      cacheControl: 'max-age=60',
      headers: { 'x-a': '1' },
    });
    const res = await get('/whole');
    expect(res.status).toBe(200);
    expect(res.body.equals(contentBytes(object.seed, 0, 299_999))).toBe(true);
    expect(res.headers).toMatchObject({
      'accept-ranges': 'bytes',
      'content-length': '300000',
      'content-type': 'application/octet-stream',
      etag: contentEtag(object.seed, 300_000),
      'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
      'cache-control': 'max-age=60',
      'x-a': '1',
    });
  });

  it('serves single ranges byte-exact and clamps an end past EOF', async () => {
    const { seed } = origin.setObject('/ranges', { size: 10_000 });
    const cases: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0],
      ['bytes=100-4195', 100, 4195],
      ['bytes=9000-', 9000, 9999],
      ['bytes=-500', 9500, 9999],
      ['bytes=-20000', 0, 9999],
      ['bytes=9990-20000', 9990, 9999],
      [' Bytes = 5 - 9 ', 5, 9],
    ];
    for (const [range, start, end] of cases) {
      const res = await get('/ranges', { range });
      expect(res.status, range).toBe(206);
      expect(res.headers['content-range'], range).toBe(`bytes ${start}-${end}/10000`);
      expect(res.headers['content-length'], range).toBe(String(end - start + 1));
      expect(res.body.equals(contentBytes(seed, start, end)), range).toBe(true);
    }
  });

  it('answers 416 with bytes */size when a range starts at or past the end', async () => {
    origin.setObject('/short', { size: 1000 });
    origin.setObject('/empty', { size: 0 });
    for (const [path, range, size] of [
      ['/short', 'bytes=1000-', 1000],
      ['/short', 'bytes=5000-6000', 1000],
      ['/short', 'bytes=-0', 1000],
      ['/empty', 'bytes=0-', 0],
      ['/empty', 'bytes=-10', 0],
    ] as const) {
      const res = await get(path, { range });
      expect(res.status, range).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${size}`);
      expect(res.body).toHaveLength(0);
    }
    const empty = await get('/empty');
    expect(empty.status).toBe(200);
    expect(empty.headers['content-length']).toBe('0');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    origin.setObject('/head', { size: 5000 });
    const full = await get('/head', {}, 'HEAD');
    expect(full.status).toBe(200);
    expect(full.headers['content-length']).toBe('5000');
    expect(full.body).toHaveLength(0);
    const partial = await get('/head', { range: 'bytes=10-19' }, 'HEAD');
    expect(partial.status).toBe(206);
    expect(partial.headers['content-range']).toBe('bytes 10-19/5000');
    expect(partial.headers['content-length']).toBe('10');
    expect(partial.body).toHaveLength(0);
  });

  it('serves multi-range and malformed Range headers as the full object', async () => {
    const { seed } = origin.setObject('/multi', { size: 2000 });
    for (const range of ['bytes=0-1,5-9', 'bytes=5-1', 'items=0-1', 'bytes=abc', 'bytes=-']) {
      const res = await get('/multi', { range });
      expect(res.status, range).toBe(200);
      expect(res.body.equals(contentBytes(seed, 0, 1999)), range).toBe(true);
    }
  });

  it('answers 404 for an unknown path and 405 for other methods', async () => {
    expect((await get('/nowhere')).status).toBe(404);
    origin.setObject('/post', { size: 10 });
    const res = await get('/post', {}, 'DELETE');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('answers 304 to a matching If-None-Match or an unmodified If-Modified-Since', async () => {
    const { etag, lastModified } = origin.setObject('/cond', { size: 100 });
    const weak = `W/${etag}`;
    const cases: Array<Record<string, string>> = [
      { 'if-none-match': etag! },
      { 'if-none-match': `"other", ${weak}` },
      { 'if-none-match': '*' },
      { 'if-modified-since': lastModified! },
      { 'if-modified-since': 'Tue, 02 Jan 2024 00:00:00 GMT' },
    ];
    for (const headers of cases) {
      const res = await get('/cond', headers);
      expect(res.status, JSON.stringify(headers)).toBe(304);
      expect(res.headers.etag).toBe(etag);
      expect(res.body).toHaveLength(0);
    }
    expect((await get('/cond', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await get('/cond', { 'if-modified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' })).status).toBe(200);
    // RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
    const both = await get('/cond', { 'if-none-match': '"other"', 'if-modified-since': lastModified! });
    expect(both.status).toBe(200);
  });

  it('answers 412 to a failed If-Match or If-Unmodified-Since', async () => {
    const { etag, seed } = origin.setObject('/pre', { size: 100 });
    expect((await get('/pre', { 'if-match': '"other"' })).status).toBe(412);
    expect((await get('/pre', { 'if-match': `W/${etag}` })).status).toBe(412);
    expect((await get('/pre', { 'if-unmodified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' })).status).toBe(412);
    const ok = await get('/pre', { 'if-match': etag!, range: 'bytes=0-9' });
    expect(ok.status).toBe(206);
    expect(ok.body.equals(contentBytes(seed, 0, 9))).toBe(true);
    expect((await get('/pre', { 'if-unmodified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' })).status).toBe(200);
  });

  it('honours If-Range: 206 on a strong match, the full 200 on a mismatch', async () => {
    const { etag, lastModified } = origin.setObject('/ifr', { size: 100 });
    const range = 'bytes=10-19';
    expect((await get('/ifr', { range, 'if-range': etag! })).status).toBe(206);
    expect((await get('/ifr', { range, 'if-range': lastModified! })).status).toBe(206);
    const mismatch = await get('/ifr', { range, 'if-range': '"old"' });
    expect(mismatch.status).toBe(200);
    expect(mismatch.body).toHaveLength(100);
    expect((await get('/ifr', { range, 'if-range': `W/${etag}` })).status).toBe(200);
    expect((await get('/ifr', { range, 'if-range': 'Sun, 31 Dec 2023 00:00:00 GMT' })).status).toBe(200);
  });

  it('omits the validators an object is registered without', async () => {
    origin.setObject('/bare', { size: 10, etag: null, lastModified: null, contentType: 'text/plain' });
    const res = await get('/bare', { 'if-none-match': '*' });
    expect(res.status).toBe(304);
    const plain = await get('/bare');
    expect(plain.headers.etag).toBeUndefined();
    expect(plain.headers['last-modified']).toBeUndefined();
    expect(plain.headers['content-type']).toBe('text/plain');
  });

  it('ignores Range when configured to, and picks the knob up at run time', async () => {
    origin.setObject('/ign', { size: 100 });
    origin.configure({ ignoreRange: true });
    expect((await get('/ign', { range: 'bytes=0-9' })).status).toBe(200);
    origin.configure({ ignoreRange: false });
    expect((await get('/ign', { range: 'bytes=0-9' })).status).toBe(206);
  });

  it('streams a large object whose hash matches contentHash, and ranges of a 2^40-byte object', async () => {
    const { seed } = origin.setObject('/large', { size: 8 * 1024 * 1024 + 3 });
    const { body } = await request(origin.url('/large'), { dispatcher: agent });
    expect(await hashStream(body)).toEqual({
      hash: contentHash(seed, 0, 8 * 1024 * 1024 + 2),
      bytes: 8388611,
    });
    const huge = origin.setObject('/huge', { size: MAX_CONTENT_SIZE });
    const tail = await get('/huge', { range: 'bytes=-5000' });
    expect(tail.headers['content-range']).toBe(
      `bytes ${MAX_CONTENT_SIZE - 5000}-${MAX_CONTENT_SIZE - 1}/${MAX_CONTENT_SIZE}`,
    );
    expect(tail.body.equals(contentBytes(huge.seed, MAX_CONTENT_SIZE - 5000, MAX_CONTENT_SIZE - 1))).toBe(
      true,
    );
  });

  it('gives two paths different default seeds', () => {
    expect(origin.setObject('/s1', { size: 1 }).seed).not.toBe(origin.setObject('/s2', { size: 1 }).seed);
  });
});

describe('conditional range requests (RFC 9110 §13)', () => {
  const range = 'bytes=100-199';

  it('serves If-Match with a strongly matching tag or * as 206, answers 412 otherwise', async () => {
    const { etag, seed } = origin.setObject('/im', { size: 1000 });
    for (const ifMatch of [etag!, `"other", ${etag}`, '*']) {
      const res = await get('/im', { range, 'if-match': ifMatch });
      expect(res.status, ifMatch).toBe(206);
      expect(res.headers['content-range'], ifMatch).toBe('bytes 100-199/1000');
      expect(res.body.equals(contentBytes(seed, 100, 199)), ifMatch).toBe(true);
    }
    // §13.1.1: If-Match uses the strong comparison, so a weak tag in the list never matches.
    for (const ifMatch of ['"other"', `W/${etag}`])
      expectNoContent412(await get('/im', { range, 'if-match': ifMatch }));
  });

  it('answers 412 to If-Match on an object without an ETag unless it is *', async () => {
    origin.setObject('/im-none', { size: 1000, etag: null });
    expectNoContent412(await get('/im-none', { range, 'if-match': '"anything"' }));
    expect((await get('/im-none', { range, 'if-match': '*' })).status).toBe(206);
  });

  it('never matches If-Match against a weak object ETag', async () => {
    const { seed } = origin.setObject('/im-weak', { size: 1000, etag: 'W/"x"' });
    for (const ifMatch of ['W/"x"', '"x"'])
      expectNoContent412(await get('/im-weak', { range, 'if-match': ifMatch }));
    const any = await get('/im-weak', { range, 'if-match': '*' });
    expect(any.status).toBe(206);
    expect(any.body.equals(contentBytes(seed, 100, 199))).toBe(true);
    // The weak tag still works where the weak comparison applies (If-None-Match), not in If-Range.
    expect((await get('/im-weak', { range, 'if-none-match': '"x"' })).status).toBe(304);
    expect((await get('/im-weak', { range, 'if-range': 'W/"x"' })).status).toBe(200);
  });

  it('answers 412 to If-Unmodified-Since before Last-Modified, 206 at or after it or for an invalid date', async () => {
    const { lastModified } = origin.setObject('/ius', { size: 1000 });
    expectNoContent412(await get('/ius', { range, 'if-unmodified-since': 'Sun, 31 Dec 2023 23:59:59 GMT' }));
    for (const since of [lastModified!, 'Tue, 02 Jan 2024 00:00:00 GMT', 'not a date']) {
      expect((await get('/ius', { range, 'if-unmodified-since': since })).status, since).toBe(206);
    }
  });

  it('ignores If-Unmodified-Since when the object has no Last-Modified (§13.1.4)', async () => {
    const { seed } = origin.setObject('/ius-none', { size: 1000, lastModified: null });
    const res = await get('/ius-none', { range, 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' });
    expect(res.status).toBe(206);
    expect(res.body.equals(contentBytes(seed, 100, 199))).toBe(true);
  });

  it('evaluates If-Unmodified-Since only when If-Match is absent (§13.2.2)', async () => {
    const { etag, lastModified } = origin.setObject('/im-ius', { size: 1000 });
    const early = 'Sun, 31 Dec 2023 00:00:00 GMT';
    expect((await get('/im-ius', { range, 'if-match': etag!, 'if-unmodified-since': early })).status).toBe(
      206,
    );
    expectNoContent412(
      await get('/im-ius', { range, 'if-match': '"other"', 'if-unmodified-since': lastModified! }),
    );
  });

  it('answers a failed precondition on a HEAD or an unsatisfiable range with 412, before the range', async () => {
    origin.setObject('/pre-head', { size: 1000 });
    expectNoContent412(await get('/pre-head', { range, 'if-match': '"other"' }, 'HEAD'));
    expectNoContent412(await get('/pre-head', { range: 'bytes=5000-', 'if-match': '"other"' }));
  });
});

describe('variants (Vary)', () => {
  const vary = { header: 'accept-language', seeds: { fr: 11, de: 12 } } as const;

  it('serves the variant a request header selects, each with its own ETag and the shared Last-Modified', async () => {
    const object = origin.setObject('/lang', { size: 10_000, vary });
    expect(object.vary).toEqual(vary);
    expect(origin.getObject('/lang')?.vary).toEqual(vary);
    const cases: Array<[Record<string, string>, number]> = [
      [{ 'accept-language': 'fr' }, 11],
      [{ 'accept-language': 'de' }, 12],
      [{}, object.seed],
      [{ 'accept-language': 'en' }, object.seed],
      [{ 'accept-language': 'constructor' }, object.seed],
    ];
    for (const [headers, seed] of cases) {
      const label = JSON.stringify(headers);
      const full = await get('/lang', headers);
      expect(full.status, label).toBe(200);
      expect(full.body.equals(contentBytes(seed, 0, 9999)), label).toBe(true);
      expect(full.headers, label).toMatchObject({
        vary: 'accept-language',
        etag: contentEtag(seed, 10_000),
        'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
      });
      const part = await get('/lang', { ...headers, range: 'bytes=4000-4999' });
      expect(part.status, label).toBe(206);
      expect(part.headers.vary, label).toBe('accept-language');
      expect(part.body.equals(contentBytes(seed, 4000, 4999)), label).toBe(true);
    }
    expect(object.etag).toBe(contentEtag(object.seed, 10_000));
  });

  it("says Vary on 304, 412, 416 and HEAD, and evaluates conditionals against the variant's validators", async () => {
    origin.setObject('/lang-cond', { size: 1000, vary });
    const fr = { 'accept-language': 'fr' };
    const frEtag = contentEtag(11, 1000);
    const deEtag = contentEtag(12, 1000);

    const notModified = await get('/lang-cond', { ...fr, 'if-none-match': frEtag });
    expect(notModified.status).toBe(304);
    expect(notModified.headers).toMatchObject({ vary: 'accept-language', etag: frEtag });
    expect((await get('/lang-cond', { ...fr, 'if-none-match': deEtag })).status).toBe(200);

    const failed = await get('/lang-cond', { ...fr, range: 'bytes=0-9', 'if-match': deEtag });
    expectNoContent412(failed);
    expect(failed.headers.vary).toBe('accept-language');
    expect((await get('/lang-cond', { ...fr, range: 'bytes=0-9', 'if-match': frEtag })).status).toBe(206);

    const mismatch = await get('/lang-cond', {
      'accept-language': 'de',
      range: 'bytes=0-9',
      'if-range': frEtag,
    });
    expect(mismatch.status).toBe(200);
    expect(mismatch.body.equals(contentBytes(12, 0, 999))).toBe(true);

    const unsatisfiable = await get('/lang-cond', { ...fr, range: 'bytes=1000-' });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.vary).toBe('accept-language');

    const head = await get('/lang-cond', { ...fr, range: 'bytes=0-9' }, 'HEAD');
    expect(head.status).toBe(206);
    expect(head.headers).toMatchObject({ vary: 'accept-language', etag: frEtag, 'content-length': '10' });
  });

  it('shares an explicit ETag between the variants, and gives none with etag: null', async () => {
    origin.setObject('/lang-shared', { size: 100, vary, etag: '"shared"' });
    const fr = await get('/lang-shared', { 'accept-language': 'fr' });
    const de = await get('/lang-shared', { 'accept-language': 'de' });
    expect([fr.headers.etag, de.headers.etag]).toEqual(['"shared"', '"shared"']);
    expect(fr.body.equals(contentBytes(11, 0, 99))).toBe(true);
    expect(de.body.equals(contentBytes(12, 0, 99))).toBe(true);
    expect((await get('/lang-shared', { 'accept-language': 'de', 'if-none-match': '"shared"' })).status).toBe(
      304,
    );

    origin.setObject('/lang-none', { size: 100, vary, etag: null });
    for (const language of ['fr', 'de', 'en']) {
      const res = await get('/lang-none', { 'accept-language': language });
      expect(res.headers.etag, language).toBeUndefined();
      expect(res.headers.vary, language).toBe('accept-language');
    }
  });

  it("answers Vary: * with the object's own bytes", async () => {
    const { seed, etag } = origin.setObject('/star', { size: 100, vary: '*' });
    expect(origin.getObject('/star')?.vary).toBe('*');
    const res = await get('/star', { 'accept-language': 'fr' });
    expect(res.headers).toMatchObject({ vary: '*', etag });
    expect(res.body.equals(contentBytes(seed, 0, 99))).toBe(true);
    const part = await get('/star', { range: 'bytes=0-9', 'if-none-match': etag! });
    expect(part.status).toBe(304);
    expect(part.headers.vary).toBe('*');
  });

  it('keeps the vary spec across change-object', async () => {
    const before = origin.setObject('/lang-chg', { size: 1000, vary });
    origin.addFault({ path: '/lang-chg', fault: { type: 'change-object', size: 2000 } });
    await get('/lang-chg');
    const after = origin.getObject('/lang-chg')!;
    expect(after).toMatchObject({ version: 2, size: 2000, seed: before.seed + 1, vary });
    const fr = await get('/lang-chg', { 'accept-language': 'fr' });
    expect(fr.headers).toMatchObject({ vary: 'accept-language', etag: contentEtag(11, 2000) });
    expect(fr.headers['last-modified']).toBe(after.lastModified);
    expect(fr.body.equals(contentBytes(11, 0, 1999))).toBe(true);
    const other = await get('/lang-chg');
    expect(other.headers.etag).toBe(contentEtag(after.seed, 2000));
    expect(other.body.equals(contentBytes(after.seed, 0, 1999))).toBe(true);
  });

  it('rejects a vary header that is not a lower-case name and a variant seed that is not an integer', () => {
    expect(() =>
      origin.setObject('/bad', { size: 1, vary: { header: 'Accept-Language', seeds: {} } }),
    ).toThrow(RangeError);
    expect(() => origin.setObject('/bad', { size: 1, vary: { header: '', seeds: {} } })).toThrow(RangeError);
    expect(() => origin.setObject('/bad', { size: 1, vary: { header: 'x', seeds: { a: 1.5 } } })).toThrow(
      RangeError,
    );
    expect(origin.getObject('/bad')).toBeUndefined();
  });
});

describe('credentials', () => {
  // The pattern to copy: a 403 fault for every request without the token, and `Cache-Control: private` on
  // what the token gets (RFC 9111 §3.5: a shared cache must not store a response to an authorized request
  // unless it explicitly allows it).
  it('answers 403 without `Authorization: Bearer t` and serves private ranges with it', async () => {
    const { seed } = origin.setObject('/secret', { size: 10_000, cacheControl: 'private' });
    origin.addFault({
      path: '/secret',
      times: Number.POSITIVE_INFINITY,
      match: (r) => r.headers.authorization !== 'Bearer t',
      fault: { type: 'status', status: 403 },
    });
    const range = 'bytes=1000-1999';
    const attempts: Array<Record<string, string>> = [{ range }, { range, authorization: 'Bearer nope' }];
    for (const headers of attempts) {
      const denied = await get('/secret', headers);
      expect(denied.status).toBe(403);
      expect(denied.headers['cache-control']).toBeUndefined();
      expect(denied.headers['content-range']).toBeUndefined();
    }
    for (let i = 0; i < 2; i++) {
      const res = await get('/secret', { range, authorization: 'Bearer t' });
      expect(res.status).toBe(206);
      expect(res.headers['cache-control']).toBe('private');
      expect(res.headers['content-range']).toBe('bytes 1000-1999/10000');
      expect(res.body.equals(contentBytes(seed, 1000, 1999))).toBe(true);
    }
  });
});

describe('faults', () => {
  it('answers a status fault with Retry-After and body once, then serves normally', async () => {
    origin.setObject('/st', { size: 100 });
    origin.addFault({ path: '/st', fault: { type: 'status', status: 503, retryAfter: '2', body: 'busy' } });
    const failed = await get('/st');
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBe('2');
    expect(failed.body.toString()).toBe('busy');
    expect((await get('/st')).status).toBe(200);
  });

  it('selects requests by path, matcher (n, range) and times', async () => {
    origin.setObject('/sel', { size: 10_000 });
    origin.setObject('/other', { size: 10 });
    origin.resetStats();
    const seen: number[] = [];
    origin.addFault({
      path: '/sel',
      times: Number.POSITIVE_INFINITY,
      match: (req) => {
        seen.push(req.n);
        return req.range?.start === 4096 && req.range.end === 8191;
      },
      fault: { type: 'status', status: 500 },
    });
    expect((await get('/other')).status).toBe(200);
    expect((await get('/sel', { range: 'bytes=0-4095' })).status).toBe(206);
    expect((await get('/sel', { range: 'bytes=4096-8191' })).status).toBe(500);
    expect((await get('/sel', { range: 'bytes=4096-8191' })).status).toBe(500);
    expect(seen).toEqual([1, 2, 3]);
    origin.clearFaults();
    expect((await get('/sel', { range: 'bytes=4096-8191' })).status).toBe(206);
    origin.addFault({ times: 2, fault: { type: 'status', status: 429 } });
    expect((await get('/other')).status).toBe(429);
    expect((await get('/sel')).status).toBe(429);
    expect((await get('/sel')).status).toBe(200);
  });

  it('resets the connection after the given body bytes, or before the headers', async () => {
    origin.setObject('/reset', { size: 1_000_000 });
    origin.addFault({ path: '/reset', fault: { type: 'reset', afterBytes: 1000 } });
    const afterBody = await getSettled('/reset');
    expect(afterBody.error).toBeDefined();
    expect(afterBody.received).toBeLessThan(1_000_000);
    origin.addFault({ path: '/reset', fault: { type: 'reset', afterBytes: 0, beforeHeaders: true } });
    await expect(get('/reset')).rejects.toThrow();
    expect((await get('/reset', { range: 'bytes=0-9' })).status).toBe(206);
  });

  it('truncates: full Content-Length declared, fewer bytes sent, then the socket ends', async () => {
    const { seed } = origin.setObject('/trunc', { size: 100_000 });
    origin.addFault({ path: '/trunc', fault: { type: 'truncate', afterBytes: 30_000 } });
    const res = await getSettled('/trunc');
    expect(res.headers?.['content-length']).toBe('100000');
    expect(res.error).toBeDefined();
    expect(res.received).toBe(30_000);
    expect(res.body.equals(contentBytes(seed, 0, 29_999))).toBe(true);
  });

  it('lies in Content-Range while sending the requested bytes', async () => {
    const { seed } = origin.setObject('/lie', { size: 10_000 });
    origin.addFault({ fault: { type: 'content-range', start: 1, total: 9999 } });
    const res = await get('/lie', { range: 'bytes=0-99' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 1-99/9999');
    expect(res.body.equals(contentBytes(seed, 0, 99))).toBe(true);
    origin.addFault({ fault: { type: 'content-range', total: '*' } });
    expect((await get('/lie', { range: 'bytes=0-99' })).headers['content-range']).toBe('bytes 0-99/*');
  });

  it('changes or drops the validators of one response', async () => {
    const { etag } = origin.setObject('/val', { size: 100 });
    origin.addFault({ fault: { type: 'etag', value: '"changed"' } });
    origin.addFault({ fault: { type: 'last-modified', value: 'Fri, 01 Mar 2024 00:00:00 GMT' } });
    const changed = await get('/val');
    expect(changed.headers.etag).toBe('"changed"');
    expect(changed.headers['last-modified']).toBe('Fri, 01 Mar 2024 00:00:00 GMT');
    origin.addFault({ fault: { type: 'etag', value: null } });
    expect((await get('/val')).headers.etag).toBeUndefined();
    expect((await get('/val')).headers.etag).toBe(etag);
    origin.addFault({ fault: { type: 'last-modified', value: null } });
    expect((await get('/val')).headers['last-modified']).toBeUndefined();
    expect((await get('/val')).headers['last-modified']).toBe('Mon, 01 Jan 2024 00:00:00 GMT');
  });

  // Before, a validator fault also replaced the validator the origin evaluated preconditions against, so each
  // assertion below had the opposite outcome (200 for the 304s, 412 or a full 200 for the 206s). A real origin
  // behind a middlebox that mangles or strips the header still decides on its own validators.
  it('evaluates preconditions against the real validators, whatever a validator fault sends', async () => {
    const { etag, lastModified, seed } = origin.setObject('/realval', { size: 1000 });
    const range = 'bytes=10-19';
    const later = 'Fri, 01 Mar 2024 00:00:00 GMT';

    origin.addFault({ fault: { type: 'etag', value: '"changed"' } });
    const notModified = await get('/realval', { 'if-none-match': etag! });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"changed"');
    origin.addFault({ fault: { type: 'etag', value: '"changed"' } });
    expect((await get('/realval', { 'if-none-match': '"changed"' })).status).toBe(200);

    origin.addFault({ fault: { type: 'etag', value: '"changed"' } });
    const ifRange = await get('/realval', { range, 'if-range': etag! });
    expect(ifRange.status).toBe(206);
    expect(ifRange.headers.etag).toBe('"changed"');
    expect(ifRange.body.equals(contentBytes(seed, 10, 19))).toBe(true);

    origin.addFault({ fault: { type: 'etag', value: null } });
    const ifMatch = await get('/realval', { range, 'if-match': etag! });
    expect(ifMatch.status).toBe(206);
    expect(ifMatch.headers.etag).toBeUndefined();

    origin.addFault({ fault: { type: 'last-modified', value: later } });
    const unmodified = await get('/realval', { 'if-modified-since': lastModified! });
    expect(unmodified.status).toBe(304);
    expect(unmodified.headers['last-modified']).toBe(later);

    origin.addFault({ fault: { type: 'last-modified', value: later } });
    expect((await get('/realval', { range, 'if-unmodified-since': lastModified! })).status).toBe(206);

    origin.addFault({ fault: { type: 'last-modified', value: null } });
    const byDate = await get('/realval', { range, 'if-range': lastModified! });
    expect(byDate.status).toBe(206);
    expect(byDate.headers['last-modified']).toBeUndefined();
  });

  it('ignores Range for one response', async () => {
    const { seed } = origin.setObject('/ir', { size: 5000 });
    origin.addFault({ fault: { type: 'ignore-range' } });
    const res = await get('/ir', { range: 'bytes=100-199' });
    expect(res.status).toBe(200);
    expect(res.body.equals(contentBytes(seed, 0, 4999))).toBe(true);
  });

  it('sends a chunked body without Content-Length and an unknown total', async () => {
    const { seed } = origin.setObject('/nolen', { size: 500_000 });
    origin.addFault({ fault: { type: 'no-length' } });
    const res = await get('/nolen', { range: 'bytes=1000-300999' });
    expect(res.status).toBe(206);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-range']).toBe('bytes 1000-300999/*');
    expect(res.body.equals(contentBytes(seed, 1000, 300_999))).toBe(true);
  });

  it('gzips a 206 body that decodes to the requested bytes', async () => {
    const { seed } = origin.setObject('/gz', { size: 200_000 });
    origin.addFault({ fault: { type: 'gzip' } });
    const res = await get('/gz', { range: 'bytes=500-150499' });
    expect(res.status).toBe(206);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-range']).toBe('bytes 500-150499/200000');
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(gunzipSync(res.body).equals(contentBytes(seed, 500, 150_499))).toBe(true);
  });

  it('answers 416 to a range ending past EOF instead of clamping', async () => {
    origin.setObject('/eof', { size: 1000 });
    origin.addFault({ times: 3, fault: { type: 'past-eof-416' } });
    const past = await get('/eof', { range: 'bytes=0-1048575' });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe('bytes */1000');
    expect((await get('/eof', { range: 'bytes=0-999' })).status).toBe(206);
    expect((await get('/eof', { range: 'bytes=500-' })).status).toBe(206);
  });

  it('delays one response and records the faults it applied', async () => {
    const { seed } = origin.setObject('/lat', { size: 100 });
    origin.addFault({ fault: { type: 'latency', ms: 5 } });
    origin.configure({ latencyMs: 1 });
    const res = await get('/lat');
    expect(res.body.equals(contentBytes(seed, 0, 99))).toBe(true);
    expect(origin.stats.log.at(-1)?.faults).toEqual(['latency']);
  });

  it('hangs until the client aborts with an AbortSignal', async () => {
    origin.setObject('/hang', { size: 100 });
    origin.addFault({ fault: { type: 'hang' } });
    const controller = new AbortController();
    const arrived = once(origin, 'request');
    const pending = request(origin.url('/hang'), { dispatcher: agent, signal: controller.signal });
    await arrived;
    expect(origin.stats.inFlight).toBe(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await origin.waitForNoInFlight();
    expect(origin.stats.log.at(-1)?.status).toBe(0);
  });

  it('holds responses behind a wait gate, counting them in flight', async () => {
    origin.setObject('/gate', { size: 10 });
    origin.resetStats();
    let open = (): void => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    origin.addFault({ times: 3, fault: { type: 'wait', until: gate } });
    const pending = [get('/gate'), get('/gate'), get('/gate')];
    await origin.waitFor((s) => s.inFlight === 3);
    expect(origin.stats.maxInFlight).toBe(3);
    open();
    const statuses = (await Promise.all(pending)).map((r) => r.status);
    expect(statuses).toEqual([200, 200, 200]);
    await origin.waitForNoInFlight();
    expect(origin.stats.maxInFlight).toBe(3);
  });

  it('changes the object to a new version before answering', async () => {
    const before = origin.setObject('/chg', { size: 10_000 });
    origin.addFault({ match: (r) => r.n === 2, fault: { type: 'change-object', size: 20_000 } });
    origin.resetStats();
    const first = await get('/chg', { range: 'bytes=0-99' });
    expect(first.headers['content-range']).toBe('bytes 0-99/10000');
    const second = await get('/chg', { range: 'bytes=0-99' });
    const after = origin.getObject('/chg')!;
    expect(after).toMatchObject({ size: 20_000, seed: before.seed + 1, version: 2 });
    expect(second.headers['content-range']).toBe('bytes 0-99/20000');
    expect(second.headers.etag).toBe(contentEtag(after.seed, 20_000));
    expect(second.headers.etag).not.toBe(before.etag);
    expect(second.headers['last-modified']).not.toBe(before.lastModified);
    expect(second.body.equals(contentBytes(after.seed, 0, 99))).toBe(true);
    expect(second.body.equals(first.body)).toBe(false);
    expect((await get('/chg')).headers.etag).toBe(after.etag);
  });
});

describe('throttle and backpressure', () => {
  it('paces a throttled body per connection and applies a new rate mid-response', async () => {
    const size = 1024 * 1024;
    const { seed } = origin.setObject('/slow', { size });
    origin.resetStats();
    // 1 KiB/s: ~51-byte writes every ~50 ms, so the whole MiB would take 17 minutes.
    origin.configure({ throttleBytesPerSecond: 1024 });
    const { body } = await request(origin.url('/slow'), { dispatcher: agent });
    await origin.waitFor((s) => s.throttleWaits >= 1);
    expect(origin.stats.bytesSent).toBeLessThan(64 * 1024);
    origin.configure({ throttleBytesPerSecond: 0 });
    expect(await hashStream(body)).toEqual({ hash: contentHash(seed, 0, size - 1), bytes: size });
    expect(origin.stats.bytesSent).toBe(size);
  });

  it('delivers a moderately throttled body byte-exact after waiting for tokens', async () => {
    const { seed } = origin.setObject('/paced', { size: 200_000 });
    origin.resetStats();
    origin.configure({ throttleBytesPerSecond: 1024 * 1024 });
    const res = await get('/paced');
    expect(res.body.equals(contentBytes(seed, 0, 199_999))).toBe(true);
    expect(origin.stats.throttleWaits).toBeGreaterThanOrEqual(1);
  });

  it('stops writing when the client stops reading', async () => {
    const size = 2 ** 30;
    origin.setObject('/firehose', { size });
    origin.resetStats();
    const stalled = once(origin, 'backpressure');
    const { body } = await request(origin.url('/firehose'), { dispatcher: agent });
    await stalled;
    expect(origin.stats.drainWaits).toBeGreaterThanOrEqual(1);
    expect(origin.stats.bytesSent).toBeLessThan(size);
    body.destroy();
    await origin.waitForNoInFlight();
    expect(origin.stats.bytesSent).toBeLessThan(size);
  });
});

describe('counters', () => {
  it('counts requests, bytes, paths, ranges and logs what reached the origin', async () => {
    origin.setObject('/c1', { size: 8192 });
    origin.setObject('/c2', { size: 10 });
    origin.resetStats();
    await get('/c1', { range: 'bytes=0-4095' });
    await get('/c1', { range: 'bytes=4096-8191' });
    await get('/c1', { range: 'bytes = 0-4095' });
    await get('/c2', { 'x-trace': 'abc' });
    await get('/c2', {}, 'HEAD');
    const s = origin.stats;
    expect(s.requests).toBe(5);
    expect(s.bytesSent).toBe(8192 + 4096 + 10);
    expect(s.byPath).toEqual(
      new Map([
        ['/c1', 3],
        ['/c2', 2],
      ]),
    );
    expect(origin.rangeCounts('/c1')).toEqual(
      new Map([
        ['0-4095', 2],
        ['4096-8191', 1],
      ]),
    );
    expect(origin.rangeCounts('/c2').size).toBe(0);
    expect(s.log.map((e) => [e.method, e.path, e.range, e.status])).toEqual([
      ['GET', '/c1', 'bytes=0-4095', 206],
      ['GET', '/c1', 'bytes=4096-8191', 206],
      ['GET', '/c1', 'bytes = 0-4095', 206],
      ['GET', '/c2', undefined, 200],
      ['HEAD', '/c2', undefined, 200],
    ]);
    expect(s.log[3]?.headers['x-trace']).toBe('abc');
    origin.resetStats();
    expect([s.requests, s.bytesSent, s.byPath.size, s.log.length, origin.rangeCounts('/c1').size]).toEqual([
      0, 0, 0, 0, 0,
    ]);
  });

  it('tracks open connections and resolves waitForIdle when the client closes them', async () => {
    const own = await startOrigin({ logLimit: 2 });
    const client = new Agent({ connections: 4 });
    try {
      own.setObject('/x', { size: 10 });
      let open = (): void => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      own.addFault({ times: 3, fault: { type: 'wait', until: gate } });
      const pending = [1, 2, 3].map(() =>
        request(own.url('/x'), { dispatcher: client }).then((r) => r.body.text()),
      );
      await own.waitFor((s) => s.inFlight === 3);
      expect(own.stats.openConnections).toBe(3);
      expect(own.stats.maxOpenConnections).toBe(3);
      open();
      await Promise.all(pending);
      expect(own.stats.log.map((e) => e.n)).toEqual([2, 3]);
      own.closeIdleConnections();
      await own.waitForIdle();
      expect(own.stats.openConnections).toBe(0);
      expect(own.stats.maxOpenConnections).toBe(3);
    } finally {
      await client.close();
      await own.close();
    }
  });

  it('destroys hanging requests on close', async () => {
    const own = await startOrigin();
    const client = new Agent();
    try {
      own.setObject('/h', { size: 10 });
      own.addFault({ fault: { type: 'hang' } });
      const arrived = once(own, 'request');
      const pending = request(own.url('/h'), { dispatcher: client });
      await arrived;
      await own.close();
      await expect(pending).rejects.toThrow();
      expect(own.stats.openConnections).toBe(0);
    } finally {
      await client.close();
    }
  });
});

// ---- helpers

interface Got {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

async function get(
  path: string,
  headers: Record<string, string> = {},
  method: 'GET' | 'HEAD' | 'DELETE' = 'GET',
) {
  const res = await request(origin.url(path), { dispatcher: agent, method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body } satisfies Got;
}

/** A 412 carries no body and no Content-Range. */
function expectNoContent412(res: Got): void {
  expect(res.status).toBe(412);
  expect(res.body).toHaveLength(0);
  expect(res.headers['content-length']).toBe('0');
  expect(res.headers['content-range']).toBeUndefined();
}

/** Reads as much of the body as arrives and reports how the response ended. */
async function getSettled(path: string): Promise<{
  headers?: Record<string, string | string[] | undefined>;
  body: Buffer;
  received: number;
  error?: unknown;
}> {
  const chunks: Buffer[] = [];
  try {
    const res = await request(origin.url(path), { dispatcher: agent });
    try {
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
    } catch (error) {
      const body = Buffer.concat(chunks);
      return { headers: res.headers, body, received: body.length, error };
    }
    const body = Buffer.concat(chunks);
    return { headers: res.headers, body, received: body.length };
  } catch (error) {
    return { body: Buffer.alloc(0), received: 0, error };
  }
}
