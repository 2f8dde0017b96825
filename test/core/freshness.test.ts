import { describe, expect, it } from 'vitest';
import {
  type CacheDecision,
  cacheDecision,
  type FreshnessPolicy,
  parseCacheControl,
} from '../../src/core/freshness.js';
import type { HeaderRecord } from '../../src/core/headers.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const POLICY: FreshnessPolicy = {
  defaultTtlMs: 5 * MINUTE,
  maxTtlMs: DAY,
  honorCacheControl: true,
  cacheAuthorized: false,
};
const IGNORING: FreshnessPolicy = { ...POLICY, honorCacheControl: false };
const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);
const DATE = 'Mon, 01 Jan 2024 12:00:00 GMT';
const IN_AN_HOUR = 'Mon, 01 Jan 2024 13:00:00 GMT';

function ttl(ttlMs: number, mustRevalidate = false): CacheDecision {
  return { store: true, ttlMs, mustRevalidate };
}

const cases: ReadonlyArray<[title: string, headers: HeaderRecord, decision: CacheDecision]> = [
  ['uses the default lifetime when the origin states none', {}, ttl(5 * MINUTE)],
  ['does not store no-store', { 'cache-control': 'no-store' }, { store: false, reason: 'no-store' }],
  [
    'does not store no-store whatever else is said',
    { 'cache-control': 'public, max-age=60, no-store' },
    { store: false, reason: 'no-store' },
  ],
  ['does not store private', { 'cache-control': 'private, max-age=60' }, { store: false, reason: 'private' }],
  [
    'does not store a qualified private',
    { 'cache-control': 'private="set-cookie"' },
    { store: false, reason: 'private' },
  ],
  [
    'reads directive names in any case',
    { 'cache-control': 'No-Store' },
    { store: false, reason: 'no-store' },
  ],
  ['stores no-cache as immediately stale', { 'cache-control': 'no-cache, max-age=600' }, ttl(0, true)],
  [
    'stores a qualified no-cache as immediately stale',
    { 'cache-control': 'no-cache="set-cookie"' },
    ttl(0, true),
  ],
  ['honours max-age', { 'cache-control': 'max-age=600' }, ttl(600_000)],
  [
    'lets s-maxage win over max-age and imply revalidation',
    { 'cache-control': 'max-age=600, s-maxage=60' },
    ttl(60_000, true),
  ],
  [
    'lets max-age win over Expires',
    { 'cache-control': 'max-age=60', date: DATE, expires: IN_AN_HOUR },
    ttl(60_000),
  ],
  ['takes the lifetime from Expires minus Date', { date: DATE, expires: IN_AN_HOUR }, ttl(60 * MINUTE)],
  ['takes Expires minus now when Date is missing', { expires: IN_AN_HOUR }, ttl(60 * MINUTE)],
  ['takes Expires minus now when Date is invalid', { date: 'today', expires: IN_AN_HOUR }, ttl(60 * MINUTE)],
  ['treats Expires: 0 as already expired', { expires: '0' }, ttl(0)],
  ['treats an Expires in the past as already expired', { date: IN_AN_HOUR, expires: DATE }, ttl(0)],
  ['treats two Expires values as already expired', { expires: [IN_AN_HOUR, IN_AN_HOUR] }, ttl(0)],
  ['treats a malformed max-age as stale', { 'cache-control': 'max-age=-1' }, ttl(0)],
  ['treats a max-age without a value as stale', { 'cache-control': 'max-age' }, ttl(0)],
  ['accepts a quoted max-age', { 'cache-control': 'max-age="60"' }, ttl(60_000)],
  [
    'uses the first of repeated max-age directives',
    { 'cache-control': 'max-age=60, max-age=600' },
    ttl(60_000),
  ],
  ['caps the lifetime at maxTtlMs', { 'cache-control': 'max-age=99999999999999999999' }, ttl(DAY)],
  ['marks must-revalidate', { 'cache-control': 'max-age=60, must-revalidate' }, ttl(60_000, true)],
  ['marks proxy-revalidate', { 'cache-control': 'max-age=60, proxy-revalidate' }, ttl(60_000, true)],
  [
    'reads repeated Cache-Control fields as one list',
    { 'cache-control': ['public', 'no-store'] },
    { store: false, reason: 'no-store' },
  ],
  [
    'is not put off by Set-Cookie alone',
    { 'set-cookie': 'id=1', 'cache-control': 'max-age=60' },
    ttl(60_000),
  ],
  [
    'subtracts the Age an upstream cache reports from max-age',
    { 'cache-control': 'max-age=600', age: '100' },
    ttl(500_000),
  ],
  ['subtracts Age from s-maxage', { 'cache-control': 's-maxage=60', age: '10' }, ttl(50_000, true)],
  ['subtracts Age from Expires minus Date', { date: DATE, expires: IN_AN_HOUR, age: '60' }, ttl(59 * MINUTE)],
  ['treats an Age beyond the lifetime as stale', { 'cache-control': 'max-age=60', age: '3600' }, ttl(0)],
  ['ignores an invalid Age', { 'cache-control': 'max-age=60', age: 'old' }, ttl(60_000)],
  ['does not apply Age to the default lifetime', { age: '60' }, ttl(5 * MINUTE)],
  ['skips garbage between directives', { 'cache-control': '=, ;;, max-age=60' }, ttl(60_000)],
];

describe('cacheDecision', () => {
  it.each(cases)('%s', (_title, headers, decision) => {
    expect(cacheDecision(headers, POLICY, NOW, false)).toEqual(decision);
  });

  it.each<[string, string | undefined, CacheDecision]>([
    [
      'refuses an authenticated response without permission',
      undefined,
      { store: false, reason: 'authorization' },
    ],
    [
      'refuses an authenticated response marked only max-age',
      'max-age=60',
      { store: false, reason: 'authorization' },
    ],
    ['stores an authenticated response marked public', 'public, max-age=60', ttl(60_000)],
    ['stores an authenticated response with s-maxage', 's-maxage=60', ttl(60_000, true)],
    ['stores an authenticated response with must-revalidate', 'must-revalidate', ttl(5 * MINUTE, true)],
    ['still refuses a public but private response', 'public, private', { store: false, reason: 'private' }],
  ])('%s (RFC 9111 §3.5)', (_title, cacheControl, decision) => {
    expect(cacheDecision({ 'cache-control': cacheControl }, POLICY, NOW, true)).toEqual(decision);
  });

  it('stores an authenticated response when cacheAuthorized allows it', () => {
    const policy = { ...POLICY, cacheAuthorized: true };
    expect(cacheDecision({ 'cache-control': 'max-age=60' }, policy, NOW, true)).toEqual(ttl(60_000));
  });

  it('stores everything for the default lifetime when Cache-Control is not honoured', () => {
    for (const [, headers] of cases)
      expect(cacheDecision(headers, IGNORING, NOW, false)).toEqual(ttl(5 * MINUTE));
  });

  it('still refuses authenticated responses when Cache-Control is not honoured', () => {
    const headers = { 'cache-control': 'public, s-maxage=60' };
    expect(cacheDecision(headers, IGNORING, NOW, true)).toEqual({ store: false, reason: 'authorization' });
    expect(cacheDecision(headers, { ...IGNORING, cacheAuthorized: true }, NOW, true)).toEqual(
      ttl(5 * MINUTE),
    );
  });

  it('caps the default lifetime at maxTtlMs too', () => {
    const policy = { ...POLICY, defaultTtlMs: 2 * DAY };
    expect(cacheDecision({}, policy, NOW, false)).toEqual(ttl(DAY));
    expect(cacheDecision({}, { ...policy, honorCacheControl: false }, NOW, false)).toEqual(ttl(DAY));
  });
});

describe('parseCacheControl', () => {
  it.each<[string | undefined, Record<string, string | true>]>([
    [undefined, {}],
    ['', {}],
    ['no-store', { 'no-store': true }],
    ['Public, MAX-AGE=60', { public: true, 'max-age': '60' }],
    ['private="set-cookie, x-user"', { private: 'set-cookie, x-user' }],
    ['no-cache="a\\"b", max-age=5', { 'no-cache': 'a"b', 'max-age': '5' }],
    [' , max-age = 7 ,, s-maxage=8 ', { 'max-age': '7', 's-maxage': '8' }],
    ['max-age=1, max-age=2', { 'max-age': '1' }],
    ['ext="unterminated', { ext: 'unterminated' }],
    ['a=b c, d', { a: 'b', d: true }],
  ])('parses %j', (value, expected) => {
    expect(Object.fromEntries(parseCacheControl(value))).toEqual(expected);
  });
});
