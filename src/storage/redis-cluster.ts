/**
 * The Redis store over a Redis Cluster (R16, R22): the part of a node-redis 5 cluster client the store uses
 * ({@link RedisClusterLike}), the client it creates from a few root nodes, and the {@link RedisLink} that routes
 * every command to the master of its key's slot. An object's entries, index and claims share one hash tag
 * (redis-layout.ts), so each of its `MULTI`s runs on one node.
 *
 * Failover: node-redis 5 re-reads the slot map only when a node answers `MOVED` or `ASK` (redis/node-redis
 * issue #2806). A master that died answers nothing, so without help its slots go on being sent to the dead
 * node until some command happens to meet a `MOVED`. The link therefore re-reads the map itself whenever a
 * call times out or finds its connection down — at most every {@link HEAL_INTERVAL_MS} — through the
 * cluster's own `rediscover` (the one it runs on `MOVED`; the client has no public method for it, so the
 * store calls it where it exists and a test pins it). Once a replica has been promoted, the next re-read
 * routes the slots to it and drops the dead node.
 *
 * A cluster the store creates fails fast while a node is disconnected (`disableOfflineQueue` on every node),
 * and keeps trying to connect when no root node answers at start-up.
 *
 * @module
 */
import { createCluster, type RedisArgument } from 'redis';
import {
  bounded,
  type CommandOptions,
  NOT_CONNECTED,
  type RedisClientLike,
  type RedisLink,
  reconnectDelay,
} from './redis-client.js';

/** The part of a node-redis 5 cluster client (`createCluster()`) the store uses. */
export interface RedisClusterLike {
  /** Whether the slot map has been read (`connect()` resolved) and the client is not closed. */
  readonly isOpen: boolean;
  /** The masters of the current slot map. */
  readonly masters: readonly RedisClusterNodeLike[];
  /** Sends one command to the node holding `firstKey`'s slot, following `MOVED`/`ASK`. */
  sendCommand(
    firstKey: RedisArgument | undefined,
    isReadonly: boolean | undefined,
    args: readonly RedisArgument[],
    options?: { typeMapping?: object },
  ): Promise<unknown>;
  /** Starts a `MULTI` routed to `routing`'s slot. */
  multi(routing?: RedisArgument): RedisClusterMultiLike;
  /** The client of one node, connected. */
  nodeClient(node: RedisClusterNodeLike): Promise<RedisClientLike>;
}

/** One node of a {@link RedisClusterLike}'s slot map. */
export interface RedisClusterNodeLike {
  /** `host:port`. */
  readonly address: string;
}

/** The part of a node-redis 5 cluster `MULTI` builder the store uses. */
export interface RedisClusterMultiLike {
  /** Queues one raw command about `firstKey`. */
  addCommand(
    firstKey: RedisArgument | undefined,
    isReadonly: boolean | undefined,
    args: readonly RedisArgument[],
  ): RedisClusterMultiLike;
  /** Sends the transaction; resolves the replies in order. */
  exec(): Promise<readonly unknown[]>;
}

/** A cluster client the store created itself, and so connects and closes. */
export type OwnCluster = ReturnType<typeof createCluster>;

/**
 * Whether a given client is a cluster client (it has masters and per-node clients) rather than one server's.
 *
 * @example
 * ```ts
 * isClusterClient(createCluster({ rootNodes })); // true
 * ```
 */
export function isClusterClient(client: object): client is RedisClusterLike {
  return 'masters' in client && typeof (client as { nodeClient?: unknown }).nodeClient === 'function';
}

/**
 * A node-redis cluster client over `rootNodes` whose nodes fail fast while disconnected and reconnect forever.
 *
 * @example
 * ```ts
 * const own = createOwnCluster(['redis://10.0.0.1:6379'], onError);
 * ```
 */
export function createOwnCluster(
  rootNodes: readonly string[],
  onError: (error: unknown) => void,
): OwnCluster {
  const cluster = createCluster({
    rootNodes: rootNodes.map((url) => ({ url })),
    defaults: { disableOfflineQueue: true, socket: { reconnectStrategy: reconnectDelay } },
  });
  cluster.on('error', onError).on('node-error', onError);
  return cluster;
}

/**
 * A {@link RedisLink} over a cluster. With `own` the link connects it — retrying with backoff while no root
 * node answers — and closes it.
 *
 * @example
 * ```ts
 * const own = createOwnCluster(rootNodes, onError);
 * const link = clusterLink(own, own, onError);
 * ```
 */
export function clusterLink(
  cluster: RedisClusterLike,
  own: OwnCluster | undefined,
  onError: (error: unknown) => void,
): RedisLink {
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let starting: Promise<void> | undefined;
  if (own !== undefined) {
    // The first attempt is awaited by early calls (a miss before Redis was even asked would be a waste);
    // later attempts run in the background, and calls fail fast meanwhile.
    const attempt = (retries: number): Promise<void> =>
      own.connect().then(
        () => {
          if (closed) own.destroy(); // connected after the store was closed
        },
        (error: unknown) => {
          onError(error);
          if (!closed) {
            retry = setTimeout(() => void attempt(retries + 1), reconnectDelay(retries));
            retry.unref();
          }
        },
      );
    starting = attempt(0).finally(() => {
      starting = undefined;
    });
  }
  let lastHeal = Number.NEGATIVE_INFINITY;
  const whenReady = async (): Promise<void> => {
    if (starting !== undefined) await starting;
    if (!cluster.isOpen) throw new Error(NOT_CONNECTED);
  };

  return {
    async send(key, args, options: CommandOptions) {
      await whenReady();
      return cluster.sendCommand(key, READONLY.has(String(args[0])), args, options);
    },
    async transaction(key, commands) {
      await whenReady();
      const multi = cluster.multi(key);
      for (const args of commands) multi.addCommand(key, false, args);
      return multi.exec();
    },
    async masters() {
      await whenReady();
      return Promise.all(cluster.masters.map((node) => cluster.nodeClient(node)));
    },
    heal() {
      const now = performance.now();
      if (!cluster.isOpen || now - lastHeal < HEAL_INTERVAL_MS) return;
      lastHeal = now;
      void rediscover(cluster).catch(onError);
    },
    async close(timeoutMs) {
      closed = true;
      clearTimeout(retry);
      if (own === undefined) return;
      await starting;
      if (!own.isOpen) return;
      // `close()` waits for in-flight replies; a hung node must not hold shutdown.
      await bounded(own.close(), timeoutMs, 'close').catch(() => own.destroy());
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** A cluster re-reads its slot map at most this often, however many calls fail meanwhile. */
const HEAL_INTERVAL_MS = 250;

/** Commands the store sends that only read (a cluster may route them to a replica when asked to). */
const READONLY = new Set(['GET', 'GETRANGE', 'EXISTS', 'STRLEN', 'SMEMBERS', 'INFO', 'DBSIZE']);

/** The node-redis internals the re-read goes through (see the module notes). */
interface ClusterInternals {
  readonly _slots?: { rediscover?: (startWith: RedisClientLike) => Promise<void> };
  readonly masters: readonly { readonly client?: RedisClientLike }[];
}

/**
 * Re-reads the slot map, starting from a master whose connection is up (the cluster falls back to its root
 * nodes when that one does not answer). Nothing happens on a client without the internal method.
 */
async function rediscover(cluster: RedisClusterLike): Promise<void> {
  const internals = cluster as unknown as ClusterInternals;
  const rediscoverFrom = internals._slots?.rediscover;
  if (rediscoverFrom === undefined) return;
  const clients = internals.masters.map((master) => master.client);
  const start = clients.find((client) => client?.isReady === true) ?? clients.find((c) => c !== undefined);
  if (start !== undefined) await rediscoverFrom.call(internals._slots, start);
}
