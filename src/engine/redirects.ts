/**
 * Redirects, as WHATWG fetch follows them (R21): a 301, 302, 303, 307 or 308 with a `Location` sends the reference
 * request on to that URL, at most {@link MAX_REDIRECTS} times; credentials do not cross to another origin. The
 * object stays keyed by the URL that was asked for; its slices are fetched from where the redirects ended
 * (presigned storage URLs, release downloads). `manual` hands the 3xx back as it is (what a reverse proxy does),
 * `error` fails.
 *
 * @module
 */
import { SliceFetchError } from '../core/errors.js';
import { headerValue } from '../core/headers.js';
import { withoutCredentials } from '../core/scope.js';
import type { ReferenceResult } from './origin-fetch.js';
import { discardBody } from './read-body.js';

/**
 * What a request does with a redirect of its object: `follow` it, hand the 3xx back (`manual`), or fail.
 *
 * @example
 * ```ts
 * const res = await fetcher.fetch(url, { redirect: 'manual' satisfies RedirectMode });
 * ```
 */
export type RedirectMode = 'follow' | 'manual' | 'error';

/** WHATWG fetch's limit on redirects in a row. */
export const MAX_REDIRECTS = 20;

/** Where a reference request goes, and with which headers. */
export interface Hop {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Whether credentials were dropped on the way (a hop to another origin). */
  readonly withoutCredentials: boolean;
}

/**
 * The next hop when `result` is a redirect to follow (its body released), else `undefined`.
 *
 * @throws {SliceFetchError} `ERR_SLICE_ORIGIN_STATUS` for a redirect when `mode` is `error`, past
 * {@link MAX_REDIRECTS}, or to a URL that is not http(s).
 * @example
 * ```ts
 * const next = nextHop(result, hop, 'follow', hops);
 * if (next !== undefined) hop = next;
 * ```
 */
export function nextHop(
  result: ReferenceResult,
  hop: Hop,
  mode: RedirectMode,
  hops: number,
): Hop | undefined {
  if (mode === 'manual' || result.kind !== 'origin-status') return undefined;
  const { status } = result.response;
  const location = REDIRECTS.has(status) ? headerValue(result.response.headers, 'location') : undefined;
  if (location === undefined) return undefined;
  discardBody(result.response.body);
  let next: URL | undefined;
  try {
    next = new URL(location, hop.url);
  } catch {
    next = undefined;
  }
  const refuse = (why: string): SliceFetchError =>
    new SliceFetchError(
      'ERR_SLICE_ORIGIN_STATUS',
      `${hop.url} redirected (${status}) to ${location}: ${why}.`,
      {
        url: hop.url,
        originStatus: status,
      },
    );
  if (mode === 'error') throw refuse("redirect is 'error'");
  if (hops >= MAX_REDIRECTS) throw refuse(`more than ${MAX_REDIRECTS} redirects`);
  if (next === undefined || (next.protocol !== 'http:' && next.protocol !== 'https:'))
    throw refuse('not an http(s) URL');
  next.hash = '';
  if (next.origin === new URL(hop.url).origin) return { ...hop, url: next.href };
  return { url: next.href, headers: withoutCredentials(hop.headers), withoutCredentials: true };
}

// ---------------------------------------------------------------------------------------------------------

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
