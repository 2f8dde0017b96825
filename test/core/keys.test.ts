import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import {
  metadataKey,
  normalizeObjectUrl,
  objectKeyPrefix,
  objectValidator,
  sliceKey,
} from '../../src/core/keys.js';

const KEY = /^[0-9a-f]{32}\.[0-9a-f]{32}$/;

describe('normalizeObjectUrl', () => {
  it('lowercases scheme and host, drops the default port, resolves dot-segments and the fragment', () => {
    expect(normalizeObjectUrl('HTTP://Example.COM:80/a/../b?q=1#f')).toBe('http://example.com/b?q=1');
  });

  it('drops the https default port 443 but keeps any other port', () => {
    expect(normalizeObjectUrl('https://example.com:443/x')).toBe('https://example.com/x');
    expect(normalizeObjectUrl('https://example.com:8443/x')).toBe('https://example.com:8443/x');
    expect(normalizeObjectUrl('http://example.com:443/x')).toBe('http://example.com:443/x');
  });

  it('decodes percent-encoded unreserved characters and upper-cases the rest (RFC 3986 §6.2.2)', () => {
    expect(normalizeObjectUrl('http://example.com/%7euser')).toBe('http://example.com/~user');
    expect(normalizeObjectUrl('http://example.com/a%2fb')).toBe('http://example.com/a%2Fb');
    expect(normalizeObjectUrl('http://example.com/%41%2d%5F%2E%30')).toBe('http://example.com/A-_.0');
    expect(normalizeObjectUrl('http://example.com/%e2%82%ac')).toBe('http://example.com/%E2%82%AC');
    expect(normalizeObjectUrl('http://example.com/a%2Fb')).toBe(
      normalizeObjectUrl('http://example.com/a%2fb'),
    );
  });

  it('does not decode an encoded percent sign twice', () => {
    expect(normalizeObjectUrl('http://example.com/%2541')).toBe('http://example.com/%2541');
  });

  it('resolves percent-encoded dot-segments before decoding', () => {
    expect(normalizeObjectUrl('http://example.com/a/%2e%2E/b/%2e/c')).toBe('http://example.com/b/c');
  });

  it('keeps the query exactly as given', () => {
    expect(normalizeObjectUrl('http://example.com/x?b=%7e&a=%2f')).toBe('http://example.com/x?b=%7e&a=%2f');
  });

  it('gives the root path to a URL without one and accepts URL objects', () => {
    expect(normalizeObjectUrl(new URL('HTTP://EXAMPLE.com'))).toBe('http://example.com/');
  });

  it('rejects invalid and non-http URLs with ERR_SLICE_CONFIG and status 400', () => {
    for (const bad of ['not a url', '/relative/path', 'ftp://example.com/x', 'http://exa mple.com/']) {
      let caught: unknown;
      try {
        normalizeObjectUrl(bad);
      } catch (error) {
        caught = error;
      }
      expect(isSliceFetchError(caught)).toBe(true);
      expect(caught).toMatchObject({ code: 'ERR_SLICE_CONFIG', status: 400, details: { url: bad } });
    }
  });
});

describe('objectValidator', () => {
  it('prefers a strong ETag', () => {
    expect(objectValidator({ etag: '"abc"', lastModified: 'Tue, 01 Jul 2025 00:00:00 GMT', size: 5 })).toBe(
      'etag:"abc"',
    );
  });

  it('skips a weak ETag for Last-Modified, then for the size', () => {
    const lastModified = 'Tue, 01 Jul 2025 00:00:00 GMT';
    expect(objectValidator({ etag: 'W/"x"', lastModified, size: 5 })).toBe(`lm:${lastModified}`);
    expect(objectValidator({ etag: 'w/"x"', lastModified, size: 5 })).toBe(`lm:${lastModified}`);
    expect(objectValidator({ etag: 'W/"x"', size: 5 })).toBe('size:5');
  });

  it('falls back to the size when no validator is present or they are blank', () => {
    expect(objectValidator({ size: 0 })).toBe('size:0');
    expect(objectValidator({ etag: '', lastModified: ' ', size: 42 })).toBe('size:42');
  });
});

describe('sliceKey, objectKeyPrefix and metadataKey', () => {
  const parts = {
    objectKey: 'http://example.com/video.mp4',
    validator: 'etag:"abc"',
    sliceSize: 1 << 20,
    index: 3,
  };

  it('builds a 65-character key that starts with the object prefix', () => {
    const key = sliceKey(parts);
    expect(key).toMatch(KEY);
    expect(key.startsWith(`${objectKeyPrefix(parts.objectKey)}.`)).toBe(true);
  });

  it('changes with each of object key, validator, slice size and index', () => {
    const base = sliceKey(parts);
    expect(sliceKey({ ...parts, objectKey: `${parts.objectKey}?v=2` })).not.toBe(base);
    expect(sliceKey({ ...parts, validator: 'etag:"abd"' })).not.toBe(base);
    expect(sliceKey({ ...parts, sliceSize: 1 << 21 })).not.toBe(base);
    expect(sliceKey({ ...parts, index: 4 })).not.toBe(base);
    expect(sliceKey(parts)).toBe(base);
  });

  it('stays fixed length for a 4,000-character ETag', () => {
    const validator = objectValidator({ etag: `"${'e'.repeat(4000)}"`, size: 1 });
    expect(validator.length).toBe(4007);
    expect(sliceKey({ ...parts, validator })).toMatch(KEY);
  });

  it('keeps fields apart even when they contain the separators', () => {
    const a = sliceKey({ objectKey: 'a|1:b', validator: 'c', sliceSize: 1, index: 0 });
    const b = sliceKey({ objectKey: 'a', validator: '1:b|c', sliceSize: 1, index: 0 });
    expect(a.slice(33)).not.toBe(b.slice(33));
  });

  it('rejects a non-integer or negative slice size or index', () => {
    expect(() => sliceKey({ ...parts, index: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }),
    );
    expect(() => sliceKey({ ...parts, sliceSize: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }),
    );
    expect(() => sliceKey({ ...parts, index: 1.5 })).toThrow(
      expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }),
    );
  });

  it('gives the metadata entry the object prefix and a key no slice can have', () => {
    const key = metadataKey(parts.objectKey);
    expect(key).toBe(`${objectKeyPrefix(parts.objectKey)}.meta`);
    expect(key).not.toMatch(KEY);
  });
});
