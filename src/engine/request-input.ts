/**
 * A caller's request as the engine takes it (R21): the URL parsed and keyed once per distinct string, header
 * names lower-cased, the range judged by who gave it (an argument must be valid, a client's header is read by
 * RFC 9110), and the {@link OpenInput} the engine runs on — credential scopes, forwarded headers, preconditions.
 *
 * @module
 */
import { optionError, SliceFetchError } from '../core/errors.js';
import { type HeaderRecord, NOT_FORWARDED } from '../core/headers.js';
import { normalizeObjectUrl } from '../core/keys.js';
import { formatRange, parseRange } from '../core/range.js';
import { credentialScope } from '../core/scope.js';
import type { InternalOpenInit, RangeInput } from './fetcher-types.js';
import type { RedirectMode } from './redirects.js';
import type { OpenInput } from './request-types.js';

/** Where a URL string leads: its normalised form and the key its object is cached under. */
export interface Location {
  readonly href: string;
  readonly objectKey: string;
}

/**
 * A function from a URL to its {@link Location}, remembering the last few thousand: a server asks for the same
 * objects again and again, and parsing and keying a URL each time shows in a warm request's profile.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` (400), from the function, for anything but an absolute http(s) URL.
 * @example
 * ```ts
 * const locate = createLocator(undefined);
 * locate('http://example.com/a.bin').objectKey; // 'http://example.com/a.bin'
 * ```
 */
export function createLocator(
  cacheKey: ((url: URL) => string) | undefined,
): (target: string | URL) => Location {
  // A plain map emptied when full, not an LRU: a lookup is one hash probe, and a server's working set of URLs
  // is refilled at the cost of one parse each.
  const locations = new Map<string, Location>();
  return (target) => {
    const text = typeof target === 'string' ? target : target.href;
    let location = locations.get(text);
    if (location === undefined) {
      const url = toUrl(target);
      location = {
        href: url.href,
        objectKey: cacheKey === undefined ? normalizeObjectUrl(url) : cacheKey(url),
      };
      if (locations.size >= MAX_LOCATIONS) locations.clear();
      locations.set(text, location);
    }
    return location;
  };
}

/** What {@link requestInput} needs besides the caller's options. */
export interface InputParts {
  readonly location: Location;
  readonly requestId: string;
  /** Header names lower-cased ({@link lowerCaseHeaders}). */
  readonly headers: Record<string, string>;
  /** The range from {@link rangeHeader}. */
  readonly range: string | undefined;
  readonly signal: AbortSignal;
}

/**
 * The engine's view of one request.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` for an unknown `redirect` mode.
 * @example
 * ```ts
 * const input = requestInput(init, { location, requestId: '1', headers, range, signal }, false);
 * ```
 */
export function requestInput(init: InternalOpenInit, parts: InputParts, cacheAuthorized: boolean): OpenInput {
  const { location, requestId, headers, range, signal } = parts;
  return {
    url: location.href,
    objectKey: location.objectKey,
    requestId,
    method: init.method ?? 'GET',
    range,
    // If-Range (RFC 9110 §13.1.5) is evaluated against the range wherever it was given: init or headers.
    conditionals: range === headers.range ? headers : { ...headers, range },
    forward: forwardable(headers),
    authorized: headers.authorization !== undefined || headers.cookie !== undefined,
    base: credentialScope(headers, cacheAuthorized),
    identity: credentialScope(headers, false),
    signal,
    redirect: redirectMode(init.redirect),
    recycle: init.recycle === true,
  };
}

/**
 * The request headers with lower-case names: a copy, unless the caller says its record already is
 * ({@link InternalOpenInit.lowerCaseHeaders}).
 *
 * @example
 * ```ts
 * lowerCaseHeaders({ headers: { 'If-None-Match': '"v1"' } }); // { 'if-none-match': '"v1"' }
 * ```
 */
export function lowerCaseHeaders(init: InternalOpenInit): Record<string, string> {
  const input = init.headers;
  if (input === undefined) return {};
  if (init.lowerCaseHeaders === true) return input as Record<string, string>;
  if (input instanceof Headers) {
    const out: Record<string, string> = {};
    input.forEach((value, name) => {
      out[name] = value;
    });
    return out;
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(input)) out[name.toLowerCase()] = value;
  return out;
}

/**
 * The `Range` value of a request. A range given as an argument is the program's own and must be valid
 * (`ERR_SLICE_RANGE`, 400, otherwise, R21); one among the headers is a client's, judged by RFC 9110 (a
 * malformed one is ignored and the whole object answered).
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` for an invalid `range` argument.
 * @example
 * ```ts
 * rangeHeader({ start: 0, end: 99 }, undefined); // 'bytes=0-99'
 * ```
 */
export function rangeHeader(
  range: RangeInput | undefined,
  fromHeaders: string | undefined,
): string | undefined {
  if (range === undefined) return fromHeaders;
  if (typeof range === 'string') {
    const parsed = parseRange(range, { maxLength: Number.POSITIVE_INFINITY });
    if (parsed.type !== 'specs') throw badRange(range, parsed.type === 'ignored' ? parsed.reason : 'empty');
    return range;
  }
  if (typeof range !== 'object' || range === null) throw badRange(range, 'not a Range value or an object');
  try {
    if ('suffix' in range) return formatRange([{ suffix: range.suffix }]);
    return formatRange([
      range.end === undefined ? { first: range.start } : { first: range.start, last: range.end },
    ]);
  } catch (error) {
    throw badRange(range, (error as Error).message, error);
  }
}

// ---------------------------------------------------------------------------------------------------------

/** URL strings remembered by a locator; bounded so a scan of URLs cannot grow memory. */
const MAX_LOCATIONS = 4096;

function redirectMode(mode: unknown): RedirectMode {
  if (mode === undefined) return 'follow';
  if (mode === 'follow' || mode === 'manual' || mode === 'error') return mode;
  throw optionError('redirect', "'follow', 'manual' or 'error'", mode);
}

function toUrl(target: string | URL): URL {
  try {
    const url = new URL(target);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`unsupported protocol ${url.protocol}`);
    return url;
  } catch (error) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected an absolute http(s) URL, got \`${String(target)}\`.`,
      { cause: error, status: 400 },
    );
  }
}

function forwardable(headers: HeaderRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string' && !NOT_FORWARDED.has(name)) out[name] = value;
  }
  return out;
}

function badRange(range: unknown, reason: string, cause?: unknown): SliceFetchError {
  const shown = typeof range === 'string' ? range : (JSON.stringify(range) ?? String(range));
  return new SliceFetchError(
    'ERR_SLICE_RANGE',
    `Expected \`range\` to be a valid range like \`bytes=0-99\`, \`{ start: 0, end: 99 }\` or \`{ suffix: 100 }\`, got \`${shown}\`: ${reason}.`,
    { status: 400, ...(cause === undefined ? {} : { cause }) },
  );
}
