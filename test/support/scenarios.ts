/**
 * @module Origin set-ups several test files share.
 */
import type { TestOrigin } from './origin.js';

/**
 * Makes `path` an object the origin answers 403 (body `forbidden`) to anyone without `Authorization: <token>`,
 * and `Cache-Control: private` content to the token holder; returns its content seed.
 *
 * @example
 * const seed = privateObject(origin, '/a.bin', 4 * SLICE, 'Bearer t');
 */
export function privateObject(origin: TestOrigin, path: string, size: number, token: string): number {
  const { seed } = origin.setObject(path, { size, cacheControl: 'private' });
  origin.addFault({
    path,
    times: Number.POSITIVE_INFINITY,
    match: (r) => r.headers.authorization !== token,
    fault: { type: 'status', status: 403, body: 'forbidden' },
  });
  return seed;
}
