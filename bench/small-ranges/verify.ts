/**
 * Case 5's byte check before anything is timed: each server's whole object (which also fills its cache) and a
 * set of random 4 KiB ranges, compared with the file.
 *
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { SMALL_BYTES } from '../cases/settings.js';
import { sha256Of } from '../digest.js';
import { MiB } from '../units.js';
import { type Case5Id, RANGE_BYTES, type RangeEnv, type RangeTarget } from './targets.js';

/**
 * Fetches the whole object from every target (SHA-256 must match), then ranges at the start, across the first
 * slice edge, at the end and at 20 random offsets (bytes must match the file; the handler's must be store hits).
 *
 * @example
 * ```ts
 * await verifyRangeTargets(env, targets);
 * ```
 */
export async function verifyRangeTargets(
  env: RangeEnv,
  targets: ReadonlyMap<Case5Id, RangeTarget>,
): Promise<void> {
  // The runner stays small (its RSS is what every process it forks starts from): the whole object is hashed
  // as it streams, and ranges are compared with the bytes read from the file at their offset.
  const fd = openSync(env.smallPath, 'r');
  const expected = (start: number): Buffer => {
    const buffer = Buffer.alloc(RANGE_BYTES);
    readSync(fd, buffer, 0, RANGE_BYTES, start);
    return buffer;
  };
  try {
    for (const [id, { url }] of targets) {
      // Fill the cache (untimed), then the byte check: range starts spread over the object and its slice edges.
      const { status, sha, bytes } = await sha256Of(url);
      if (status !== 200 || sha !== env.smallSha)
        throw new Error(`case 5 ${id}: the whole object came back wrong (${status}, ${bytes} B, ${sha})`);
      const starts = [0, MiB - 100, SMALL_BYTES - RANGE_BYTES];
      for (let i = 0; i < 20; i++) starts.push(Math.floor(Math.random() * (SMALL_BYTES - RANGE_BYTES + 1)));
      for (const start of starts) {
        const end = start + RANGE_BYTES - 1;
        const part = await fetch(url, { headers: { range: `bytes=${start}-${end}` } });
        const body = Buffer.from(await part.arrayBuffer());
        if (part.status !== 206 || !body.equals(expected(start)))
          throw new Error(
            `case 5 ${id} bytes=${start}-${end}: status ${part.status}, ${body.length} bytes, wrong`,
          );
        if (id === 'c5.handler' && part.headers.get('x-slice-cache') !== 'HIT')
          throw new Error(
            `case 5 ${id}: a warm range was not a store hit (${part.headers.get('x-slice-cache')})`,
          );
      }
    }
  } finally {
    closeSync(fd);
  }
}
