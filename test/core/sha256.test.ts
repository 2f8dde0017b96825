import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/sha256.js';

const nodeSha256 = (input: string) => createHash('sha256').update(input, 'utf8').digest('hex');

describe('sha256Hex', () => {
  it('matches the FIPS 180-4 test vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(sha256Hex('a'.repeat(1_000_000))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('matches node:crypto around every padding boundary', () => {
    for (let length = 0; length <= 200; length++) {
      const input = 'x'.repeat(length);
      expect(sha256Hex(input)).toBe(nodeSha256(input));
    }
  });

  it('matches node:crypto on random ASCII, Unicode and astral strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: 'grapheme', maxLength: 100 }),
          fc.string({ unit: 'binary', maxLength: 200 }),
        ),
        (input) => {
          expect(sha256Hex(input)).toBe(nodeSha256(input));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps lone surrogates apart instead of folding them into U+FFFD', () => {
    // node:crypto (and TextEncoder) map both to EF BF BD; a cache key must not.
    expect(sha256Hex('a\uD800')).not.toBe(sha256Hex('a\uDC00'));
    expect(sha256Hex('a\uD800')).not.toBe(sha256Hex('a\uFFFD'));
    // A proper pair is still ordinary UTF-8.
    expect(sha256Hex('\uD83D\uDE00')).toBe(nodeSha256('😀'));
  });

  it('gives independent results on consecutive calls (no state leaks between calls)', () => {
    const first = sha256Hex('one');
    sha256Hex('x'.repeat(1000));
    expect(sha256Hex('one')).toBe(first);
  });
});
