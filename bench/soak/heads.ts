/**
 * The soak's HEAD requests, sent by this process beside wrk (which cannot send HEAD, wg/wrk#198).
 *
 * @module
 */
import type { Pool } from 'undici';
import { OBJECTS } from './objects.js';

/** HEAD requests in flight at once, on as many keep-alive connections. */
export const HEAD_CONNECTIONS = 4;

/** The HEADs of a round. */
export interface HeadResult {
  readonly requests: number;
  readonly hit: number;
  readonly bad: readonly string[];
  readonly badCount: number;
}

/**
 * Sends `count` HEADs of random objects through `pool`, `HEAD_CONNECTIONS` at a time; each must answer 200
 * with the object's size as Content-Length and no body.
 *
 * @example
 * ```ts
 * const heads = await sendHeads(new Pool(base, { connections: HEAD_CONNECTIONS }), 10_000);
 * ```
 */
export async function sendHeads(pool: Pool, count: number): Promise<HeadResult> {
  let next = 0;
  let hit = 0;
  let badCount = 0;
  const bad: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const o = OBJECTS[Math.floor(Math.random() * OBJECTS.length)] as (typeof OBJECTS)[number];
      try {
        const res = await pool.request({ path: `/${o.name}`, method: 'HEAD' });
        const body = await res.body.arrayBuffer();
        if (res.headers['x-slice-cache'] === 'HIT') hit++;
        if (
          res.statusCode !== 200 ||
          res.headers['content-length'] !== String(o.size) ||
          body.byteLength !== 0
        ) {
          badCount++;
          if (bad.length < 5)
            bad.push(`HEAD /${o.name}: ${res.statusCode}, content-length ${res.headers['content-length']}`);
        }
      } catch (error) {
        badCount++;
        if (bad.length < 5) bad.push(`HEAD /${o.name}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: HEAD_CONNECTIONS }, worker));
  return { requests: count, hit, bad, badCount };
}
