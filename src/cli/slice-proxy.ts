/**
 * `slice-proxy`: a standalone caching, slicing reverse proxy (R18) — the composition root that wires a
 * store, the Prometheus hooks, a pino logger, a fetcher and the handler into two servers: the proxy on `listen`
 * (HTTP, or HTTPS with `tls`) and `/metrics` + `/healthz` on `admin`.
 *
 * Start-up refuses, with exit code 2 and one sentence on stderr, what would otherwise fail quietly later: a bad
 * option, an unreadable TLS file, a cache directory that cannot be written. SIGTERM/SIGINT drain in-flight
 * responses for up to `shutdownMs`, then close the stores, bounded as well; a second signal exits at once.
 *
 * prom-client, pino and yaml are bundled into this binary (tsup.config.ts), so a global install serves
 * `/metrics` with nothing else installed; only `redis` stays an optional peer, loaded when asked for.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isSliceFetchError } from '../core/errors.js';
import { createSliceFetcher } from '../engine/fetcher.js';
import { createSliceHandler } from '../http/handler.js';
import { combineHooks } from '../metrics/combine-hooks.js';
import { type PrometheusMetrics, prometheusMetrics } from '../metrics/prometheus.js';
import type { CacheStorage, Logger } from '../ports.js';
import { coordinatedStorage } from '../storage/coordinated.js';
import { type FsStorage, fsStorage } from '../storage/fs.js';
import { memoryStorage } from '../storage/memory.js';
import { tieredStorage } from '../storage/tiered.js';
import { loadProxyConfig, PROXY_USAGE } from './load-proxy-config.js';
import { createLogger, RequestIds } from './logger.js';
import { keepFreedHeap } from './malloc-tuning.js';
import { engineOptions, type SliceProxyConfig } from './proxy-config.js';
import { checkCacheDir } from './store-check.js';
import { VERSION } from './version.js';

/** Closing the stores after the drain gets at least this long, even when the drain used all of `shutdownMs`. */
const CLOSE_GRACE_MS = 1000;
/** The byte budget of a memory or disk tier when `store.maxBytes` is not set. */
const DEFAULT_TIER_BYTES = 256 * 1024 * 1024;
/** Exit codes of a second signal: 128 + the signal number, as a shell reports a process killed by it. */
const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

keepFreedHeap();
await main(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<void> {
  let config: Awaited<ReturnType<typeof loadProxyConfig>>;
  try {
    config = await loadProxyConfig(argv);
  } catch (error) {
    fail(describe(error), 2);
  }
  if (config === 'help') {
    process.stdout.write(`${PROXY_USAGE}\n`);
    return;
  }
  if (config === 'version') {
    process.stdout.write(`slice-proxy ${VERSION}\n`);
    return;
  }
  // What the proxy cannot run without is checked before anything listens (exit 2: a configuration problem).
  let tls: { cert: Buffer; key: Buffer } | undefined;
  try {
    tls = readTls(config);
    const dir = diskCacheDir(config);
    if (dir !== undefined) await checkCacheDir(dir);
  } catch (error) {
    fail(describe(error), 2);
  }
  const ids = new RequestIds();
  const log = createLogger(config.logLevel, 'slice-proxy', ids);
  try {
    await serve(config, log, ids, tls);
  } catch (error) {
    log.error({ err: error }, 'start-up failed');
    fail(`start-up failed: ${describe(error)}`, 1);
  }
}

async function serve(
  config: SliceProxyConfig,
  log: Logger,
  ids: RequestIds,
  tls: { cert: Buffer; key: Buffer } | undefined,
): Promise<void> {
  const store = await createStore(config, log);
  const metrics = prometheusMetrics({ cache: store });
  const fetcher = createSliceFetcher({
    ...engineOptions(config),
    cache: store,
    hooks: combineHooks(metrics, ids.hooks),
    logger: log,
  });
  metrics.observe(fetcher);
  const handler = createSliceHandler({
    upstream: config.upstream,
    fetcher,
    purge: config.purge,
    sendTimeoutMs: config.sendTimeoutMs,
    include: config.include,
    exclude: config.exclude,
    minSize: config.minSize,
    forwardRequestHeaders: config.forwardRequestHeaders,
    passThroughMethods: config.passThroughMethods,
    onError: (error, req) => log.warn({ reqId: req.headers['x-request-id'], err: error }, 'request failed'),
  });

  let draining = false;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const reqId = requestId(req);
    const started = performance.now();
    res.setHeader('x-request-id', reqId);
    // While draining, every answer closes its connection so keep-alive clients move on to another instance.
    if (draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      log.info(
        {
          reqId,
          method: req.method,
          url: req.url,
          status: res.statusCode,
          complete: res.writableFinished,
          durationMs: Math.round(performance.now() - started),
        },
        'http request',
      );
      if (draining) proxy.closeIdleConnections();
    });
    // The engine's lines for this request get the same `reqId` (logger.ts).
    ids.run(reqId, () => handler(req, res));
  };
  const proxy: Server =
    tls === undefined
      ? createServer({ highWaterMark: 1024 * 1024 }, onRequest)
      : createHttpsServer({ highWaterMark: 1024 * 1024, ...tls }, onRequest);
  const admin = createServer((req, res) => {
    void adminRoute(req, res, metrics, () => draining);
  });

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    draining = true;
    log.info({ signal, deadlineMs: config.shutdownMs }, 'shutting down: draining in-flight responses');
    const started = performance.now();
    // Whatever hangs — a store, a file system, a socket — the process is gone by then (exit 1).
    const hardMs = config.shutdownMs + CLOSE_GRACE_MS;
    setTimeout(() => {
      log.error({ deadlineMs: hardMs }, 'shutdown deadline reached with the stores still closing: exiting');
      process.exit(1);
    }, hardMs);
    const deadline = setTimeout(() => {
      log.warn({ deadlineMs: config.shutdownMs }, 'shutdown deadline reached: closing open connections');
      proxy.closeAllConnections();
    }, config.shutdownMs);
    deadline.unref();
    const closed = Promise.all([close(proxy), close(admin)]);
    proxy.closeIdleConnections();
    admin.closeAllConnections();
    await closed;
    clearTimeout(deadline);
    log.info({ elapsedMs: Math.round(performance.now() - started) }, 'closing the stores');
    let failed = false;
    for (const [what, closer] of [
      ['handler', () => handler.close()],
      ['fetcher', () => fetcher.close()],
      ['store', () => store.close()],
    ] as const) {
      try {
        await closer();
      } catch (error) {
        failed = true;
        log.error({ err: error, what }, 'close failed');
      }
    }
    log.info({}, 'stopped');
    process.exit(failed ? 1 : 0);
  };
  // Registered before listening: a signal that arrives before the handlers would kill the process outright.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // The operator asked twice: stop waiting for in-flight responses and stores.
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(SIGNAL_EXIT[signal] ?? 1);
    }
    stopping = true;
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const listen = await bind(proxy, config.listen);
  const adminAt = await bind(admin, config.admin);
  log.info(
    { listen, admin: adminAt, upstream: config.upstream, tls: tls !== undefined, version: VERSION },
    'listening',
  );
}

async function adminRoute(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: PrometheusMetrics,
  draining: () => boolean,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') {
    // 503 while draining so a load balancer stops routing here before the listener closes.
    text(res, draining() ? 503 : 200, draining() ? 'draining' : 'ok');
  } else if (path === '/metrics') {
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(body);
    } catch (error) {
      text(res, 500, `metrics failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else text(res, 404, 'not found');
}

/** The directory of the disk tier, when the configuration has one. */
function diskCacheDir(config: SliceProxyConfig): string | undefined {
  const { type, dir, redisUrl, redisCluster } = config.store;
  return type === 'fs' ||
    type === 'coordinated' ||
    (type === 'tiered' && redisUrl === undefined && redisCluster === undefined)
    ? dir
    : undefined;
}

/** The TLS certificate and key, read now so a missing file stops the start-up with its reason. */
function readTls(config: SliceProxyConfig): { cert: Buffer; key: Buffer } | undefined {
  if (config.tls === undefined) return undefined;
  const read = (what: 'cert' | 'key'): Buffer => {
    const file = config.tls?.[what] as string;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`Cannot read \`tls.${what}\` \`${file}\`: ${describe(error)}.`, { cause: error });
    }
  };
  const pair = { cert: read('cert'), key: read('key') };
  try {
    // Parsing them here turns a bad PEM or a key that does not match into a start-up error, not a failed bind.
    createHttpsServer(pair).close();
  } catch (error) {
    throw new Error(`Cannot use \`tls.cert\` and \`tls.key\`: ${describe(error)}.`, { cause: error });
  }
  return pair;
}

async function createStore(config: SliceProxyConfig, log: Logger): Promise<CacheStorage> {
  const { type, dir, redisUrl, redisCluster } = config.store;
  // Memory and disk need a budget of their own; Redis has its own `maxmemory`, and gets a cap only when asked.
  const maxBytes = config.store.maxBytes ?? DEFAULT_TIER_BYTES;
  const memory = (): CacheStorage => memoryStorage({ maxBytes });
  const disk = (): CacheStorage => {
    const store: FsStorage = fsStorage({ dir: dir as string, maxBytes, logger: log });
    store.ready.then(
      () => log.info({ dir }, 'disk cache index ready'),
      (error: unknown) => log.error({ dir, err: error }, 'disk cache unusable: serving from the origin'),
    );
    return store;
  };
  const redis = async (): Promise<CacheStorage> => {
    // Loaded only when asked for: `redis` is an optional peer.
    const { redisStorage } = await import('../storage/redis.js');
    const where = redisCluster === undefined ? { url: redisUrl } : { cluster: { rootNodes: redisCluster } };
    return redisStorage({ ...where, maxBytes: config.store.maxBytes, logger: log });
  };
  switch (type) {
    case 'memory':
      return memory();
    case 'fs':
      return disk();
    case 'redis':
      return redis();
    case 'coordinated':
      return coordinatedStorage({ coordinator: await redis(), bytes: disk() });
    case 'tiered':
      return tieredStorage([
        memory(),
        redisUrl === undefined && redisCluster === undefined ? disk() : await redis(),
      ]);
  }
}

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  // A caller's id is kept (tracing across hops) when it is short and printable; otherwise a fresh one.
  if (typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given)) return given;
  const id = randomUUID();
  req.headers['x-request-id'] = id;
  return id;
}

async function bind(server: Server, address: string): Promise<string> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') return address;
  return `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body) + 1,
  });
  res.end(`${body}\n`);
}

function describe(error: unknown): string {
  if (isSliceFetchError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** An error that stops the process: one plain sentence on stderr (logs stay on stdout), then the exit code. */
function fail(message: string, code: number): never {
  process.stderr.write(`slice-proxy: ${message}\n`);
  process.exit(code);
}
