/**
 * The files `npm run bench` serves from nginx, and the check that every client delivers them byte for byte.
 *
 * @module
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LARGE_BYTES, SLICE_SETTINGS, SMALL_BYTES, WARM_CACHE_BYTES } from '../cases/settings.js';
import type { BenchEnv } from '../cases/variants.js';
import type { SliceClientSpec } from '../clients/slice.js';
import { runClient } from '../processes.js';

/**
 * Writes 64 MiB of random bytes (`obj-64m`) and a 1 GiB file of 16 copies of them (`obj-1g`) into `www`;
 * returns the small file's SHA-256.
 *
 * @example
 * ```ts
 * const smallSha = writeOriginFiles(www);
 * ```
 */
export function writeOriginFiles(www: string): string {
  const small = randomFillSync(Buffer.allocUnsafe(SMALL_BYTES));
  const write = (name: string, copies: number): void => {
    const fd = openSync(join(www, name), 'w');
    try {
      for (let i = 0; i < copies; i++) writeSync(fd, small);
    } finally {
      closeSync(fd);
    }
  };
  write('obj-64m', 1);
  write('obj-1g', LARGE_BYTES / SMALL_BYTES);
  return createHash('sha256').update(small).digest('hex');
}

/**
 * Every client, both slice entries, must return the 64 MiB object byte for byte before anything is timed.
 *
 * @example
 * ```ts
 * await verifyClients(env, smallSha);
 * ```
 */
export async function verifyClients(env: BenchEnv, sha: string): Promise<void> {
  const url = `${env.base}/fast/${env.smallFile}`;
  const checks = [
    runClient(env.clients.undici, { url, verify: true }),
    ...(['open', 'response'] as const).map((entry) => {
      const spec: SliceClientSpec = {
        url,
        entry,
        passes: 2,
        cacheBytes: WARM_CACHE_BYTES,
        verify: true,
        ...SLICE_SETTINGS,
      };
      return runClient(env.clients.slice, spec);
    }),
  ];
  for (const result of await Promise.all(checks)) {
    for (const pass of result.passes) {
      if (pass.sha256 !== sha || pass.bytes !== SMALL_BYTES)
        throw new Error(
          `verification failed: got ${pass.bytes} bytes with SHA-256 ${pass.sha256}, want ${sha}`,
        );
    }
  }
}
