/**
 * Response heads, built from what the engine knows of an object — pure functions, no I/O: the headers of a
 * sliced response (R6, P11), of a 304 (RFC 9110 §15.4.5), of a 416 (P20), and of an answer passed through as
 * the origin gave it (R14).
 *
 * @module
 */

import { formatContentRange, formatUnsatisfiedRange } from '../core/content-range.js';
import type { HeaderRecord } from '../core/headers.js';
import { headerValue } from '../core/headers.js';
import { type ByteRange, rangeLength } from '../core/range.js';
import { keptHeaders, type ObjectMetadata } from './metadata.js';

/** Response headers, lower-case names; `set-cookie` may hold several values. */
export type ResponseHeaders = Record<string, string | readonly string[]>;

/**
 * The headers every response built from slices repeats: the origin's end-to-end headers, validators,
 * `Accept-Ranges` and a content type. Framing (`Content-Length`, `Content-Range`) is the caller's.
 *
 * @example
 * ```ts
 * const headers = { ...sliceHeaders(meta), 'content-length': String(length) };
 * ```
 */
export function sliceHeaders(meta: ObjectMetadata): Record<string, string> {
  const headers: Record<string, string> = { ...meta.headers, 'accept-ranges': 'bytes' };
  if (headers['content-type'] === undefined) headers['content-type'] = 'application/octet-stream';
  if (meta.etag !== undefined) headers.etag = meta.etag;
  if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified;
  return headers;
}

/**
 * The head of a body of one range (or of the whole object): `base` plus its `Content-Length`, and for a 206
 * its `Content-Range` (P19).
 *
 * @example
 * ```ts
 * singleRangeHeaders(sliceHeaders(meta), { start: 0, end: 99 }, 206, meta.size);
 * ```
 */
export function singleRangeHeaders(
  base: Record<string, string>,
  range: ByteRange | undefined,
  status: number,
  size: number,
): Record<string, string> {
  const headers: Record<string, string> = {
    ...base,
    'content-length': String(range === undefined ? 0 : rangeLength(range)),
  };
  if (status === 206 && range !== undefined) headers['content-range'] = formatContentRange(range, size);
  return headers;
}

/**
 * RFC 9110 §15.4.5: a 304 carries the validators and caching headers a 200 would have, and no body.
 *
 * @example
 * ```ts
 * notModifiedHeaders(meta); // { etag: '"v1"', 'cache-control': 'max-age=60', … }
 * ```
 */
export function notModifiedHeaders(meta: ObjectMetadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of NOT_MODIFIED_FIELDS) {
    const value = meta.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  if (meta.etag !== undefined) headers.etag = meta.etag;
  if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified;
  return headers;
}

/**
 * The head of a 416 (RFC 9110 §15.5.17): `Content-Range: bytes *\/size`, no body, no content type.
 *
 * @example
 * ```ts
 * unsatisfiableHeaders(1000, sliceHeaders(meta)); // { 'content-range': 'bytes *\/1000', 'content-length': '0', … }
 * ```
 */
export function unsatisfiableHeaders(size: number, base: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {
    ...base,
    'content-range': formatUnsatisfiedRange(size),
    'content-length': '0',
  };
  delete headers['content-type'];
  return headers;
}

/**
 * The head of an answer streamed as the origin gave it: its end-to-end headers, its framing and its cookies. A
 * `Content-Range` only belongs to a 206 or a 416 (RFC 9110 §14.4).
 *
 * @example
 * ```ts
 * passHeaders(response.status, response.headers);
 * ```
 */
export function passHeaders(status: number, headers: HeaderRecord): ResponseHeaders {
  const out = keptHeaders(headers);
  for (const name of PASSED_FRAMING) {
    const value = headerValue(headers, name);
    if (value !== undefined) out[name] = value;
  }
  if (status !== 206 && status !== 416) delete out['content-range'];
  // An answer passed through is its one requester's: its cookies go with it (a login flow's 302, say).
  return withSetCookie(out, headers['set-cookie']);
}

/**
 * Adds `Set-Cookie` of an answer that nobody else shares to its one response (never to a stored or shared
 * one: it would hand one client's session to another).
 *
 * @example
 * ```ts
 * const headers = withSetCookie(sliceHeaders(meta), learned.setCookie);
 * ```
 */
export function withSetCookie(
  headers: Record<string, string>,
  setCookie: string | readonly string[] | undefined,
): ResponseHeaders {
  return setCookie === undefined ? headers : { ...headers, 'set-cookie': setCookie };
}

// ---------------------------------------------------------------------------------------------------------

const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'expires', 'vary'];
const PASSED_FRAMING = ['content-length', 'content-range', 'content-encoding', 'accept-ranges'];
