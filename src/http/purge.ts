/**
 * `PURGE /path` (R15, R18): removes an object's cached slices when the request carries
 * `Authorization: Bearer <token>`. The token is compared in constant time — both sides are hashed to 32 bytes
 * first, so neither the content nor the length of the configured token leaks through timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/**
 * A checker for one configured token: `true` when the `Authorization` value is `Bearer <token>`.
 *
 * @example
 * ```ts
 * const authorized = bearerChecker('s3cret');
 * authorized('Bearer s3cret'); // true
 * authorized('Bearer guess'); // false
 * ```
 */
export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    if (authorization === undefined) return false;
    const match = BEARER.exec(authorization);
    if (match === null) return false;
    return timingSafeEqual(digest(match[1] ?? ''), expected);
  };
}

/**
 * Writes the answer to a purge: 200 `{"purged": n}`, or 404 with the same body when nothing was cached. When
 * another layer answered the request already, it ends the connection instead of throwing (R21).
 *
 * @example
 * ```ts
 * sendPurged(res, await fetcher.purge(url));
 * ```
 */
export function sendPurged(res: ServerResponse, purged: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ purged });
  res.writeHead(purged === 0 ? 404 : 200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

// ---------------------------------------------------------------------------------------------------------

/** RFC 6750 §2.1: the scheme is case-insensitive; one or more spaces before the token. */
const BEARER = /^\s*bearer +(\S+)\s*$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
