/**
 * Sharing scopes (R19): which requests may share work — one fill, one metadata entry, one cached slice. A
 * request belongs to the shared scope `''` unless it carries credentials (`Authorization`, `Cookie`) that
 * `cachePolicy.cacheAuthorized` does not declare shareable; then it belongs to a scope of its own per
 * credential. Within a scope, each value combination of the request headers the origin's `Vary` names is a
 * variant of its own; `Vary: *` is never shared with anyone.
 *
 * A scope is a short string that goes into slice and metadata keys (`keys.ts`): credentials and header values
 * enter it only as a SHA-256, so neither a store nor a log line ever holds them.
 *
 * @module
 */
import { sha256Hex } from './keys.js';

/** Header names that carry a credential (RFC 9110 §11.6.2, RFC 6265 §5.4). */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'cookie'];

/**
 * `headers` without the credential fields: what may follow a redirect to another origin (WHATWG fetch).
 *
 * @example
 * ```ts
 * withoutCredentials({ authorization: 'Bearer t', 'user-agent': 'x' }); // { 'user-agent': 'x' }
 * ```
 */
export function withoutCredentials(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (!CREDENTIAL_HEADERS.includes(name)) out[name] = value;
  return out;
}

/**
 * The scope a request starts in: `''` (shared) when it carries no credential or when credentials are
 * declared shareable, else `cred:<hash>` of its `Authorization` and `Cookie` values.
 *
 * @example
 * ```ts
 * credentialScope({ 'user-agent': 'curl' }, false); // ''
 * credentialScope({ authorization: 'Bearer t' }, false); // 'cred:…' (32 hex)
 * credentialScope({ authorization: 'Bearer t' }, true); // ''
 * ```
 */
export function credentialScope(headers: Readonly<Record<string, string>>, shareAuthorized: boolean): string {
  const authorization = headers.authorization;
  const cookie = headers.cookie;
  if (shareAuthorized || (authorization === undefined && cookie === undefined)) return '';
  return `cred:${digest(`${lengthPrefixed(authorization)}${lengthPrefixed(cookie)}`)}`;
}

/** The `Vary` of a response, parsed: no names, `*`, or the header names it lists. */
export type Vary = readonly string[] | '*';

/**
 * Parses a response's `Vary` (RFC 9110 §12.5.5): lower-cased names, sorted, without duplicates; `'*'` when any
 * member is `*` (the response varies on something outside the request).
 *
 * @example
 * ```ts
 * parseVary('Accept-Language, accept-encoding'); // ['accept-encoding', 'accept-language']
 * parseVary('*'); // '*'
 * parseVary(undefined); // []
 * ```
 */
export function parseVary(value: string | undefined): Vary {
  if (value === undefined) return NO_VARY;
  const names = new Set<string>();
  for (const member of value.split(',')) {
    const name = member.trim().toLowerCase();
    if (name === '*') return '*';
    if (name !== '') names.add(name);
  }
  return names.size === 0 ? NO_VARY : [...names].sort();
}

/**
 * The scope of one variant: `base` itself when the response does not vary, else `base` plus a hash of the
 * request's value for each name `Vary` lists (absent and empty are told apart). `'*'` gives a scope nobody
 * else can be in: `unique` must differ for every request.
 *
 * @example
 * ```ts
 * variantScope('', [], {}, 'r1'); // ''
 * variantScope('', ['accept-language'], { 'accept-language': 'fr' }, 'r1'); // 'vary:…'
 * variantScope('', '*', {}, 'r1'); // 'vary:*:r1'
 * ```
 */
export function variantScope(
  base: string,
  vary: Vary,
  headers: Readonly<Record<string, string>>,
  unique: string,
): string {
  if (vary === '*') return joinScope(base, `vary:*:${unique}`);
  if (vary.length === 0) return base;
  let text = '';
  for (const name of vary) text += `${lengthPrefixed(name)}${lengthPrefixed(headers[name])}`;
  return joinScope(base, `vary:${digest(text)}`);
}

// ---------------------------------------------------------------------------------------------------------

const NO_VARY: readonly string[] = Object.freeze([]);

function digest(text: string): string {
  return sha256Hex(text).slice(0, 32);
}

/** An unambiguous encoding of an optional value: `-` when absent, else its length, `:`, the value. */
function lengthPrefixed(value: string | undefined): string {
  return value === undefined ? '-' : `${value.length}:${value}`;
}

function joinScope(base: string, part: string): string {
  return base === '' ? part : `${base} ${part}`;
}
