/**
 * @module A real Redis Cluster for the store tests: six `redis-server --cluster-enabled yes` processes on free
 * loopback ports (each one a {@link startRedisServer}), joined by `redis-cli --cluster create … --cluster-replicas
 * 1` into three masters with one replica each, and awaited until every node says `cluster_state:ok` and every
 * replica has synced with its master. A short
 * `cluster-node-timeout` (1 s) lets a killed master's replica take over within seconds.
 */
import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { startRedisServer, type TestRedisServer } from './redis-server.js';

/** A running cluster of three masters and three replicas. */
export interface TestRedisCluster {
  /** Every node, in the order given to `redis-cli --cluster create` (the first three start as masters). */
  readonly nodes: readonly TestRedisServer[];
  /** `redis://127.0.0.1:<port>` of every node: any of them serves as a root node. */
  readonly urls: readonly string[];
  /** The node that is master of `key`'s slot now (asked of a live node). */
  masterOf(key: string): Promise<TestRedisServer>;
  /** Resolves once a live node routes `key`'s slot to a master other than `old` and the cluster is ok again. */
  failedOver(key: string, old: TestRedisServer): Promise<TestRedisServer>;
  /** Stops every node and removes their directories. */
  dispose(): Promise<void>;
}

/**
 * Starts the cluster (about two seconds).
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster();
 * const store = redisStorage({ cluster: { rootNodes: cluster.urls } });
 * afterAll(() => cluster.dispose());
 * ```
 */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const args = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf', // relative to the server's own temporary `--dir`
    '--cluster-node-timeout',
    String(NODE_TIMEOUT_MS),
    // Redis 7 waits 5 s before a diskless full sync; a replica that never synced cannot take over.
    '--repl-diskless-sync-delay',
    '0',
  ];
  const nodes: TestRedisServer[] = [];
  try {
    for (let i = 0; i < 6; i++) nodes.push(await startRedisServer({ args }));
    await redisCli([
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await until(async () => (await Promise.all(nodes.map((node) => isReady(node.port)))).every(Boolean));
  } catch (error) {
    await Promise.all(nodes.map((node) => node.dispose()));
    throw error;
  }
  const dead = new Set<TestRedisServer>();

  async function masterOf(key: string): Promise<TestRedisServer> {
    for (const node of nodes) {
      if (dead.has(node)) continue;
      const port = await ask(node.port, async (client) => {
        const slot = Number(await client.sendCommand(['CLUSTER', 'KEYSLOT', key]));
        const shards = (await client.sendCommand(['CLUSTER', 'SLOTS'])) as [
          number,
          number,
          [string, number],
        ][];
        const shard = shards.find(([from, to]) => slot >= from && slot <= to);
        return shard === undefined ? undefined : Number(shard[2][1]);
      }).catch(() => undefined);
      const master = nodes.find((n) => n.port === port);
      if (master !== undefined) return master;
    }
    throw new Error(`no live node knows the master of ${key}`);
  }

  return {
    nodes,
    urls: nodes.map((node) => node.url),
    masterOf,
    async failedOver(key, old) {
      dead.add(old);
      let promoted: TestRedisServer | undefined;
      await until(async () => {
        const master = await masterOf(key).catch(() => undefined);
        if (master === undefined || master === old || !(await isOk(master.port))) return false;
        promoted = master;
        return true;
      }, FAILOVER_ATTEMPTS);
      return promoted as TestRedisServer;
    },
    async dispose() {
      await Promise.all(nodes.map((node) => node.dispose()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

const NODE_TIMEOUT_MS = 1000;
const POLL_MS = 50;
/** Polls while the cluster forms: 20 s at most. */
const FORM_ATTEMPTS = 400;
/** Polls while a replica takes over from a killed master: node timeout + election, 30 s at most. */
const FAILOVER_ATTEMPTS = 600;

/** Polls `check` (a connection retry loop, not a timing assumption) until it holds. */
async function until(check: () => Promise<boolean>, attempts = FORM_ATTEMPTS): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await delay(POLL_MS);
  }
  throw new Error(`the Redis Cluster did not settle after ${attempts} polls`);
}

/** The cluster is ok from this node, and a replica has synced with its master. */
async function isReady(port: number): Promise<boolean> {
  if (!(await isOk(port))) return false;
  const info = String(
    await ask(port, (client) => client.sendCommand(['INFO', 'replication'])).catch(() => ''),
  );
  return /role:master/.test(info) || /master_link_status:up/.test(info);
}

async function isOk(port: number): Promise<boolean> {
  const info = await ask(port, (client) => client.sendCommand(['CLUSTER', 'INFO'])).catch(() => '');
  return /cluster_state:ok/.test(String(info)) && /cluster_slots_ok:16384/.test(String(info));
}

/** One plain connection to one node, without reconnects. */
async function ask<T>(
  port: number,
  use: (client: ReturnType<typeof createClient>) => Promise<T>,
): Promise<T> {
  const client = createClient({
    url: `redis://127.0.0.1:${port}`,
    socket: { reconnectStrategy: false, connectTimeout: 1000 },
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    if (client.isOpen) client.destroy();
  }
}

function redisCli(args: readonly string[]): Promise<void> {
  const bin = process.env.REDIS_CLI ?? 'redis-cli';
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => {
      output += data.toString();
    });
    child.stderr.on('data', (data: Buffer) => {
      output += data.toString();
    });
    child.on('error', (error) =>
      reject(new Error(`${bin} did not start (is it installed?): ${error.message}`)),
    );
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${bin} ${args.join(' ')} exited ${code}: ${output}`)),
    );
  });
}
