import { describe, expect, it } from 'vitest';
import {
  evaluatePreconditions,
  type PreconditionResult,
  parseEtagList,
  parseHttpDate,
  strongEtagMatch,
  type ValidatorFacts,
  weakEtagMatch,
} from '../../src/core/conditional.js';
import type { HeaderRecord } from '../../src/core/headers.js';

const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
const EARLIER = 'Wed, 21 Oct 2015 07:27:59 GMT';
const LATER = 'Wed, 21 Oct 2015 07:28:01 GMT';
const FACTS: ValidatorFacts = { etag: '"v1"', lastModified: LAST_MODIFIED };
const WEAK_FACTS: ValidatorFacts = { etag: 'W/"v1"', lastModified: LAST_MODIFIED };
const NO_VALIDATORS: ValidatorFacts = {};

const PROCEED: PreconditionResult = { outcome: 'proceed', ignoreRange: false };
const FULL: PreconditionResult = { outcome: 'proceed', ignoreRange: true };
const NOT_MODIFIED: PreconditionResult = { outcome: 'not-modified' };
const FAILED: PreconditionResult = { outcome: 'precondition-failed' };

const RANGE = { range: 'bytes=0-99' };

const cases: ReadonlyArray<
  [title: string, headers: HeaderRecord, facts: ValidatorFacts, expected: PreconditionResult]
> = [
  ['proceeds when the request carries no precondition', {}, FACTS, PROCEED],
  // If-None-Match (RFC 9110 §13.1.2)
  [
    'answers 304 to If-None-Match: * when a representation exists',
    { 'if-none-match': '*' },
    FACTS,
    NOT_MODIFIED,
  ],
  [
    'answers 304 to If-None-Match: * even without validators',
    { 'if-none-match': '*' },
    NO_VALIDATORS,
    NOT_MODIFIED,
  ],
  ['answers 304 when a list member matches weakly', { 'if-none-match': '"v0", W/"v1"' }, FACTS, NOT_MODIFIED],
  [
    'answers 304 when a strong member matches a weak ETag',
    { 'if-none-match': '"v1"' },
    WEAK_FACTS,
    NOT_MODIFIED,
  ],
  ['proceeds when no If-None-Match member matches', { 'if-none-match': '"v0", W/"v2"' }, FACTS, PROCEED],
  [
    'proceeds on If-None-Match when the object has no ETag',
    { 'if-none-match': '"v1"' },
    NO_VALIDATORS,
    PROCEED,
  ],
  [
    'reads repeated If-None-Match fields as one list',
    { 'if-none-match': ['"a"', '"v1"'] },
    FACTS,
    NOT_MODIFIED,
  ],
  // If-Match (§13.1.1)
  ['proceeds when If-Match matches strongly', { 'if-match': '"v0", "v1"' }, FACTS, PROCEED],
  ['answers 412 when If-Match names another tag', { 'if-match': '"v0"' }, FACTS, FAILED],
  ['answers 412 when If-Match would only match weakly', { 'if-match': 'W/"v1"' }, FACTS, FAILED],
  ['answers 412 when the ETag itself is weak', { 'if-match': '"v1"' }, WEAK_FACTS, FAILED],
  ['proceeds on If-Match: * when a representation exists', { 'if-match': '*' }, NO_VALIDATORS, PROCEED],
  [
    'answers 412 on an If-Match list when the object has no ETag',
    { 'if-match': '"v1"' },
    NO_VALIDATORS,
    FAILED,
  ],
  // If-Unmodified-Since (§13.1.4)
  ['proceeds when unmodified since an equal date', { 'if-unmodified-since': LAST_MODIFIED }, FACTS, PROCEED],
  ['proceeds when unmodified since a later date', { 'if-unmodified-since': LATER }, FACTS, PROCEED],
  [
    'answers 412 when modified after the If-Unmodified-Since date',
    { 'if-unmodified-since': EARLIER },
    FACTS,
    FAILED,
  ],
  ['ignores an invalid If-Unmodified-Since date', { 'if-unmodified-since': 'soon' }, FACTS, PROCEED],
  [
    'ignores If-Unmodified-Since when the object has no Last-Modified',
    { 'if-unmodified-since': EARLIER },
    NO_VALIDATORS,
    PROCEED,
  ],
  ['ignores two If-Unmodified-Since fields', { 'if-unmodified-since': [EARLIER, EARLIER] }, FACTS, PROCEED],
  // If-Modified-Since (§13.1.3)
  [
    'answers 304 when not modified since an equal date',
    { 'if-modified-since': LAST_MODIFIED },
    FACTS,
    NOT_MODIFIED,
  ],
  ['answers 304 when not modified since a later date', { 'if-modified-since': LATER }, FACTS, NOT_MODIFIED],
  [
    'proceeds when modified after the If-Modified-Since date',
    { 'if-modified-since': EARLIER },
    FACTS,
    PROCEED,
  ],
  ['ignores an invalid If-Modified-Since date', { 'if-modified-since': '2015-10-21' }, FACTS, PROCEED],
  [
    'ignores a list of If-Modified-Since dates',
    { 'if-modified-since': `${LATER}, ${LATER}` },
    FACTS,
    PROCEED,
  ],
  ['ignores If-Modified-Since without Last-Modified', { 'if-modified-since': LATER }, NO_VALIDATORS, PROCEED],
  [
    'compares If-Modified-Since at one-second resolution across date formats',
    { 'if-modified-since': 'Wednesday, 21-Oct-15 07:28:00 GMT' },
    FACTS,
    NOT_MODIFIED,
  ],
  // If-Range (§13.1.5)
  [
    'serves the range when If-Range matches the ETag strongly',
    { ...RANGE, 'if-range': '"v1"' },
    FACTS,
    PROCEED,
  ],
  ['sends the full 200 when the If-Range ETag differs', { ...RANGE, 'if-range': '"v0"' }, FACTS, FULL],
  ['never matches a weak If-Range ETag', { ...RANGE, 'if-range': 'W/"v1"' }, FACTS, FULL],
  ['never matches If-Range against a weak ETag', { ...RANGE, 'if-range': 'W/"v1"' }, WEAK_FACTS, FULL],
  [
    'serves the range when the If-Range date equals Last-Modified',
    { ...RANGE, 'if-range': LAST_MODIFIED },
    FACTS,
    PROCEED,
  ],
  ['sends the full 200 when the If-Range date is later', { ...RANGE, 'if-range': LATER }, FACTS, FULL],
  ['sends the full 200 when the If-Range date is earlier', { ...RANGE, 'if-range': EARLIER }, FACTS, FULL],
  ['sends the full 200 when If-Range is neither tag nor date', { ...RANGE, 'if-range': 'v1' }, FACTS, FULL],
  [
    'sends the full 200 on an If-Range date without Last-Modified',
    { ...RANGE, 'if-range': LATER },
    NO_VALIDATORS,
    FULL,
  ],
  ['sends the full 200 on two If-Range fields', { ...RANGE, 'if-range': ['"v1"', '"v1"'] }, FACTS, FULL],
  ['ignores If-Range when the request has no Range', { 'if-range': '"v0"' }, FACTS, PROCEED],
  // Precedence (§13.2.2)
  [
    'ignores If-Unmodified-Since when If-Match is present',
    { 'if-match': '"v1"', 'if-unmodified-since': EARLIER },
    FACTS,
    PROCEED,
  ],
  [
    'ignores If-Modified-Since when If-None-Match is present',
    { 'if-none-match': '"v0"', 'if-modified-since': LATER },
    FACTS,
    PROCEED,
  ],
  [
    'fails If-Match before looking at If-None-Match',
    { 'if-match': '"v0"', 'if-none-match': '"v1"' },
    FACTS,
    FAILED,
  ],
  [
    'fails If-Unmodified-Since before looking at If-Modified-Since',
    { 'if-unmodified-since': EARLIER, 'if-modified-since': LATER },
    FACTS,
    FAILED,
  ],
  [
    'answers 304 before evaluating If-Range',
    { ...RANGE, 'if-none-match': '"v1"', 'if-range': '"v0"' },
    FACTS,
    NOT_MODIFIED,
  ],
  [
    'evaluates If-Range after the other conditions pass',
    { ...RANGE, 'if-match': '"v1"', 'if-modified-since': EARLIER, 'if-range': '"v0"' },
    FACTS,
    FULL,
  ],
];

describe('evaluatePreconditions', () => {
  it.each(cases)('%s', (_title, headers, facts, expected) => {
    expect(evaluatePreconditions('GET', headers, facts)).toEqual(expected);
  });

  it('evaluates HEAD exactly like GET', () => {
    for (const [, headers, facts, expected] of cases) {
      expect(evaluatePreconditions('HEAD', headers, facts)).toEqual(expected);
    }
  });

  it('answers 412 instead of 304 to an untyped caller passing another method', () => {
    const method = 'PUT' as 'GET';
    expect(evaluatePreconditions(method, { 'if-none-match': '*' }, FACTS)).toEqual(FAILED);
    expect(evaluatePreconditions(method, { 'if-modified-since': LATER }, FACTS)).toEqual(PROCEED);
  });
});

describe('strongEtagMatch and weakEtagMatch', () => {
  // The table of RFC 9110 §8.8.3.2.
  it.each([
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', 'W/"1"', false, true],
    ['"1"', '"1"', true, true],
    ['"1"', '"2"', false, false],
    ['"1"', '"11"', false, false],
    ['W/"1"', '"11"', false, false],
  ])('compares %s with %s as the RFC table says', (a, b, strong, weak) => {
    expect(strongEtagMatch(a, b)).toBe(strong);
    expect(weakEtagMatch(a, b)).toBe(weak);
  });
});

describe('parseEtagList', () => {
  it.each<[string, '*' | string[]]>([
    ['*', '*'],
    ['  *\t', '*'],
    ['"a"', ['"a"']],
    ['"a", W/"b"', ['"a"', 'W/"b"']],
    ['"a,b" ,\tW/"c"', ['"a,b"', 'W/"c"']],
    [',, "a" ,,', ['"a"']],
    ['""', ['""']],
    ['"a", *', ['"a"']],
    ['bogus, "a"', ['"a"']],
    ['"unterminated, "a"', ['"a"']],
    ['w/"lower", "a"', ['"a"']],
    ['"a" junk, "b"', ['"b"']],
    ['"sp ace", "b"', ['"b"']],
    ['', []],
  ])('parses %j', (value, expected) => {
    expect(parseEtagList(value)).toEqual(expected);
  });
});

describe('parseHttpDate', () => {
  const EPOCH_1994 = 784_111_777_000;

  it.each([
    ['Sun, 06 Nov 1994 08:49:37 GMT', EPOCH_1994],
    ['Sunday, 06-Nov-94 08:49:37 GMT', EPOCH_1994],
    ['Sun Nov  6 08:49:37 1994', EPOCH_1994],
    ['  Sun, 06 Nov 1994 08:49:37 GMT\t', EPOCH_1994],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['Tuesday, 01-Jan-30 00:00:00 GMT', Date.UTC(2030, 0, 1)],
    ['Thursday, 01-Jan-70 00:00:00 GMT', 0],
    ['Tue, 29 Feb 2000 12:00:00 GMT', Date.UTC(2000, 1, 29, 12)],
    ['Sat, 01 Jan 0050 00:00:00 GMT', Date.UTC(2050, 0, 1) - 5 * 146_097 * 86_400_000],
  ])('parses %j', (value, expected) => {
    expect(parseHttpDate(value)).toBe(expected);
  });

  it.each([
    '',
    'yesterday',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 6 Nov 1994 08:49:37 GMT',
    'Sun, 06 nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'Sun, 06 Nov 1994 08:60:00 GMT',
    'Sun, 31 Nov 1994 08:49:37 GMT',
    'Fri, 29 Feb 1900 00:00:00 GMT',
    'Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT',
    '784111777',
    '2015-10-21T07:28:00Z',
  ])('rejects %j', (value) => {
    expect(parseHttpDate(value)).toBeUndefined();
  });
});
