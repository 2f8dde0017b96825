import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import {
  BLOCK_SIZE,
  badBlock,
  blockCrcs,
  decodeFile,
  encodeHeader,
  entryPath,
  FIXED_HEADER,
  FORMAT_VERSION,
  type Header,
  MAX_META,
  parseHeader,
} from '../../src/storage/fs-format.js';

const RUNS = { numRuns: 300 };
const OBJECT = 'https://format.test/a.bin';
const KEY = '613dfa386ba4fcd92bb28ac1e5246af2.2ad1575700a997d591389c8c918e74d4';
const META_KEY = '613dfa386ba4fcd92bb28ac1e5246af2.meta';
const OTHER_KEY = '613dfa386ba4fcd92bb28ac1e5246af2.00000000000000000000000000000000';
const STORED_AT = 1_750_000_000_000;

/**
 * Files written by fsStorage before its format moved to `fs-format.ts` (format version 1), kept byte for byte:
 * the code must go on reading them, and writing the same bytes for the same entry.
 */
const GOLDEN_SMALL_FILE =
  'U0ZDRQAAAAEAAAEp2yMA+Hsia2V5IjoiNjEzZGZhMzg2YmE0ZmNkOTJiYjI4YWMxZTUyNDZhZjIuMmFkMTU3NTcwMGE5OTdkNTkxMzg5YzhjOTE4ZTc0ZDQiLCJraW5kIjoic2xpY2UiLCJvYmplY3RLZXkiOiJodHRwczovL2Zvcm1hdC50ZXN0L2EuYmluIiwidmFsaWRhdG9yIjoiZXRhZzpcInYxXCIiLCJyYW5nZSI6WzIwOTcxNTIsMjA5NzE2MV0sInNpemUiOjUyNDI4ODAsImV4cGlyZXNBdCI6MTc1MDAwMDA2MDAwMCwic3RvcmVkQXQiOjE3NTAwMDAwMDAwMDAsImxlbmd0aCI6MTAsImJsb2NrU2l6ZSI6NjU1MzYsImNyYyI6WzE5MjUzMjQ1NTVdfQcmRWSDosHg/x4=';
/** The header of a two-block metadata entry that never expires; its body is {@link bigBody}. */
const GOLDEN_BIG_HEADER =
  'U0ZDRQAAAAEAAAEFovI4IXsia2V5IjoiNjEzZGZhMzg2YmE0ZmNkOTJiYjI4YWMxZTUyNDZhZjIubWV0YSIsImtpbmQiOiJtZXRhZGF0YSIsIm9iamVjdEtleSI6Imh0dHBzOi8vZm9ybWF0LnRlc3QvYS5iaW4iLCJ2YWxpZGF0b3IiOiJldGFnOlwidjFcIiIsInJhbmdlIjpbMCw5OV0sInNpemUiOjEwMCwiZXhwaXJlc0F0IjpudWxsLCJzdG9yZWRBdCI6MTc1MDAwMDAwMDAwMCwibGVuZ3RoIjo3MDAwMCwiYmxvY2tTaXplIjo2NTUzNiwiY3JjIjpbMjQ1OTQxODY1NSw5NjM3NTQwOTBdfQ==';

const smallBody = Buffer.from(Array.from({ length: 10 }, (_, i) => (i * 31 + 7) & 255));
const smallMeta: CacheEntryMeta = {
  kind: 'slice',
  objectKey: OBJECT,
  validator: 'etag:"v1"',
  range: { start: 2 << 20, end: (2 << 20) + 9 },
  size: 5 << 20,
  expiresAt: 1_750_000_060_000,
};
const bigBody = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 131 + 3) & 255));
const bigMeta: CacheEntryMeta = {
  kind: 'metadata',
  objectKey: OBJECT,
  validator: 'etag:"v1"',
  range: { start: 0, end: 99 },
  size: 100,
  expiresAt: Number.POSITIVE_INFINITY,
};

/** A whole file: header and body. */
function file(
  key: string,
  meta: CacheEntryMeta,
  chunks: readonly Uint8Array[],
  storedAt = STORED_AT,
): Buffer {
  const length = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  return Buffer.concat([encodeHeader(key, meta, length, storedAt, blockCrcs(chunks)), ...chunks]);
}

/** A file whose meta JSON is `json` (any text), with a correct meta CRC, `version` and `magic`. */
function rawFile(
  json: string,
  body: Uint8Array = new Uint8Array(0),
  version = FORMAT_VERSION,
  magic = 'SFCE',
) {
  const meta = Buffer.from(json, 'utf8');
  const fixed = Buffer.alloc(FIXED_HEADER);
  fixed.write(magic, 0, 'latin1');
  fixed.writeUInt32BE(version, 4);
  fixed.writeUInt32BE(meta.length, 8);
  fixed.writeUInt32BE(crc32(meta), 12);
  return Buffer.concat([fixed, meta, body]);
}

function reasonOf(decoded: ReturnType<typeof decodeFile>): string {
  return decoded.kind === 'invalid' ? decoded.reason : decoded.kind;
}

const small = (): Buffer => file(KEY, smallMeta, [smallBody]);

describe('fs-format: version 1 compatibility', () => {
  it('writes, byte for byte, the files the store wrote before the format was split out', () => {
    expect(small().toString('base64')).toBe(GOLDEN_SMALL_FILE);
    const big = file(META_KEY, bigMeta, [bigBody.subarray(0, 1000), bigBody.subarray(1000)]);
    expect(big.subarray(0, big.length - bigBody.length).toString('base64')).toBe(GOLDEN_BIG_HEADER);
  });

  it('reads those files', () => {
    const decoded = decodeFile(Buffer.from(GOLDEN_SMALL_FILE, 'base64'), KEY);
    expect(decoded.kind === 'ok' && decoded.body.equals(smallBody)).toBe(true);
    const big = Buffer.concat([Buffer.from(GOLDEN_BIG_HEADER, 'base64'), bigBody]);
    const decodedBig = decodeFile(big, META_KEY);
    expect(decodedBig).toMatchObject({
      kind: 'ok',
      header: { expiresAt: Number.POSITIVE_INFINITY, length: 70_000, blockSize: BLOCK_SIZE },
    });
    expect(decodedBig.kind === 'ok' && decodedBig.body.equals(bigBody)).toBe(true);
  });
});

describe('fs-format: valid files', () => {
  it('round-trips a header: every field a reader uses, and where the body starts', () => {
    const bytes = small();
    const parsed = parseHeader(bytes, KEY, true);
    expect(parsed).toEqual({
      kind: 'ok',
      header: {
        key: KEY,
        objectKey: OBJECT,
        expiresAt: smallMeta.expiresAt,
        storedAt: STORED_AT,
        length: 10,
        blockSize: BLOCK_SIZE,
        crc: [crc32(smallBody)],
        bodyOffset: bytes.length - 10,
      },
    });
  });

  it('round-trips any body, in any chunking, and any meta', () => {
    const chunked = fc.uint8Array({ maxLength: 3 * BLOCK_SIZE + 17 }).chain((body) =>
      fc
        .uniqueArray(fc.integer({ min: 0, max: body.length }), { maxLength: 5 })
        .map((cuts) => [0, ...cuts.sort((a, b) => a - b), body.length])
        .map((points) => ({ body, chunks: points.slice(1).map((end, i) => body.subarray(points[i], end)) })),
    );
    const meta = fc.record({
      objectKey: fc.string({ maxLength: 300 }),
      validator: fc.string({ maxLength: 50 }),
      expiresAt: fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.constant(Number.POSITIVE_INFINITY)),
      storedAt: fc.integer({ min: 0, max: 2 ** 45 }),
    });
    fc.assert(
      fc.property(chunked, meta, ({ body, chunks }, m) => {
        const entry: CacheEntryMeta = {
          kind: 'slice',
          objectKey: m.objectKey,
          validator: m.validator,
          range: { start: 0, end: Math.max(body.length - 1, 0) },
          size: body.length,
          expiresAt: m.expiresAt,
        };
        const decoded = decodeFile(file(KEY, entry, chunks, m.storedAt), KEY);
        expect(decoded.kind).toBe('ok');
        if (decoded.kind !== 'ok') return;
        expect(decoded.body.equals(body)).toBe(true);
        expect(decoded.header).toMatchObject({
          objectKey: m.objectKey,
          expiresAt: m.expiresAt,
          storedAt: m.storedAt,
          length: body.length,
        });
        expect(decoded.header.crc).toEqual(blockCrcs([body]));
      }),
      { numRuns: 100 },
    );
  });

  it('asks for the bytes it lacks while a read may bring more, and never when the header is all there', () => {
    const bytes = small();
    const bodyOffset = bytes.length - 10;
    expect(parseHeader(bytes.subarray(0, 5), KEY, false)).toEqual({ kind: 'more', need: FIXED_HEADER });
    expect(parseHeader(bytes.subarray(0, 40), KEY, false)).toEqual({ kind: 'more', need: bodyOffset });
    expect(parseHeader(bytes.subarray(0, bodyOffset), KEY, false).kind).toBe('ok');
    expect(parseHeader(bytes.subarray(0, bodyOffset), KEY, true).kind).toBe('ok');
  });

  it('checks only the blocks a sub-range read covers', () => {
    const bytes = file(KEY, smallMeta, [bigBody]);
    const decoded = decodeFile(bytes, KEY);
    if (decoded.kind !== 'ok') throw new Error('expected a valid file');
    const header: Header = decoded.header;
    const second = Buffer.from(bigBody.subarray(BLOCK_SIZE));
    expect(badBlock(header, second, BLOCK_SIZE)).toBe(-1);
    second[3] = (second[3] as number) ^ 1;
    expect(badBlock(header, second, BLOCK_SIZE)).toBe(1);
    expect(badBlock(header, bigBody.subarray(0, BLOCK_SIZE), 0)).toBe(-1);
  });
});

describe('fs-format: truncated files', () => {
  it('finds every truncation of a small valid file invalid', () => {
    const bytes = small();
    for (let length = 0; length < bytes.length; length++) {
      const decoded = decodeFile(bytes.subarray(0, length), KEY);
      expect({ length, kind: decoded.kind }).toEqual({ length, kind: 'invalid' });
      expect(parseHeader(bytes.subarray(0, length), KEY, true).kind).toBe(
        length < bytes.length - 10 ? 'invalid' : 'ok',
      );
    }
  });

  it('finds any truncation of any valid file invalid, and never throws', () => {
    const truncated = fc.uint8Array({ maxLength: 2 * BLOCK_SIZE + 100 }).chain((body) => {
      const whole = file(KEY, { ...smallMeta, range: { start: 0, end: body.length } }, [body]);
      return fc.integer({ min: 0, max: whole.length - 1 }).map((length) => whole.subarray(0, length));
    });
    fc.assert(
      fc.property(truncated, (bytes) => {
        expect(decodeFile(bytes, KEY).kind).toBe('invalid');
      }),
      RUNS,
    );
  });

  it('finds a file with trailing bytes invalid', () => {
    expect(reasonOf(decodeFile(Buffer.concat([small(), Buffer.from([0])]), KEY))).toBe('trailing bytes');
  });
});

describe('fs-format: foreign and corrupt files', () => {
  it('never accepts random bytes, and never throws on them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(decodeFile(Buffer.from(bytes), KEY).kind).not.toBe('ok');
        expect(parseHeader(Buffer.from(bytes), KEY, true).kind).not.toBe('ok');
      }),
      RUNS,
    );
  });

  it('never accepts random bytes behind a valid magic and version, and never throws on them', () => {
    const prefix = small().subarray(0, 8);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(decodeFile(Buffer.concat([prefix, bytes]), KEY).kind).toBe('invalid');
      }),
      RUNS,
    );
  });

  it('never accepts a meta that is any other JSON value, even with a correct checksum', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(decodeFile(rawFile(JSON.stringify(value) ?? 'null'), KEY).kind).toBe('invalid');
      }),
      RUNS,
    );
    for (const json of ['null', '5', '"text"', '[]', '{}', '{', '']) {
      expect(decodeFile(rawFile(json), KEY).kind).toBe('invalid');
    }
  });

  it('rejects a wrong magic', () => {
    const bytes = small();
    bytes.write('SFCF', 0, 'latin1');
    expect(reasonOf(decodeFile(bytes, KEY))).toBe('bad magic');
  });

  it('treats a newer version as foreign (not ours to read or delete) and an older one as invalid', () => {
    const newer = small();
    newer.writeUInt32BE(FORMAT_VERSION + 1, 4);
    expect(decodeFile(newer, KEY)).toEqual({ kind: 'foreign' });
    expect(parseHeader(newer, KEY, true)).toEqual({ kind: 'foreign' });
    const older = small();
    older.writeUInt32BE(0, 4);
    expect(reasonOf(decodeFile(older, KEY))).toBe('unknown version 0');
  });

  it('rejects a file whose meta names another key (a file renamed, or a collision of names)', () => {
    expect(reasonOf(decodeFile(file(OTHER_KEY, smallMeta, [smallBody]), KEY))).toBe('invalid meta');
    expect(reasonOf(decodeFile(small(), OTHER_KEY))).toBe('invalid meta');
  });

  it('rejects a meta whose checksum does not match, whether the meta or the checksum changed', () => {
    const flippedMeta = small();
    flippedMeta[FIXED_HEADER + 3] = (flippedMeta[FIXED_HEADER + 3] as number) ^ 0x20;
    expect(reasonOf(decodeFile(flippedMeta, KEY))).toBe('header checksum mismatch');
    const flippedCrc = small();
    flippedCrc[12] = (flippedCrc[12] as number) ^ 1;
    expect(reasonOf(decodeFile(flippedCrc, KEY))).toBe('header checksum mismatch');
  });

  it('rejects a body block whose checksum does not match, naming the block', () => {
    const bytes = file(KEY, smallMeta, [bigBody]);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    expect(reasonOf(decodeFile(bytes, KEY))).toBe('checksum mismatch in block 1');
    const first = small();
    first[first.length - 10] = (first[first.length - 10] as number) ^ 1;
    expect(reasonOf(decodeFile(first, KEY))).toBe('checksum mismatch in block 0');
  });

  it('rejects a meta length past the limit without reading that far', () => {
    const bytes = small();
    bytes.writeUInt32BE(MAX_META + 1, 8);
    expect(parseHeader(bytes.subarray(0, FIXED_HEADER), KEY, false)).toEqual({
      kind: 'invalid',
      reason: 'oversized meta',
    });
  });

  it('rejects a meta whose block checksums do not fit its length', () => {
    const meta = JSON.parse(
      small()
        .subarray(FIXED_HEADER, small().length - 10)
        .toString('utf8'),
    );
    const wrong = JSON.stringify({ ...meta, crc: [1, 2] });
    expect(reasonOf(decodeFile(rawFile(wrong, smallBody), KEY))).toBe('invalid meta');
    expect(decodeFile(rawFile(JSON.stringify(meta), smallBody), KEY).kind).toBe('ok');
  });
});

describe('fs-format: writing', () => {
  it('refuses an expiresAt that is not a number', () => {
    for (const expiresAt of [Number.NaN, '1' as unknown as number]) {
      let error: unknown;
      try {
        encodeHeader(KEY, { ...smallMeta, expiresAt }, 0, STORED_AT, []);
      } catch (caught) {
        error = caught;
      }
      expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CACHE');
    }
  });

  it('computes one CRC-32 per block across chunk boundaries', () => {
    const whole = blockCrcs([bigBody]);
    expect(whole).toEqual([crc32(bigBody.subarray(0, BLOCK_SIZE)), crc32(bigBody.subarray(BLOCK_SIZE))]);
    expect(
      blockCrcs([
        bigBody.subarray(0, 7),
        bigBody.subarray(7, BLOCK_SIZE + 1),
        bigBody.subarray(BLOCK_SIZE + 1),
      ]),
    ).toEqual(whole);
    expect(blockCrcs([])).toEqual([]);
  });

  it('places a file under two fan-out directories of its key, and refuses keys that are not core-made', () => {
    expect(entryPath('/cache', KEY)).toBe(`/cache/61/3d/${KEY}`);
    for (const bad of ['../../etc/passwd', `${KEY}/x`, KEY.toUpperCase(), '', `.${KEY}`]) {
      expect(() => entryPath('/cache', bad)).toThrow(expect.objectContaining({ code: 'ERR_SLICE_CACHE' }));
    }
  });
});
