/**
 * Case 4's checks and fills before anything is timed.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LARGE_BYTES, SMALL_BYTES } from '../cases/settings.js';
import { runClient } from '../processes.js';
import { MiB } from '../units.js';
import { checkCase4, fsSpec, storePass, undiciPass } from './passes.js';
import { withProxy } from './proxy-pass.js';
import type { StoreEnv } from './variants.js';

/**
 * Checks that the stores and nginx's slice cache return the 64 MiB object byte for byte, cold and warm, with
 * every warm slice a store hit, and so must `slice-proxy --cache fs` (cold, then warm in a new process); then
 * fills Redis and nginx's cache with the 1 GiB object (untimed).
 *
 * @example
 * ```ts
 * await prepareStores(env, sha);
 * ```
 */
export async function prepareStores(env: StoreEnv, sha: string): Promise<void> {
  const small = `${env.origin}/fast/${env.smallFile}`;
  const dir = join(env.scratch, 'verify-fs');
  const stores = [fsSpec(dir), { kind: 'redis', url: env.redisUrl } as const];
  for (const store of stores) {
    for (const temperature of ['cold', 'warm'] as const) {
      const pass = await storePass(env, { url: small, store, verify: true });
      checkCase4(pass.sha256 === sha && pass.bytes === SMALL_BYTES, `${store.kind} ${temperature}`, pass);
      if (temperature === 'warm')
        checkCase4(pass.cacheMisses === 0, `${store.kind} warm: every slice must be a store hit`, pass);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const proxyDir = join(env.scratch, 'verify-proxy');
  for (const temperature of ['cold', 'warm']) {
    const digest = await withProxy(env, proxyDir, async (_proxy, base) => {
      const res = await fetch(`${base}/${env.smallFile}`);
      return createHash('sha256')
        .update(Buffer.from(await res.arrayBuffer()))
        .digest('hex');
    });
    checkCase4(digest === sha, `slice-proxy --cache fs ${temperature}`, { digest });
  }
  rmSync(proxyDir, { recursive: true, force: true });
  for (let i = 0; i < 2; i++) {
    const r = await runClient(env.clients.undici, {
      url: `${env.cache}/sliced/${env.smallFile}`,
      verify: true,
    });
    const pass = r.passes[0];
    checkCase4(pass?.sha256 === sha && pass.bytes === SMALL_BYTES, 'nginx slice cache', pass);
  }
  const large = `${env.origin}/fast/${env.largeFile}`;
  const filled = await storePass(env, { url: large, store: { kind: 'redis', url: env.redisUrl } });
  checkCase4(filled.cacheStores === LARGE_BYTES / MiB, 'redis fill: every slice stored', filled);
  await undiciPass(env, `${env.cache}/sliced/${env.largeFile}`);
}
