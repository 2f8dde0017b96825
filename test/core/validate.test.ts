import { describe, expect, it } from 'vitest';
import type { SliceFetchError } from '../../src/core/errors.js';
import type { HeaderRecord } from '../../src/core/headers.js';
import { classifyReference, extractFacts, type ReferenceFacts } from '../../src/core/reference-slice.js';
import { suspectSignature, validateSlice } from '../../src/core/validate.js';

const URL = 'https://x/y';
const MiB = 1024 * 1024;
const SIZE = 5_000_000;
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const LM = 'Mon, 15 Jan 2024 10:00:00 GMT';
const facts: ReferenceFacts = { size: SIZE, etag: '"v1"', lastModified: LM };
const slice3 = { start: 3 * MiB, end: 4 * MiB - 1 };
const ctx3 = { url: URL, index: 3 };

function head(headers: HeaderRecord, status = 206) {
  return { status, headers };
}

function sliceHead(overrides: HeaderRecord = {}, status = 206) {
  return head(
    {
      'content-range': `bytes ${slice3.start}-${slice3.end}/${SIZE}`,
      'content-length': String(MiB),
      etag: '"v1"',
      'last-modified': LM,
      ...overrides,
    },
    status,
  );
}

describe('validateSlice', () => {
  it('accepts a 206 that matches the requested range and the reference facts', () => {
    expect(validateSlice(sliceHead(), slice3, facts, ctx3, NOW)).toBeUndefined();
  });

  it('accepts a weak ETag equal on both sides', () => {
    const weak = { ...facts, etag: 'W/"x"' };
    expect(validateSlice(sliceHead({ etag: 'W/"x"' }), slice3, weak, ctx3, NOW)).toBeUndefined();
    expect(validateSlice(sliceHead({ etag: '"x"' }), slice3, weak, ctx3, NOW)?.code).toBe(
      'ERR_SLICE_VERSION_CHANGED',
    );
  });

  it('compares a 4,000-character ETag in full', () => {
    const long = `"${'a'.repeat(3998)}"`;
    const reference = { ...facts, etag: long };
    expect(validateSlice(sliceHead({ etag: long }), slice3, reference, ctx3, NOW)).toBeUndefined();
    const changed = `"${'a'.repeat(3997)}b"`;
    expect(validateSlice(sliceHead({ etag: changed }), slice3, reference, ctx3, NOW)?.code).toBe(
      'ERR_SLICE_VERSION_CHANGED',
    );
  });

  it('clamps the expected end of the last slice to the end of the object', () => {
    const last = { start: 4 * MiB, end: 5 * MiB - 1 };
    const valid = sliceHead({
      'content-range': `bytes ${4 * MiB}-${SIZE - 1}/${SIZE}`,
      'content-length': '805696',
    });
    expect(validateSlice(valid, last, facts, { url: URL, index: 4 }, NOW)).toBeUndefined();
    const unclamped = sliceHead({ 'content-range': `bytes ${4 * MiB}-${5 * MiB - 1}/${5 * MiB}` });
    expect(validateSlice(unclamped, last, facts, { url: URL, index: 4 }, NOW)?.code).toBe(
      'ERR_SLICE_VERSION_CHANGED',
    );
  });

  it('accepts an object without validators when the slice has none either', () => {
    const bare = { size: SIZE };
    const h = sliceHead({ etag: undefined, 'last-modified': undefined });
    expect(validateSlice(h, slice3, bare, ctx3, NOW)).toBeUndefined();
  });

  it('names the URL, slice and expected vs got Content-Range for a wrong range', () => {
    const error = validateSlice(
      sliceHead({ 'content-range': `bytes 0-1048575/${SIZE}` }),
      slice3,
      facts,
      ctx3,
      NOW,
    );
    expect(error?.code).toBe('ERR_SLICE_INVALID_RESPONSE');
    expect(error?.retryable).toBe(true);
    expect(error?.message).toBe(
      'Slice 3 of https://x/y: expected Content-Range `bytes 3145728-4194303/5000000`, got `bytes 0-1048575/5000000`',
    );
    expect(error?.details).toMatchObject({
      url: URL,
      slice: 3,
      range: '3145728-4194303',
      expected: 'bytes 3145728-4194303/5000000',
      actual: 'bytes 0-1048575/5000000',
    });
  });

  it('reports a changed total as a new version that is not retried', () => {
    const error = validateSlice(
      sliceHead({ 'content-range': `bytes ${slice3.start}-${slice3.end}/6000000` }),
      slice3,
      facts,
      ctx3,
      NOW,
    );
    expect(error?.code).toBe('ERR_SLICE_VERSION_CHANGED');
    expect(error?.retryable).toBe(false);
  });

  it('rejects a missing, repeated, malformed or unknown-length Content-Range', () => {
    const cases: HeaderRecord['content-range'][] = [
      undefined,
      [`bytes ${slice3.start}-${slice3.end}/${SIZE}`, `bytes ${slice3.start}-${slice3.end}/${SIZE}`],
      'bytes=3145728-4194303/5000000',
      `bytes ${slice3.start}-${slice3.end}/*`,
      `bytes */${SIZE}`,
    ];
    for (const value of cases) {
      const error = validateSlice(sliceHead({ 'content-range': value }), slice3, facts, ctx3, NOW);
      expect(error?.code).toBe('ERR_SLICE_CONTENT_RANGE');
      expect(error?.retryable).toBe(true);
    }
    expect(
      validateSlice(sliceHead({ 'content-range': undefined }), slice3, facts, ctx3, NOW)?.message,
    ).toContain('got `none`');
  });

  it('rejects a Content-Encoding other than identity', () => {
    expect(
      validateSlice(sliceHead({ 'content-encoding': 'identity' }), slice3, facts, ctx3, NOW),
    ).toBeUndefined();
    const error = validateSlice(sliceHead({ 'content-encoding': 'gzip' }), slice3, facts, ctx3, NOW);
    expect(error?.code).toBe('ERR_SLICE_INVALID_RESPONSE');
    expect(error?.message).toContain('expected Content-Encoding `identity`, got `gzip`');
    expect(
      validateSlice(sliceHead({ 'content-encoding': ['identity', 'br'] }), slice3, facts, ctx3, NOW)?.code,
    ).toBe('ERR_SLICE_INVALID_RESPONSE');
  });

  it('rejects a Transfer-Encoding other than chunked (its bytes would reach the slice as they are)', () => {
    expect(
      validateSlice(sliceHead({ 'transfer-encoding': 'chunked' }), slice3, facts, ctx3, NOW),
    ).toBeUndefined();
    const error = validateSlice(
      sliceHead({ 'transfer-encoding': 'gzip, chunked' }),
      slice3,
      facts,
      ctx3,
      NOW,
    );
    expect(error?.code).toBe('ERR_SLICE_INVALID_RESPONSE');
    expect(error?.message).toContain('expected Transfer-Encoding `chunked`, got `gzip, chunked`');
  });

  it('checks Content-Length when present, accepting identical repeats', () => {
    expect(
      validateSlice(sliceHead({ 'content-length': undefined }), slice3, facts, ctx3, NOW),
    ).toBeUndefined();
    expect(
      validateSlice(sliceHead({ 'content-length': ['1048576', '1048576'] }), slice3, facts, ctx3, NOW),
    ).toBeUndefined();
    for (const bad of ['1048575', '1048577', '', 'abc', '-1048576', ['1048576', '5']]) {
      expect(validateSlice(sliceHead({ 'content-length': bad }), slice3, facts, ctx3, NOW)?.code).toBe(
        'ERR_SLICE_INVALID_RESPONSE',
      );
    }
  });

  it('treats an ETag that appears, vanishes or changes as a new version', () => {
    const noEtag = { size: SIZE, lastModified: LM };
    expect(validateSlice(sliceHead(), slice3, noEtag, ctx3, NOW)?.message).toBe(
      'Slice 3 of https://x/y: expected ETag `none`, got `"v1"`',
    );
    expect(validateSlice(sliceHead({ etag: undefined }), slice3, facts, ctx3, NOW)?.code).toBe(
      'ERR_SLICE_VERSION_CHANGED',
    );
    expect(validateSlice(sliceHead({ etag: '"v2"' }), slice3, facts, ctx3, NOW)?.code).toBe(
      'ERR_SLICE_VERSION_CHANGED',
    );
  });

  it('treats a changed Last-Modified as a new version', () => {
    const h = sliceHead({ 'last-modified': 'Mon, 15 Jan 2024 11:00:00 GMT' });
    expect(validateSlice(h, slice3, facts, ctx3, NOW)?.code).toBe('ERR_SLICE_VERSION_CHANGED');
  });

  it('retries a 5xx, 429 or 408 and carries Retry-After', () => {
    const error = validateSlice(head({ 'retry-after': '2' }, 503), slice3, facts, ctx3, NOW);
    expect(error).toMatchObject({ code: 'ERR_SLICE_ORIGIN_STATUS', retryable: true, status: 502 });
    expect(error?.details).toMatchObject({ originStatus: 503, retryAfterMs: 2000, slice: 3, url: URL });
    expect(error?.message).toBe('Slice 3 of https://x/y: expected status 206, got 503');
    for (const status of [500, 502, 504, 429, 408]) {
      expect(validateSlice(head({}, status), slice3, facts, ctx3, NOW)?.retryable).toBe(true);
    }
  });

  it('treats a 200 to a slice request as an invalid, retryable response', () => {
    const error = validateSlice(sliceHead({}, 200), slice3, facts, ctx3, NOW);
    expect(error).toMatchObject({ code: 'ERR_SLICE_INVALID_RESPONSE', retryable: true });
    expect(error?.details.originStatus).toBe(200);
  });

  it('does not retry other 4xx statuses', () => {
    for (const status of [400, 401, 403, 404, 410, 416, 304]) {
      const error = validateSlice(head({}, status), slice3, facts, ctx3, NOW);
      expect(error).toMatchObject({ code: 'ERR_SLICE_ORIGIN_STATUS', retryable: false });
      expect(error?.details.originStatus).toBe(status);
    }
  });

  it('retries a 416 that names the same length, since the slice lies inside it', () => {
    const error = validateSlice(head({ 'content-range': `bytes */${SIZE}` }, 416), slice3, facts, ctx3, NOW);
    expect(error).toMatchObject({ code: 'ERR_SLICE_INVALID_RESPONSE', retryable: true });
    expect(error?.message).toBe(
      'Slice 3 of https://x/y: expected status `206`, got `416 with Content-Range bytes */5000000`',
    );
  });

  it('reads a 416 naming a shorter object as a new version', () => {
    const error = validateSlice(head({ 'content-range': 'bytes */3000000' }, 416), slice3, facts, ctx3, NOW);
    expect(error?.code).toBe('ERR_SLICE_VERSION_CHANGED');
    expect(error?.message).toBe('Slice 3 of https://x/y: expected object length `5000000`, got `3000000`');
  });
});

describe('classifyReference', () => {
  const first = { start: 0, end: MiB - 1 };
  const ctx0 = { url: URL, index: 0 };
  const ref = (headers: HeaderRecord, status = 206) =>
    classifyReference(head(headers, status), first, ctx0, NOW);

  it('slices a valid 206 and learns size and validators', () => {
    expect(
      ref({
        'content-range': `bytes 0-${MiB - 1}/${SIZE}`,
        'content-length': String(MiB),
        etag: '"v1"',
        'last-modified': LM,
      }),
    ).toEqual({ kind: 'sliced', facts: { size: SIZE, etag: '"v1"', lastModified: LM }, range: first });
  });

  it('slices an object smaller than one slice, the range ending at its last byte', () => {
    expect(ref({ 'content-range': 'bytes 0-99/100' })).toEqual({
      kind: 'sliced',
      facts: { size: 100, etag: undefined, lastModified: undefined },
      range: { start: 0, end: 99 },
    });
  });

  it('passes through an origin that ignores Range', () => {
    expect(ref({ 'content-length': String(SIZE) }, 200)).toEqual({ kind: 'pass', reason: 'range-ignored' });
  });

  it('passes through a 206 without a total length', () => {
    expect(ref({ 'content-range': `bytes 0-${MiB - 1}/*` })).toEqual({
      kind: 'pass',
      reason: 'unknown-length',
    });
  });

  it('passes through an encoded 206', () => {
    expect(ref({ 'content-range': `bytes 0-${MiB - 1}/${SIZE}`, 'content-encoding': 'gzip' })).toEqual({
      kind: 'pass',
      reason: 'encoded',
    });
  });

  it('recognises an empty object from 416 bytes */0', () => {
    expect(ref({ 'content-range': 'bytes */0' }, 416)).toEqual({ kind: 'empty' });
  });

  it('reports an unsatisfiable start with the object size', () => {
    const far = { start: 8 * MiB, end: 9 * MiB - 1 };
    expect(
      classifyReference(head({ 'content-range': `bytes */${SIZE}` }, 416), far, { url: URL, index: 8 }, NOW),
    ).toEqual({
      kind: 'unsatisfiable',
      size: SIZE,
    });
  });

  it.each([404, 403, 401, 410, 400, 304, 301, 204])('hands status %i to the client unchanged', (status) => {
    expect(ref({}, status)).toEqual({ kind: 'origin-status', status });
  });

  it('retries a 5xx, 429 or 408 with Retry-After honoured', () => {
    const verdict = ref({ 'retry-after': 'Mon, 15 Jan 2024 12:00:10 GMT' }, 429);
    expect(verdict.kind).toBe('retry');
    if (verdict.kind !== 'retry') return;
    expect(verdict.error).toMatchObject({ code: 'ERR_SLICE_ORIGIN_STATUS', retryable: true });
    expect(verdict.error.details).toMatchObject({ originStatus: 429, retryAfterMs: 10_000 });
    for (const status of [500, 502, 503, 504, 408]) expect(ref({}, status).kind).toBe('retry');
  });

  it.each([
    ['a missing Content-Range', {}, 'ERR_SLICE_CONTENT_RANGE'],
    ['a malformed Content-Range', { 'content-range': 'bytes 0-x/5' }, 'ERR_SLICE_CONTENT_RANGE'],
    [
      'a repeated Content-Range',
      { 'content-range': ['bytes 0-9/10', 'bytes 0-9/10'] },
      'ERR_SLICE_CONTENT_RANGE',
    ],
    ['a wrong start', { 'content-range': `bytes 1-${MiB - 1}/${SIZE}` }, 'ERR_SLICE_INVALID_RESPONSE'],
    ['a short end', { 'content-range': `bytes 0-99/${SIZE}` }, 'ERR_SLICE_INVALID_RESPONSE'],
    [
      'a Content-Length mismatch',
      { 'content-range': `bytes 0-${MiB - 1}/${SIZE}`, 'content-length': '5' },
      'ERR_SLICE_INVALID_RESPONSE',
    ],
  ] as const)('retries a 206 with %s', (_, headers, code) => {
    const verdict = ref(headers);
    expect(verdict.kind).toBe('retry');
    if (verdict.kind === 'retry') expect(verdict.error).toMatchObject({ code, retryable: true });
  });

  it('retries a 416 without a parseable bytes */N or one that contradicts the start', () => {
    for (const headers of [{}, { 'content-range': 'bytes */abc' }, { 'content-range': `bytes */${SIZE}` }]) {
      const verdict = ref(headers, 416);
      expect(verdict.kind).toBe('retry');
      if (verdict.kind === 'retry') expect(verdict.error.retryable).toBe(true);
    }
  });
});

describe('extractFacts', () => {
  it('keeps the ETag and Last-Modified exactly as sent', () => {
    expect(extractFacts({ etag: 'W/"a"', 'last-modified': LM }, 10)).toEqual({
      size: 10,
      etag: 'W/"a"',
      lastModified: LM,
    });
  });
});

describe('validateSlice with a precondition on the reference validator', () => {
  it('takes a 412 as a confirmed change, and a 412 without a precondition as an origin status', () => {
    const confirmed = validateSlice(head({}, 412), slice3, facts, ctx3, NOW, true);
    expect(confirmed).toMatchObject({ code: 'ERR_SLICE_VERSION_CHANGED', retryable: false });
    expect(validateSlice(head({}, 412), slice3, facts, ctx3, NOW, false)?.code).toBe(
      'ERR_SLICE_ORIGIN_STATUS',
    );
  });

  it('accepts a 206 whose ETag or Last-Modified went missing on the way (the origin evaluated the condition)', () => {
    const dropped = sliceHead({ etag: undefined, 'last-modified': undefined });
    expect(validateSlice(dropped, slice3, facts, ctx3, NOW, true)).toBeUndefined();
    expect(validateSlice(dropped, slice3, facts, ctx3, NOW, false)?.code).toBe('ERR_SLICE_VERSION_CHANGED');
  });

  it('makes a different validator a retryable suspect, and the same suspect twice has one signature', () => {
    const imposter = sliceHead({ etag: '"imposter"' });
    const first = validateSlice(imposter, slice3, facts, ctx3, NOW, true);
    expect(first).toMatchObject({ code: 'ERR_SLICE_VERSION_CHANGED', retryable: true });
    const again = validateSlice(imposter, slice3, facts, ctx3, NOW, true);
    const other = validateSlice(sliceHead({ etag: '"other"' }), slice3, facts, ctx3, NOW, true);
    expect(suspectSignature(first as SliceFetchError)).toBe(suspectSignature(again as SliceFetchError));
    expect(suspectSignature(first as SliceFetchError)).not.toBe(suspectSignature(other as SliceFetchError));
  });

  it('keeps a different total a confirmed change, never a suspect', () => {
    const resized = sliceHead({ 'content-range': `bytes ${3 * MiB}-${4 * MiB - 1}/${SIZE + 1}` });
    const error = validateSlice(resized, slice3, facts, ctx3, NOW, true) as SliceFetchError;
    expect(error).toMatchObject({ code: 'ERR_SLICE_VERSION_CHANGED', retryable: false });
    expect(suspectSignature(error)).toBeUndefined();
  });
});
