/**
 * Checking what a server sent: the SHA-256 of a GET's body, hashed as it streams so the runner stays small (its
 * RSS is what every process it forks starts from).
 *
 * @module
 */
import { createHash } from 'node:crypto';

/** What {@link sha256Of} read. */
export interface BodyDigest {
  readonly status: number;
  readonly sha: string;
  readonly bytes: number;
  /** The response's `x-slice-cache`, or `''`. */
  readonly sliceCache: string;
}

/**
 * GETs `url` and returns its status, the SHA-256 and length of its body, and its `x-slice-cache`.
 *
 * @example
 * ```ts
 * const { status, sha } = await sha256Of('http://127.0.0.1:8080/small.bin');
 * ```
 */
export async function sha256Of(url: string): Promise<BodyDigest> {
  const res = await fetch(url);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body ?? []) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return {
    status: res.status,
    sha: hash.digest('hex'),
    bytes,
    sliceCache: res.headers.get('x-slice-cache') ?? '',
  };
}
