import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  evaluatePreconditions,
  parseEtagList,
  parseHttpDate,
  strongEtagMatch,
  weakEtagMatch,
} from '../../src/core/conditional.js';

const RUNS = { numRuns: 1000 };

/** etagc of RFC 9110 §8.8.3 (the ASCII part): %x21 / %x23-7E. */
const ETAGC = [0x21, ...Array.from({ length: 0x7e - 0x23 + 1 }, (_, i) => 0x23 + i)].map((c) =>
  String.fromCharCode(c),
);
const opaque = fc.string({ unit: fc.constantFrom(...ETAGC), maxLength: 12 }).map((text) => `"${text}"`);
const entityTag = fc.tuple(fc.boolean(), opaque).map(([weak, tag]) => (weak ? `W/${tag}` : tag));
const strongTag = opaque;
/** Whole seconds between 1970 and 9999, the range IMF-fixdate can express. */
const seconds = fc.integer({ min: 0, max: 253_402_300_799 });
/** Any byte a header value can carry (Node decodes field values as latin1). */
const latin1 = fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c));
const httpDate = seconds.map((s) => new Date(s * 1000).toUTCString());

function opaqueOf(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

describe('evaluatePreconditions properties', () => {
  it('answers 304 to a GET whose If-None-Match names the current ETag', () => {
    fc.assert(
      fc.property(entityTag, fc.option(httpDate, { nil: undefined }), (etag, lastModified) => {
        const result = evaluatePreconditions('GET', { 'if-none-match': etag }, { etag, lastModified });
        expect(result).toEqual({ outcome: 'not-modified' });
      }),
      RUNS,
    );
  });

  it('answers 412 when If-Match names only other entity-tags', () => {
    fc.assert(
      fc.property(entityTag, fc.array(entityTag, { minLength: 1, maxLength: 4 }), (etag, others) => {
        fc.pre(others.every((other) => opaqueOf(other) !== opaqueOf(etag)));
        const result = evaluatePreconditions('GET', { 'if-match': others.join(', ') }, { etag });
        expect(result).toEqual({ outcome: 'precondition-failed' });
      }),
      RUNS,
    );
  });

  it('passes If-Match exactly when a member is strong and equal to a strong ETag', () => {
    fc.assert(
      fc.property(entityTag, fc.array(entityTag, { minLength: 1, maxLength: 4 }), (etag, list) => {
        const result = evaluatePreconditions('GET', { 'if-match': list.join(' ,') }, { etag });
        const passes = !etag.startsWith('W/') && list.includes(etag);
        expect(result.outcome).toBe(passes ? 'proceed' : 'precondition-failed');
      }),
      RUNS,
    );
  });

  it('answers 304 to If-Modified-Since exactly when Last-Modified is not later', () => {
    fc.assert(
      fc.property(seconds, seconds, (modified, since) => {
        const result = evaluatePreconditions(
          'HEAD',
          { 'if-modified-since': new Date(since * 1000).toUTCString() },
          { lastModified: new Date(modified * 1000).toUTCString() },
        );
        expect(result.outcome).toBe(modified <= since ? 'not-modified' : 'proceed');
      }),
      RUNS,
    );
  });

  it('serves the range exactly when a strong If-Range equals the ETag', () => {
    fc.assert(
      fc.property(entityTag, entityTag, (etag, ifRange) => {
        const result = evaluatePreconditions('GET', { range: 'bytes=0-0', 'if-range': ifRange }, { etag });
        expect(result).toEqual({ outcome: 'proceed', ignoreRange: !strongEtagMatch(ifRange, etag) });
      }),
      RUNS,
    );
  });

  it('never throws and always yields a known outcome on arbitrary header values', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: latin1, maxLength: 40 }),
      httpDate,
      entityTag,
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            'if-match': value,
            'if-none-match': value,
            'if-modified-since': value,
            'if-unmodified-since': value,
            'if-range': value,
            range: fc.constant('bytes=0-1'),
          },
          { requiredKeys: [] },
        ),
        fc.option(entityTag, { nil: undefined }),
        fc.option(fc.oneof(httpDate, fc.string()), { nil: undefined }),
        (headers, etag, lastModified) => {
          const { outcome } = evaluatePreconditions('GET', headers, { etag, lastModified });
          if (outcome !== 'proceed' && outcome !== 'not-modified' && outcome !== 'precondition-failed') {
            throw new Error(`unknown outcome ${String(outcome)}`);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('entity-tag properties', () => {
  it('parses a list of valid entity-tags back to the same tags, whatever the list whitespace', () => {
    const separator = fc.constantFrom(',', ', ', ' ,', '\t,\t', ',,', ' , , ');
    fc.assert(
      fc.property(fc.array(entityTag, { minLength: 1, maxLength: 6 }), separator, (tags, sep) => {
        expect(parseEtagList(` ${tags.join(sep)} `)).toEqual(tags);
      }),
      RUNS,
    );
  });

  it('makes strong comparison imply weak comparison, and both symmetric', () => {
    fc.assert(
      fc.property(entityTag, entityTag, (a, b) => {
        expect(strongEtagMatch(a, b)).toBe(strongEtagMatch(b, a));
        expect(weakEtagMatch(a, b)).toBe(weakEtagMatch(b, a));
        expect(weakEtagMatch(a, b)).toBe(opaqueOf(a) === opaqueOf(b));
        if (strongEtagMatch(a, b)) expect(weakEtagMatch(a, b)).toBe(true);
      }),
      RUNS,
    );
  });

  it('matches a strong tag with itself under both comparisons', () => {
    fc.assert(
      fc.property(strongTag, (tag) => {
        expect(strongEtagMatch(tag, tag)).toBe(true);
        expect(weakEtagMatch(`W/${tag}`, tag)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('parseHttpDate properties', () => {
  it('reads back every IMF-fixdate that Date#toUTCString writes', () => {
    fc.assert(
      fc.property(seconds, (s) => {
        expect(parseHttpDate(new Date(s * 1000).toUTCString())).toBe(s * 1000);
      }),
      RUNS,
    );
  });

  it('reads the same instant from the asctime form', () => {
    fc.assert(
      fc.property(seconds, (s) => {
        // toUTCString is 'Sun, 06 Nov 1994 08:49:37 GMT'; asctime is 'Sun Nov  6 08:49:37 1994'.
        const [day = '', date = '', month = '', year = '', time = ''] = new Date(s * 1000)
          .toUTCString()
          .split(' ');
        const asctime = `${day.slice(0, 3)} ${month} ${String(Number(date)).padStart(2, ' ')} ${time} ${year}`;
        expect(parseHttpDate(asctime)).toBe(s * 1000);
      }),
      RUNS,
    );
  });

  it('returns an integer number of seconds or undefined for any string', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const parsed = parseHttpDate(text);
        if (parsed !== undefined) expect(parsed % 1000).toBe(0);
      }),
      RUNS,
    );
  });
});
