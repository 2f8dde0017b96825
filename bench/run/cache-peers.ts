/**
 * What cases 4 and 5 need beside the origin: a second nginx (slice module + proxy_cache) in front of it, a
 * `redis-server` (case 4) and case 5's servers, each verified and warm before the rounds.
 *
 * @module
 */
import { join } from 'node:path';
import { startRedisServer } from '../../test/support/redis-server.js';
import type { BenchEnv } from '../cases/variants.js';
import { log } from '../log.js';
import { type Nginx, startNginx } from '../nginx.js';
import { startRangeServers } from '../small-ranges/servers.js';
import type { RangeEnv, RangeServers } from '../small-ranges/targets.js';
import { prepareStores } from '../stores/prepare.js';
import type { StoreEnv } from '../stores/variants.js';
import type { BenchOptions } from './options.js';

/** What {@link startCachePeers} starts from. */
export interface PeerSetup {
  /** The bench temp dir. */
  readonly dir: string;
  /** The directory nginx serves. */
  readonly www: string;
  readonly env: BenchEnv;
  readonly origin: Nginx;
  /** SHA-256 of the 64 MiB object. */
  readonly smallSha: string;
}

/**
 * Starts (for the cases selected) the slice-cache nginx, Redis and case 5's servers, adding each one's stop to
 * `stops`; returns case 4's and case 5's environments (`undefined` when the case is not run).
 *
 * @example
 * ```ts
 * const { storeEnv, rangeServers } = await startCachePeers(options, setup, stops);
 * ```
 */
export async function startCachePeers(
  options: BenchOptions,
  setup: PeerSetup,
  stops: (() => Promise<void>)[],
): Promise<{ storeEnv: StoreEnv | undefined; rangeServers: RangeServers | undefined }> {
  const { dir, www, env, origin: nginx, smallSha } = setup;
  const { clients } = env;
  let storeEnv: StoreEnv | undefined;
  // nginx slice + proxy_cache in front of the origin: case 4's peer and case 5's.
  const cacheNginx =
    options.withCase4 || options.withCase5
      ? await startNginx({
          dir: join(dir, 'nginx-cache'),
          root: www,
          slowRate: '20m',
          sliceCache: {
            upstream: nginx.base.replace('http://', ''),
            cacheDir: join(dir, 'stores', 'nginx-cache'),
          },
        })
      : undefined;
  if (cacheNginx !== undefined) stops.push(cacheNginx.stop);
  if (options.withCase4 && cacheNginx !== undefined) {
    // Persistence off, and room for the 1 GiB object.
    const redis = await startRedisServer({ args: ['--maxmemory', '3gb'] });
    stops.push(redis.dispose);
    storeEnv = {
      clients,
      origin: nginx.base,
      cache: cacheNginx.base,
      smallFile: env.smallFile,
      largeFile: env.largeFile,
      scratch: join(dir, 'stores'),
      redisUrl: redis.url,
    };
    await prepareStores(storeEnv, smallSha);
    log(
      'bench: case 4 stores and nginx slice cache verified (SHA-256 of 64 MiB), Redis and nginx cache filled',
    );
  }

  let rangeServers: RangeServers | undefined;
  if (options.withCase5 && cacheNginx !== undefined) {
    const rangeEnv: RangeEnv = {
      clients,
      origin: nginx.base,
      cache: cacheNginx.base,
      cachePid: cacheNginx.pid,
      smallFile: env.smallFile,
      smallPath: join(www, env.smallFile),
      smallSha,
      seconds: options.rangeSeconds,
      connections: 64,
      threads: 2,
    };
    rangeServers = await startRangeServers(rangeEnv);
    stops.push(rangeServers.stop);
    log('bench: case 5 servers verified (random 4 KiB ranges byte for byte) and both caches warm');
  }
  return { storeEnv, rangeServers };
}
