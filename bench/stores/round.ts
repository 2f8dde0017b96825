/**
 * One round of case 4: every variant measured once, cold passes taking turns going first, each cold pass after
 * the disk has settled.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LARGE_BYTES, type Measure } from '../cases/settings.js';
import { MiB } from '../units.js';
import { checkCase4, curlPass, fsSpec, storePass, undiciPass } from './passes.js';
import { proxyPass } from './proxy-pass.js';
import type { StoreEnv } from './variants.js';

/** Per cold disk pass: how long its store writes trailed its last byte (untimed, reported under the table). */
export const coldDrainsMs: number[] = [];

/**
 * Runs one round of case 4 and returns a measure per variant id.
 *
 * @example
 * ```ts
 * const m = await storeRound(env, 1); // m.get('c4.fs.warm')?.ms
 * ```
 */
export async function storeRound(env: StoreEnv, round: number): Promise<Map<string, Measure>> {
  const out = new Map<string, Measure>();
  const large = `${env.origin}/fast/${env.largeFile}`;
  const dir = join(env.scratch, `fs-${round}`);
  mkdirSync(dir, { recursive: true });
  const fsCold = async (): Promise<void> => {
    settleDisk();
    const cold = await storePass(env, { url: large, store: fsSpec(dir) });
    checkCase4(cold.cacheStores === LARGE_BYTES / MiB, 'fs cold: every slice stored', cold);
    out.set('c4.fs.cold', cold.measure);
    coldDrainsMs.push(cold.drainMs ?? Number.NaN);
  };
  const nginxCold = async (): Promise<void> => {
    settleDisk();
    // A query nginx has never seen is a new cache key: every slice misses and is written to disk.
    out.set('c4.nginx.cold', await undiciPass(env, `${env.cache}/sliced/${env.largeFile}?cold=${round}`));
  };
  await inTurns(round, fsCold, nginxCold);
  // The same comparison between two proxies, each read by curl: slice-proxy over a disk store against nginx.
  const proxyDir = join(env.scratch, `proxy-${round}`);
  mkdirSync(proxyDir, { recursive: true });
  const proxyCold = async (): Promise<void> => {
    settleDisk();
    out.set('c4p.fs.cold', await proxyPass(env, proxyDir, 'cold'));
  };
  const nginxCurlCold = async (): Promise<void> => {
    settleDisk();
    out.set('c4p.nginx.cold', await curlPass(`${env.cache}/sliced/${env.largeFile}?curl-cold=${round}`));
  };
  await inTurns(round, proxyCold, nginxCurlCold);
  out.set('c4p.fs.warm', await proxyPass(env, proxyDir, 'warm'));
  rmSync(proxyDir, { recursive: true, force: true });
  out.set('c4p.nginx.warm', await curlPass(`${env.cache}/sliced/${env.largeFile}`));

  const warm = await storePass(env, { url: large, store: fsSpec(dir) });
  checkCase4(warm.cacheMisses === 0, 'fs warm: every slice a store hit', warm);
  out.set('c4.fs.warm', warm.measure);
  rmSync(dir, { recursive: true, force: true });
  const redis = await storePass(env, { url: large, store: { kind: 'redis', url: env.redisUrl } });
  checkCase4(redis.cacheMisses === 0, 'redis warm: every slice a store hit', redis);
  out.set('c4.redis.warm', redis.measure);
  out.set('c4.nginx.warm', await undiciPass(env, `${env.cache}/sliced/${env.largeFile}`));
  return out;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Runs two cold passes back to back, `ours` first in odd rounds and `theirs` first in even ones: the VM's disk and
 * memory get slower as a run writes more, so a fixed order would hand whichever goes second a systematic handicap.
 * Also case 7's.
 *
 * @example
 * ```ts
 * await inTurns(round, oursCold, nginxCold);
 * ```
 */
export async function inTurns(
  round: number,
  ours: () => Promise<void>,
  theirs: () => Promise<void>,
): Promise<void> {
  const [first, second] = round % 2 === 1 ? [ours, theirs] : [theirs, ours];
  await first();
  await second();
}

/**
 * Flushes dirty pages to disk (untimed) before a cold pass, so no cold pass pays for the kernel writing back
 * what an earlier pass wrote. Also case 7's.
 *
 * @example
 * ```ts
 * settleDisk();
 * ```
 */
export function settleDisk(): void {
  execFileSync('sync');
}
