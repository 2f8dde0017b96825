/**
 * What cases 4, 5 and 7 need beside the origin: a second nginx (slice module + proxy_cache) in front of it, a
 * `redis-server` (case 4), case 5's servers, each verified and warm before the rounds, and case 7's environment
 * (its handler server starts fresh for every pass; verified here).
 *
 * @module
 */
import { join } from 'node:path';
import { startRedisServer } from '../../test/support/redis-server.js';
import type { BenchEnv } from '../cases/variants.js';
import { verifyHandlerCold } from '../handler-cold/round.js';
import type { HandlerColdEnv } from '../handler-cold/variants.js';
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

/** The environments of cases 4, 5 and 7 (`undefined` when the case is not run). */
export interface CachePeers {
  readonly storeEnv: StoreEnv | undefined;
  readonly rangeServers: RangeServers | undefined;
  readonly handlerColdEnv: HandlerColdEnv | undefined;
}

/**
 * Starts (for the cases selected) the slice-cache nginx, Redis and case 5's servers, adding each one's stop to
 * `stops`; returns case 4's, case 5's and case 7's environments (`undefined` when the case is not run).
 *
 * @example
 * ```ts
 * const { storeEnv, rangeServers, handlerColdEnv } = await startCachePeers(options, setup, stops);
 * ```
 */
export async function startCachePeers(
  options: BenchOptions,
  setup: PeerSetup,
  stops: (() => Promise<void>)[],
): Promise<CachePeers> {
  const { dir, www, env, origin: nginx, smallSha } = setup;
  const { clients } = env;
  let storeEnv: StoreEnv | undefined;
  // nginx slice + proxy_cache in front of the origin: the peer of cases 4, 5 and 7.
  const cacheNginx =
    options.withCase4 || options.withCase5 || options.withCase7
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

  let handlerColdEnv: HandlerColdEnv | undefined;
  if (options.withCase7 && cacheNginx !== undefined) {
    handlerColdEnv = {
      clients,
      origin: nginx.base,
      cache: cacheNginx.base,
      cachePid: cacheNginx.pid,
      smallFile: env.smallFile,
      largeFile: env.largeFile,
      smallSha,
    };
    await verifyHandlerCold(handlerColdEnv);
    log('bench: case 7 handler (MISS, then HIT) and nginx slice cache verified (SHA-256 of 64 MiB)');
  }
  return { storeEnv, rangeServers, handlerColdEnv };
}
