/**
 * Freshness for a shared cache (R7, RFC 9111): whether the slices of an object may be stored, and for how
 * long, decided once from the reference response — never per slice, so every slice of one version expires
 * together and a stale object is revalidated once.
 *
 * @module
 */
import { parseHttpDate } from './conditional.js';
import { type HeaderRecord, headerValue } from './headers.js';

/** The cache settings that shape a {@link cacheDecision}, already validated. */
export interface FreshnessPolicy {
  /** Lifetime when the origin states none (or when `Cache-Control` is not honoured), in milliseconds. */
  readonly defaultTtlMs: number;
  /** Upper bound on any lifetime, in milliseconds. */
  readonly maxTtlMs: number;
  /** Whether the origin's `Cache-Control` and `Expires` decide storing and lifetime. */
  readonly honorCacheControl: boolean;
  /** Whether responses to requests with `Authorization` or `Cookie` may be stored (R15). */
  readonly cacheAuthorized: boolean;
}

/**
 * Whether to store, and for how long. `reason` is one of `no-store`, `private` or `authorization`.
 * `mustRevalidate` means a stale copy must never be served without a successful revalidation.
 */
export type CacheDecision =
  | { readonly store: false; readonly reason: string }
  | { readonly store: true; readonly ttlMs: number; readonly mustRevalidate: boolean };

/**
 * Decides whether a shared cache stores the object and for how long (RFC 9111 §3, §4.2.1, §5.2.2).
 * `nowMs` is only used to turn `Expires` into a lifetime when the response has no valid `Date`.
 * `requestHasAuthorization` is true when the request carried `Authorization` or `Cookie`.
 *
 * With `honorCacheControl`: `no-store` and `private` are not stored; `no-cache` is stored with a lifetime of
 * 0 and must be revalidated; otherwise the lifetime is `s-maxage`, else `max-age`, else `Expires` − `Date`
 * (each less the response's `Age`), else `defaultTtlMs`, capped at `maxTtlMs`. `Set-Cookie` alone does not
 * prevent storing.
 *
 * @example
 * ```ts
 * const policy = { defaultTtlMs: 60_000, maxTtlMs: 86_400_000, honorCacheControl: true, cacheAuthorized: false };
 * cacheDecision({ 'cache-control': 'public, max-age=300' }, policy, 0, false);
 * // { store: true, ttlMs: 300000, mustRevalidate: false }
 * cacheDecision({ 'cache-control': 'private' }, policy, 0, false); // { store: false, reason: 'private' }
 * ```
 */
export function cacheDecision(
  responseHeaders: HeaderRecord,
  policy: FreshnessPolicy,
  nowMs: number,
  requestHasAuthorization: boolean,
): CacheDecision {
  const guarded = requestHasAuthorization && !policy.cacheAuthorized;
  if (!policy.honorCacheControl) {
    // Without Cache-Control there is no `public` to lift the Authorization rule, so it is absolute here.
    if (guarded) return AUTHORIZATION;
    return { store: true, ttlMs: clampTtl(policy.defaultTtlMs, policy), mustRevalidate: false };
  }

  const directives = parseCacheControl(headerValue(responseHeaders, 'cache-control'));
  // §5.2.2.5 no-store; §5.2.2.7 private (qualified `private="…"` too: dropping just the named fields is not
  // worth the risk of serving one user's response to another).
  if (directives.has('no-store')) return NO_STORE;
  if (directives.has('private')) return PRIVATE;
  // §3.5: a shared cache stores a response to an authenticated request only when the origin says so.
  if (
    guarded &&
    !directives.has('public') &&
    !directives.has('s-maxage') &&
    !directives.has('must-revalidate')
  ) {
    return AUTHORIZATION;
  }

  // §5.2.2.4 no-cache (qualified or not): store, but validate before every use.
  if (directives.has('no-cache')) return { store: true, ttlMs: 0, mustRevalidate: true };

  // §5.2.2.10: s-maxage also implies proxy-revalidate for a shared cache.
  const mustRevalidate =
    directives.has('must-revalidate') || directives.has('proxy-revalidate') || directives.has('s-maxage');
  const explicit = explicitLifetimeMs(directives, responseHeaders, nowMs);
  // §4.2.3: the Age an upstream cache reports has already used up part of an explicit lifetime.
  const ttlMs = explicit === undefined ? policy.defaultTtlMs : explicit - ageMs(responseHeaders);
  return { store: true, ttlMs: clampTtl(ttlMs, policy), mustRevalidate };
}

/**
 * Parses a `Cache-Control` value (RFC 9111 §5.2) into directives: names lower-cased, quoted values unquoted
 * (backslash escapes resolved), a directive without a value mapped to `true`. When a directive repeats,
 * the first occurrence wins (§4.2.1). Garbage between commas is skipped.
 *
 * @example
 * ```ts
 * parseCacheControl('Public, Max-Age=60, private="set-cookie"');
 * // Map { 'public' => true, 'max-age' => '60', 'private' => 'set-cookie' }
 * ```
 */
export function parseCacheControl(value: string | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  if (value === undefined) return directives;
  const n = value.length;
  let i = 0;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c === COMMA || c === SP || c === TAB) {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < n && isTokenChar(value.charCodeAt(i))) i++;
    const name = value.slice(nameStart, i).toLowerCase();
    i = skipOws(value, i);
    let directive: string | true = true;
    if (value.charCodeAt(i) === EQUALS) {
      i = skipOws(value, i + 1);
      if (value.charCodeAt(i) === DQUOTE) {
        let text = '';
        for (i++; i < n && value.charCodeAt(i) !== DQUOTE; i++) {
          // quoted-pair (RFC 9110 §5.6.4): the backslash escapes the next character.
          if (value.charCodeAt(i) === BACKSLASH && i + 1 < n) i++;
          text += value[i];
        }
        directive = text;
        i++;
      } else {
        const valueStart = i;
        while (i < n && isTokenChar(value.charCodeAt(i))) i++;
        directive = value.slice(valueStart, i);
      }
    }
    if (name !== '' && !directives.has(name)) directives.set(name, directive);
    // Skip anything malformed up to the next directive.
    const comma = value.indexOf(',', i);
    i = comma < 0 ? n : comma + 1;
  }
  return directives;
}

// ---------------------------------------------------------------------------------------------------------

const NO_STORE: CacheDecision = { store: false, reason: 'no-store' };
const PRIVATE: CacheDecision = { store: false, reason: 'private' };
const AUTHORIZATION: CacheDecision = { store: false, reason: 'authorization' };

const SP = 0x20;
const TAB = 0x09;
const DQUOTE = 0x22;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;
/** §1.2.2: a delta-seconds too large to represent is taken as 2^31 seconds. */
const MAX_DELTA_SECONDS = 2 ** 31;
const DELTA_SECONDS = /^[0-9]+$/;
/** tchar of RFC 9110 §5.6.2 as a lookup table, so the scanner allocates nothing per character. */
const TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[ch.charCodeAt(0)] = 1;
}

/** The explicit freshness lifetime of §4.2.1 (s-maxage, max-age, Expires), or `undefined` if none. */
function explicitLifetimeMs(
  directives: Map<string, string | true>,
  headers: HeaderRecord,
  nowMs: number,
): number | undefined {
  const sMaxAge = directives.get('s-maxage');
  if (sMaxAge !== undefined) return deltaSecondsMs(sMaxAge);
  const maxAge = directives.get('max-age');
  if (maxAge !== undefined) return deltaSecondsMs(maxAge);
  const expires = headerValue(headers, 'expires');
  if (expires !== undefined) {
    // §5.3: an invalid Expires (notably "0", or two values) means "already expired".
    const expiresMs = parseHttpDate(expires);
    if (expiresMs === undefined) return 0;
    const date = headerValue(headers, 'date');
    const dateMs = date === undefined ? undefined : parseHttpDate(date);
    // §4.2.1: Expires − Date; without a usable Date, the time of receipt stands in for it.
    return expiresMs - (dateMs ?? nowMs);
  }
  return undefined;
}

/** The `Age` field (§5.1) in milliseconds; an invalid or repeated value is ignored. */
function ageMs(headers: HeaderRecord): number {
  const age = headerValue(headers, 'age');
  return age === undefined ? 0 : deltaSecondsMs(age.trim());
}

/**
 * A directive's delta-seconds in milliseconds. A missing or malformed value (`max-age`, `max-age=-1`) makes
 * the response stale rather than guessed at (§4.2.1), so it is revalidated before use.
 */
function deltaSecondsMs(value: string | true): number {
  if (value === true || !DELTA_SECONDS.test(value)) return 0;
  return Math.min(Number(value), MAX_DELTA_SECONDS) * 1000;
}

function clampTtl(ttlMs: number, policy: FreshnessPolicy): number {
  return Math.max(0, Math.min(ttlMs, policy.maxTtlMs));
}

function isTokenChar(c: number): boolean {
  return c < 0x80 && TCHAR[c] === 1;
}

function skipOws(value: string, from: number): number {
  let i = from;
  while (i < value.length && (value.charCodeAt(i) === SP || value.charCodeAt(i) === TAB)) i++;
  return i;
}
