/**
 * Response heads, built from what the engine knows of an object — no I/O: the headers of a sliced response
 * (R6, P11), of a 304 (RFC 9110 §15.4.5), of a 416 (P20), and of an answer passed through as the origin gave
 * it (R14). The part every body of a version repeats is laid out once per version (a `WeakMap` on its metadata
 * object, like `version-keys.ts`), as a record and as {@link HeadFields}: a warm small range then costs its
 * framing fields, not a copy of the origin's headers (design.md "Per-request costs").
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
 * A response head as name/value pairs in one flat list — `[name, value, name, value, …]`, the form
 * `ServerResponse.writeHead(status, fields)` takes in one call — in the order of the equivalent record. A value
 * is a list only for a field sent several times (`set-cookie`).
 */
export type HeadFields = readonly (string | readonly string[])[];

/**
 * The headers every response built from slices repeats: the origin's end-to-end headers, validators,
 * `Accept-Ranges` and a content type. Framing (`Content-Length`, `Content-Range`) is the caller's. Built once
 * per version (`meta` object) and shared, so it is frozen: copy it to add fields.
 *
 * @example
 * ```ts
 * const headers = { ...sliceHeaders(meta), 'content-length': String(length) };
 * ```
 */
export function sliceHeaders(meta: ObjectMetadata): Readonly<Record<string, string>> {
  return versionHead(meta).headers;
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
  base: Readonly<Record<string, string>>,
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
 * The same head as `singleRangeHeaders(sliceHeaders(meta), range, status, meta.size)`, as {@link HeadFields}:
 * the version's fields are laid out once, and a request adds only its framing (design.md "Per-request costs").
 *
 * @example
 * ```ts
 * res.writeHead(206, singleRangeFields(meta, { start: 0, end: 4095 }, 206));
 * ```
 */
export function singleRangeFields(
  meta: ObjectMetadata,
  range: ByteRange | undefined,
  status: number,
): HeadFields {
  const { fields: base, framing } = versionHead(meta);
  const fields = base.slice();
  setField(fields, framing.length, 'content-length', String(range === undefined ? 0 : rangeLength(range)));
  if (status === 206 && range !== undefined)
    setField(fields, framing.range, 'content-range', formatContentRange(range, meta.size));
  return fields;
}

/**
 * The fields of a head given as a record, in its order.
 *
 * @example
 * ```ts
 * headFields({ etag: '"v1"', 'content-length': '0' }); // ['etag', '"v1"', 'content-length', '0']
 * ```
 */
export function headFields(headers: ResponseHeaders): HeadFields {
  const fields: (string | readonly string[])[] = [];
  for (const name in headers) fields.push(name, headers[name] as string | readonly string[]);
  return fields;
}

/**
 * The record of a head given as fields: the inverse of {@link headFields}.
 *
 * @example
 * ```ts
 * headRecord(['etag', '"v1"']); // { etag: '"v1"' }
 * ```
 */
export function headRecord(fields: HeadFields): ResponseHeaders {
  const headers: ResponseHeaders = {};
  for (let i = 0; i < fields.length; i += 2) headers[fields[i] as string] = fields[i + 1] as string;
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
export function unsatisfiableHeaders(
  size: number,
  base: Readonly<Record<string, string>>,
): Record<string, string> {
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

/** The head every body of one version starts with, as a record and as fields, made once per version. */
interface VersionHead {
  readonly headers: Readonly<Record<string, string>>;
  readonly fields: string[];
  /**
   * Where the framing fields already are among `fields` (−1: not there, the usual case). Only a stored
   * version read back from a store could carry them; a request's own value then replaces them in place, as
   * a spread over the record would.
   */
  readonly framing: { readonly length: number; readonly range: number };
}

/** The index of field `name` among `fields` (names sit at even indexes), or −1. */
function nameAt(fields: readonly string[], name: string): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return i;
  return -1;
}

/** Sets field `name` at `at` (from {@link VersionHead.framing}), or appends it. */
function setField(fields: string[], at: number, name: string, value: string): void {
  if (at === -1) fields.push(name, value);
  else fields[at + 1] = value;
}

/** Versions are the metadata objects the engine keeps; when one is dropped, its head goes with it. */
const VERSION_HEADS = new WeakMap<ObjectMetadata, VersionHead>();

function versionHead(meta: ObjectMetadata): VersionHead {
  let head = VERSION_HEADS.get(meta);
  if (head === undefined) {
    const headers: Record<string, string> = { ...meta.headers, 'accept-ranges': 'bytes' };
    if (headers['content-type'] === undefined) headers['content-type'] = 'application/octet-stream';
    if (meta.etag !== undefined) headers.etag = meta.etag;
    if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified;
    const fields: string[] = [];
    for (const name in headers) fields.push(name, headers[name] as string);
    const framing = { length: nameAt(fields, 'content-length'), range: nameAt(fields, 'content-range') };
    head = { headers: Object.freeze(headers), fields, framing };
    VERSION_HEADS.set(meta, head);
  }
  return head;
}
