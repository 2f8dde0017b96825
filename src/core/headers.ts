/**
 * Reading HTTP header values the way the validation rules need them: a header that must appear once is
 * reported as duplicated instead of silently taking the first value (two `Content-Range` values mean the
 * origin or a middlebox is confused, and no byte of that response can be trusted).
 *
 * @module
 */

/** Header values keyed by lower-case name, as Node and undici deliver them. */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The outcome of reading a header that may occur at most once. */
export type SingleHeader =
  | { readonly state: 'absent' }
  | { readonly state: 'present'; readonly value: string }
  | { readonly state: 'duplicated'; readonly values: readonly string[] };

/**
 * Reads header `name` (lower case) that may occur at most once.
 *
 * @example
 * ```ts
 * singleHeader({ 'content-range': 'bytes 0-9/10' }, 'content-range'); // { state: 'present', value: 'bytes 0-9/10' }
 * ```
 */
export function singleHeader(headers: HeaderRecord, name: string): SingleHeader {
  const raw = headers[name];
  if (raw === undefined) return ABSENT;
  if (typeof raw === 'string') return { state: 'present', value: raw };
  if (raw.length === 0) return ABSENT;
  if (raw.length === 1) return { state: 'present', value: raw[0] as string };
  return { state: 'duplicated', values: raw };
}

/**
 * The value of header `name`, with repeated values joined by `, ` (RFC 9110 §5.3), or `undefined`.
 *
 * @example
 * ```ts
 * headerValue({ vary: ['accept', 'origin'] }, 'vary'); // 'accept, origin'
 * ```
 */
export function headerValue(headers: HeaderRecord, name: string): string | undefined {
  const raw = headers[name];
  if (raw === undefined || typeof raw === 'string') return raw;
  return raw.length === 0 ? undefined : raw.join(', ');
}

/** Header fields that describe one connection, never the message: stripped by proxies both ways (RFC 9110 §7.6.1). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The preconditions of RFC 9110 §13.1, evaluated by the engine against the reference, never forwarded on slices (R13). */
export const CONDITIONAL_HEADERS: readonly string[] = [
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
];

/**
 * Request fields never forwarded on sub-requests whatever the configuration: hop-by-hop (RFC 9110 §7.6.1), the
 * preconditions, and what the engine sets itself (`Range`, `Accept-Encoding: identity`, framing, `Host`).
 */
export const NOT_FORWARDED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  ...CONDITIONAL_HEADERS,
  'range',
  'accept-encoding',
  'host',
  'content-length',
  'expect',
]);

/**
 * Response fields that describe one message, not the object: framing, and what each response sets for itself
 * (`Date`, `Age`) — never repeated from the reference on responses built from slices. `Set-Cookie` too: a
 * response built from slices may be shared, and a cookie is one client's.
 */
export const PER_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'content-length',
  'content-range',
  'content-encoding',
  'accept-ranges',
  'date',
  'age',
  'set-cookie',
]);

/**
 * The header names a `Connection` field lists, which are hop-by-hop for this message (RFC 9110 §7.6.1).
 *
 * @example
 * ```ts
 * connectionTokens('close, X-Debug'); // Set { 'close', 'x-debug' }
 * ```
 */
export function connectionTokens(value: string | readonly string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return EMPTY_SET;
  const text = typeof value === 'string' ? value : value.join(',');
  const out = new Set<string>();
  for (const token of text.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '') out.add(name);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

const EMPTY_SET: ReadonlySet<string> = new Set();

const ABSENT: SingleHeader = { state: 'absent' };
