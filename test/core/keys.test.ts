import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import {
  metadataKey,
  normalizeObjectUrl,
  objectKeyPrefix,
  objectValidator,
  sha256Hex,
  sliceKey,
  strongEtag,
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

  it('keys versions by a weak ETag too (regression: W/"v1" and W/"v2" of one size shared slice keys)', () => {
    const lastModified = 'Tue, 01 Jul 2025 00:00:00 GMT';
    expect(objectValidator({ etag: 'W/"x"', lastModified, size: 5 })).toBe('etag:W/"x"');
    expect(objectValidator({ etag: 'W/"v1"', size: 5 })).not.toBe(
      objectValidator({ etag: 'W/"v2"', size: 5 }),
    );
    expect(objectValidator({ lastModified, size: 5 })).toBe(`lm:${lastModified} size:5`);
    // Regression: a new version of another length within the same Last-Modified second shared slice keys.
    expect(objectValidator({ lastModified, size: 6 })).not.toBe(objectValidator({ lastModified, size: 5 }));
  });

  it('falls back to the size when no validator is present or they are blank', () => {
    expect(objectValidator({ size: 0 })).toBe('size:0');
    expect(objectValidator({ etag: '', lastModified: ' ', size: 42 })).toBe('size:42');
  });
});

describe('strongEtag', () => {
  it('gives a strong tag back and nothing for a weak (either case of W/), blank or absent one', () => {
    expect(strongEtag(' "v1" ')).toBe('"v1"');
    expect(strongEtag('W/"v1"')).toBeUndefined();
    expect(strongEtag('w/"v1"')).toBeUndefined();
    expect(strongEtag('')).toBeUndefined();
    expect(strongEtag(undefined)).toBeUndefined();
  });
});

describe('sha256Hex', () => {
  const nodeSha256 = (input: string) => createHash('sha256').update(input, 'utf8').digest('hex');

  it('matches the FIPS 180-4 test vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('is the SHA-256 of the UTF-8 bytes of any well-formed string', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 100 })),
        (s) => {
          expect(sha256Hex(s)).toBe(nodeSha256(s));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps lone surrogates apart instead of folding them into U+FFFD', () => {
    expect(sha256Hex('a\uD800')).not.toBe(sha256Hex('a\uDC00'));
    expect(sha256Hex('a\uD800')).not.toBe(sha256Hex('a\uFFFD'));
    expect(sha256Hex('\uD83D\uDE00')).toBe(nodeSha256('😀'));
  });
});

describe('key stability', () => {
  // Keys written by earlier versions must still be found: these were produced by the first release.
  it.each([
    [
      { objectKey: 'http://example.com/video.mp4', validator: 'etag:"abc"', sliceSize: 1048576, index: 0 },
      '45f8519ffac465bc7fbf32626083ee3f.574e03560683d7f086cd86b2d36a75e0',
    ],
    [
      { objectKey: 'http://example.com/video.mp4', validator: 'etag:"abc"', sliceSize: 1048576, index: 3 },
      '45f8519ffac465bc7fbf32626083ee3f.546b0d412f864aade4b2987eccc27e7d',
    ],
    [
      {
        objectKey: 'https://cdn.example.com/a/b%20c.bin?x=1',
        validator: 'lm:Tue, 01 Jul 2025 00:00:00 GMT',
        sliceSize: 65536,
        index: 1234,
      },
      '536929e4be18e87968bc62840e8d8e31.083c85570379ddb4ee08bd1e7d3a4dd1',
    ],
    [
      { objectKey: 'http://example.com/ü', validator: 'size:42', sliceSize: 1, index: 9007199254740991 },
      'a934a2a7ebd1a46f9f66735bee944e8e.11d0c8c0c608d5b7dac2d10483d64477',
    ],
  ])('%o → %s', (parts, key) => {
    expect(sliceKey(parts)).toBe(key);
    expect(sliceKey({ ...parts, scope: '' })).toBe(key);
    // Purge generation '' (never purged, or a store without generations) keeps the keys of earlier versions.
    expect(sliceKey({ ...parts, generation: '' })).toBe(key);
  });

  it('keeps the shared metadata key', () => {
    expect(metadataKey('http://example.com/video.mp4')).toBe('45f8519ffac465bc7fbf32626083ee3f.meta');
    expect(metadataKey('http://example.com/video.mp4', '', '')).toBe('45f8519ffac465bc7fbf32626083ee3f.meta');
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
    expect(sliceKey({ ...parts, scope: 'cred:1' })).not.toBe(base);
    expect(sliceKey({ ...parts, scope: 'cred:1' })).not.toBe(sliceKey({ ...parts, scope: 'cred:2' }));
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

  it('gives each sharing scope its own metadata key, distinct from every slice key of the object', () => {
    const a = metadataKey(parts.objectKey, 'cred:a');
    expect(a).toMatch(KEY);
    expect(a.startsWith(`${objectKeyPrefix(parts.objectKey)}.`)).toBe(true);
    expect(metadataKey(parts.objectKey, 'cred:b')).not.toBe(a);
    expect(sliceKey({ ...parts, scope: 'cred:a' })).not.toBe(a);
  });

  it('gives each purge generation its own slice and metadata keys, on the same object prefix (P27)', () => {
    const prefix = `${objectKeyPrefix(parts.objectKey)}.`;
    const keys = ['', 'a1', 'b2'].flatMap((generation) => [
      sliceKey({ ...parts, generation }),
      metadataKey(parts.objectKey, '', generation),
      metadataKey(parts.objectKey, 'cred:a', generation),
    ]);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) expect(key.startsWith(prefix)).toBe(true);
    expect(metadataKey(parts.objectKey, '', 'a1')).toMatch(KEY);
  });
});
