/**
 * Case 4's measured passes by a client process: the store client (slice-fetch over a disk or Redis store), the
 * undici one-GET client through nginx, and curl; each checks status and byte count.
 *
 * @module
 */
import { LARGE_BYTES, type Measure, SLICE_SETTINGS, SMALL_BYTES } from '../cases/settings.js';
import type { PassResult } from '../clients/protocol.js';
import type { StoreClientSpec } from '../clients/store.js';
import { curlGet } from '../curl.js';
import { runClient } from '../processes.js';
import { FS_STORE_BYTES, type StoreEnv } from './variants.js';

/** A store client's pass with its measure. */
export interface StorePass extends PassResult {
  readonly measure: Measure;
}

/**
 * Throws `case 4 check failed: <what>; got <got as JSON>` unless `ok`.
 *
 * @example
 * ```ts
 * checkCase4(pass.cacheMisses === 0, 'fs warm: every slice a store hit', pass);
 * ```
 */
export function checkCase4(ok: boolean, what: string, got: unknown): void {
  if (!ok) throw new Error(`case 4 check failed: ${what}; got ${JSON.stringify(got)}`);
}

/**
 * The store client's spec of a disk store in `dir` with case 4's budget.
 *
 * @example
 * ```ts
 * await storePass(env, { url, store: fsSpec(dir) });
 * ```
 */
export function fsSpec(dir: string): StoreClientSpec['store'] {
  return { kind: 'fs', dir, maxBytes: FS_STORE_BYTES };
}

/**
 * One pass of the store client (`fetch()` + reader over the given store); it must answer 200 with every byte.
 *
 * @example
 * ```ts
 * const pass = await storePass(env, { url, store: { kind: 'redis', url: env.redisUrl } });
 * ```
 */
export async function storePass(
  env: StoreEnv,
  options: { url: string; store: StoreClientSpec['store']; verify?: boolean },
): Promise<StorePass> {
  const spec: StoreClientSpec = { entry: 'response', ...SLICE_SETTINGS, ...options };
  const r = await runClient(env.clients.store, spec);
  const pass = r.passes[0];
  if (pass === undefined) throw new Error('store client: no pass reported');
  const want = options.url.includes(env.smallFile) ? SMALL_BYTES : LARGE_BYTES;
  checkCase4(pass.status === 200 && pass.bytes === want, 'store client: status 200 and every byte', pass);
  return {
    ...pass,
    measure: { ms: pass.ms, rssKiB: r.maxRssKiB, cpuMs: pass.cpuMs, arrayBuffersKiB: r.peakArrayBuffersKiB },
  };
}

/**
 * One GET of the large object by curl (a native client costs the server it measures next to nothing); its
 * transfer time.
 *
 * @example
 * ```ts
 * const m = await curlPass(`${env.cache}/sliced/${env.largeFile}`);
 * ```
 */
export async function curlPass(url: string): Promise<Measure> {
  const { status, bytes, ms } = await curlGet(url);
  checkCase4(status === 200 && bytes === LARGE_BYTES, `curl ${url}: status 200 and every byte`, {
    status,
    bytes,
  });
  return { ms, rssKiB: Number.NaN, cpuMs: Number.NaN, arrayBuffersKiB: Number.NaN };
}

/**
 * One GET of the large object by the undici client (through nginx's slice cache); it must get every byte.
 *
 * @example
 * ```ts
 * const m = await undiciPass(env, `${env.cache}/sliced/${env.largeFile}`);
 * ```
 */
export async function undiciPass(env: StoreEnv, url: string): Promise<Measure> {
  const r = await runClient(env.clients.undici, { url });
  const pass = r.passes[0];
  checkCase4(pass?.status === 200 && pass.bytes === LARGE_BYTES, `undici through nginx ${url}`, pass);
  const p = pass as PassResult;
  return { ms: p.ms, rssKiB: r.maxRssKiB, cpuMs: p.cpuMs, arrayBuffersKiB: r.peakArrayBuffersKiB };
}
