/**
 * Conditional requests (R13, RFC 9110 §13): the client's preconditions are evaluated once, by the proxy,
 * against the reference response's validators, and never forwarded on slice requests — a slice request
 * carrying the client's `If-None-Match` would come back 304 and break the body.
 *
 * @module
 */
import { type HeaderRecord, headerValue, singleHeader } from './headers.js';

/** The validators of the selected representation, as the origin sent them on the reference response. */
export interface ValidatorFacts {
  /** The `ETag` field value, e.g. `"abc"` or `W/"abc"`. */
  readonly etag?: string | undefined;
  /** The `Last-Modified` field value, an HTTP-date. */
  readonly lastModified?: string | undefined;
}

/** What the proxy answers after evaluating the preconditions. */
export type PreconditionResult =
  /** Serve the request; `ignoreRange` means an `If-Range` did not match, so send the full 200. */
  | { readonly outcome: 'proceed'; readonly ignoreRange: boolean }
  /** Answer 304 Not Modified. */
  | { readonly outcome: 'not-modified' }
  /** Answer 412 Precondition Failed. */
  | { readonly outcome: 'precondition-failed' };

/**
 * Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` and `If-Range` in the
 * order of RFC 9110 §13.2.2. Allocation-free when the request carries no precondition.
 *
 * @example
 * ```ts
 * evaluatePreconditions('GET', { 'if-none-match': 'W/"v1", "v2"' }, { etag: '"v1"' }); // { outcome: 'not-modified' }
 * evaluatePreconditions('GET', { 'if-match': '"v0"' }, { etag: '"v1"' }); // { outcome: 'precondition-failed' }
 * evaluatePreconditions('GET', { range: 'bytes=0-9', 'if-range': '"v0"' }, { etag: '"v1"' });
 * // { outcome: 'proceed', ignoreRange: true }
 * ```
 */
export function evaluatePreconditions(
  method: 'GET' | 'HEAD',
  requestHeaders: HeaderRecord,
  facts: ValidatorFacts,
): PreconditionResult {
  // §13.2.2 step 1: If-Match, strong comparison (§13.1.1); `*` is true because a representation exists.
  const ifMatch = headerValue(requestHeaders, 'if-match');
  if (ifMatch !== undefined) {
    if (!listMatches(ifMatch, facts.etag, strongEtagMatch)) return FAILED;
  } else {
    // Step 2: If-Unmodified-Since, only without If-Match. §13.1.4: it is ignored when the value is not one
    // valid HTTP-date or when the resource has no modification date — so an unknown date never causes 412.
    const since = dateHeader(requestHeaders, 'if-unmodified-since');
    if (since !== undefined) {
      const modified = lastModifiedOf(facts);
      if (modified !== undefined && modified > since) return FAILED;
    }
  }

  // Step 3: If-None-Match, weak comparison (§13.1.2); false on GET/HEAD means 304.
  const ifNoneMatch = headerValue(requestHeaders, 'if-none-match');
  if (ifNoneMatch !== undefined) {
    // The method test only matters for untyped callers: any other method gets 412 here.
    if (listMatches(ifNoneMatch, facts.etag, weakEtagMatch)) {
      return isSafeRead(method) ? NOT_MODIFIED : FAILED;
    }
  } else if (isSafeRead(method)) {
    // Step 4: If-Modified-Since (§13.1.3), GET/HEAD only, ignored on an invalid date, a list of dates or a
    // resource without a modification date. Both sides are HTTP-dates: one-second resolution is inherent.
    const since = dateHeader(requestHeaders, 'if-modified-since');
    if (since !== undefined) {
      const modified = lastModifiedOf(facts);
      if (modified !== undefined && modified <= since) return NOT_MODIFIED;
    }
  }

  // Step 5: If-Range (§13.1.5), ignored without a Range field. §13.2.2 names GET only; HEAD gets it too
  // because a HEAD answer carries the header fields the GET would have (§9.3.2).
  if (headerValue(requestHeaders, 'range') === undefined) return PROCEED;
  const ifRange = singleHeader(requestHeaders, 'if-range');
  if (ifRange.state === 'absent') return PROCEED;
  // Two If-Range fields cannot both be "the" validator: the safe reading is a mismatch (full 200).
  if (ifRange.state === 'duplicated') return PROCEED_FULL;
  return ifRangeMatches(ifRange.value, facts) ? PROCEED : PROCEED_FULL;
}

/**
 * Strong comparison (RFC 9110 §8.8.3.2): both entity-tags are strong and their opaque tags are equal.
 *
 * @example
 * ```ts
 * strongEtagMatch('"a"', '"a"'); // true
 * strongEtagMatch('W/"a"', '"a"'); // false
 * ```
 */
export function strongEtagMatch(a: string, b: string): boolean {
  return a === b && !isWeak(a);
}

/**
 * Weak comparison (RFC 9110 §8.8.3.2): the opaque tags are equal, whether either is marked weak or not.
 *
 * @example
 * ```ts
 * weakEtagMatch('W/"a"', '"a"'); // true
 * weakEtagMatch('"a"', '"b"'); // false
 * ```
 */
export function weakEtagMatch(a: string, b: string): boolean {
  // Compare the opaque tags without slicing: when exactly one side carries `W/`, the other side is the
  // weak one's suffix.
  const aWeak = isWeak(a);
  if (aWeak === isWeak(b)) return a === b;
  return aWeak ? a.length === b.length + 2 && a.endsWith(b) : b.length === a.length + 2 && b.endsWith(a);
}

/**
 * Parses an `If-Match` / `If-None-Match` value (RFC 9110 §13.1.1): `*`, or a list of entity-tags. Invalid
 * members (unquoted, unterminated, `*` inside a list) are skipped rather than failing the whole field;
 * commas inside a quoted tag belong to the tag.
 *
 * @example
 * ```ts
 * parseEtagList('*'); // '*'
 * parseEtagList(' "a", W/"b,c" , bogus'); // ['"a"', 'W/"b,c"']
 * ```
 */
export function parseEtagList(value: string): '*' | string[] {
  const tags: string[] = [];
  const n = value.length;
  let i = skipOws(value, 0);
  if (value.charCodeAt(i) === STAR && skipOws(value, i + 1) === n) return '*';
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c === COMMA || c === SP || c === TAB) {
      i++;
      continue;
    }
    const start = i;
    const end = entityTagEnd(value, i);
    const after = end < 0 ? -1 : skipOws(value, end);
    if (after >= 0 && (after === n || value.charCodeAt(after) === COMMA)) {
      tags.push(value.slice(start, end));
      i = after;
    } else {
      // Resynchronise at the next comma after the member's first character.
      const comma = value.indexOf(',', start + 1);
      i = comma < 0 ? n : comma;
    }
  }
  return tags;
}

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7) in any of its three forms — IMF-fixdate, the obsolete RFC 850 form
 * and asctime — into milliseconds since the epoch; `undefined` for anything else (including a list).
 *
 * RFC 850 two-digit years are read as 1970–2069. §5.6.7 asks for "more than 50 years in the future means
 * the past century", which needs a clock; a fixed pivot keeps this function pure and only differs for dates
 * that no live server sends in a format obsolete since 1999.
 *
 * @example
 * ```ts
 * parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'); // 784111777000
 * parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'); // 784111777000
 * parseHttpDate('Sun Nov  6 08:49:37 1994'); // 784111777000
 * parseHttpDate('yesterday'); // undefined
 * ```
 */
export function parseHttpDate(value: string): number | undefined {
  const text = value.slice(skipOws(value, 0), trimEnd(value));
  let match = IMF_FIXDATE.exec(text);
  if (match !== null) return toEpoch(match[3], match[2], match[1], match[4], match[5], match[6]);
  match = RFC850_DATE.exec(text);
  if (match !== null) {
    const yy = Number(match[3]);
    return toEpoch(String(yy < 70 ? 2000 + yy : 1900 + yy), match[2], match[1], match[4], match[5], match[6]);
  }
  match = ASCTIME_DATE.exec(text);
  if (match !== null) return toEpoch(match[6], match[1], match[2], match[3], match[4], match[5]);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------

const PROCEED: PreconditionResult = { outcome: 'proceed', ignoreRange: false };
const PROCEED_FULL: PreconditionResult = { outcome: 'proceed', ignoreRange: true };
const NOT_MODIFIED: PreconditionResult = { outcome: 'not-modified' };
const FAILED: PreconditionResult = { outcome: 'precondition-failed' };

const SP = 0x20;
const TAB = 0x09;
const DQUOTE = 0x22;
const STAR = 0x2a;
const COMMA = 0x2c;
const SLASH = 0x2f;
const UPPER_W = 0x57;

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function isSafeRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

function isWeak(tag: string): boolean {
  return tag.charCodeAt(0) === UPPER_W && tag.charCodeAt(1) === SLASH;
}

/** Whether the `If-Match`/`If-None-Match` value matches the current ETag under `compare`. */
function listMatches(
  value: string,
  etag: string | undefined,
  compare: (a: string, b: string) => boolean,
): boolean {
  const list = parseEtagList(value);
  // `*` matches whenever a current representation exists, which it does once the reference answered.
  if (list === '*') return true;
  if (etag === undefined) return false;
  for (const tag of list) if (compare(tag, etag)) return true;
  return false;
}

/** §13.1.5: an entity-tag must match strongly (a weak one never does); a date must equal Last-Modified. */
function ifRangeMatches(raw: string, facts: ValidatorFacts): boolean {
  const start = skipOws(raw, 0);
  const end = trimEnd(raw);
  const first = raw.charCodeAt(start);
  // `W/` (not just `W`: "Wed, 21 Oct 2015 …" is a date) or a quote starts an entity-tag.
  if (first === DQUOTE || (first === UPPER_W && raw.charCodeAt(start + 1) === SLASH)) {
    const tagEnd = entityTagEnd(raw, start);
    if (tagEnd !== end || facts.etag === undefined) return false;
    return strongEtagMatch(raw.slice(start, end), facts.etag);
  }
  // §13.1.5 also wants the date to be a strong validator (§8.8.2.2: Last-Modified at least a second before
  // the response's Date). The facts carry no Date, so exact equality is taken as the match.
  const date = parseHttpDate(raw);
  return date !== undefined && date === lastModifiedOf(facts);
}

/** The end (exclusive) of the entity-tag starting at `i` (RFC 9110 §8.8.3), or −1 if there is none. */
function entityTagEnd(value: string, i: number): number {
  let j = i;
  if (value.charCodeAt(j) === UPPER_W && value.charCodeAt(j + 1) === SLASH) j += 2;
  if (value.charCodeAt(j) !== DQUOTE) return -1;
  for (j++; j < value.length; j++) {
    const c = value.charCodeAt(j);
    if (c === DQUOTE) return j + 1;
    // etagc = %x21 / %x23-7E / obs-text (%x80-FF)
    if (c < 0x21 || c === 0x7f || c > 0xff) return -1;
  }
  return -1;
}

/** A date precondition field, or `undefined` when absent, repeated or invalid (all mean "ignore it"). */
function dateHeader(headers: HeaderRecord, name: string): number | undefined {
  const field = singleHeader(headers, name);
  return field.state === 'present' ? parseHttpDate(field.value) : undefined;
}

function lastModifiedOf(facts: ValidatorFacts): number | undefined {
  return facts.lastModified === undefined ? undefined : parseHttpDate(facts.lastModified);
}

function toEpoch(
  year?: string,
  month?: string,
  day?: string,
  hour?: string,
  minute?: string,
  second?: string,
): number | undefined {
  const y = Number(year);
  const m = MONTHS.indexOf(month ?? '');
  const d = Number(day);
  const h = Number(hour);
  const mi = Number(minute);
  const s = Number(second);
  // Seconds up to 60 allow a leap second (RFC 5322 §3.3); it rolls into the next minute.
  if (d < 1 || d > daysInMonth(y, m) || h > 23 || mi > 59 || s > 60) return undefined;
  // Date.UTC reads years 0–99 as 1900–1999; 400 Gregorian years are exactly 146097 days, so shift and back.
  if (y < 100) return Date.UTC(y + 400, m, d, h, mi, s) - FOUR_CENTURIES_MS;
  return Date.UTC(y, m, d, h, mi, s);
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}

function skipOws(value: string, from: number): number {
  let i = from;
  while (i < value.length && (value.charCodeAt(i) === SP || value.charCodeAt(i) === TAB)) i++;
  return i;
}

function trimEnd(value: string): number {
  let end = value.length;
  while (end > 0 && (value.charCodeAt(end - 1) === SP || value.charCodeAt(end - 1) === TAB)) end--;
  return end;
}
