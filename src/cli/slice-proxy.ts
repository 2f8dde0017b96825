/**
 * `slice-proxy`: a standalone caching, slicing reverse proxy (R18) — the composition root that wires a
 * store, the Prometheus hooks, a pino logger, a fetcher and the handler into two servers: the proxy on `listen`
 * and `/metrics` + `/healthz` on `admin`. SIGTERM/SIGINT drain in-flight responses, then close everything.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isSliceFetchError } from '../core/errors.js';
import { createSliceFetcher } from '../engine/fetcher.js';
import { createSliceHandler } from '../http/handler.js';
import type { CacheStorage, Logger } from '../ports.js';
import { fsStorage } from '../storage/fs.js';
import { memoryStorage } from '../storage/memory.js';
import { tieredStorage } from '../storage/tiered.js';
import { loadProxyConfig, PROXY_USAGE } from './load-proxy-config.js';
import { keepFreedHeap } from './malloc-tuning.js';
import { engineOptions, type SliceProxyConfig } from './proxy-config.js';

keepFreedHeap();
await main(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<void> {
  let config: SliceProxyConfig | 'help';
  try {
    config = await loadProxyConfig(argv);
  } catch (error) {
    process.stderr.write(`slice-proxy: ${isSliceFetchError(error) ? error.message : String(error)}\n`);
    process.exit(2);
  }
  if (config === 'help') {
    process.stdout.write(`${PROXY_USAGE}\n`);
    return;
  }
  const log = await createLogger(config.logLevel);
  try {
    await serve(config, log);
  } catch (error) {
    log.error({ err: error instanceof Error ? error.message : String(error) }, 'start-up failed');
    process.exit(1);
  }
}

async function serve(config: SliceProxyConfig, log: Logger): Promise<void> {
  const store = await createStore(config, log);
  const metrics = await loadMetrics(store, log);
  const fetcher = createSliceFetcher({ ...engineOptions(config), cache: store, hooks: metrics, logger: log });
  metrics?.observe(fetcher);
  const handler = createSliceHandler({
    upstream: config.upstream,
    fetcher,
    purge: config.purge,
    sendTimeoutMs: config.sendTimeoutMs,
    onError: (error, req) =>
      log.warn({ reqId: req.headers['x-request-id'], err: error.message }, 'request failed'),
  });

  let draining = false;
  const proxy = createServer({ highWaterMark: 1024 * 1024 }, (req, res) => {
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
    handler(req, res);
  });
  const admin = createServer((req, res) => {
    void adminRoute(req, res, metrics, () => draining);
  });

  const listen = await bind(proxy, config.listen);
  const adminAt = await bind(admin, config.admin);
  log.info({ listen: listen, admin: adminAt, upstream: config.upstream }, 'listening');

  let signals = 0;
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    draining = true;
    log.info({ signal, deadlineMs: config.shutdownMs }, 'shutting down: draining in-flight responses');
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
    await handler.close();
    await fetcher.close();
    await store.close();
    log.info({}, 'stopped');
    process.exit(0);
  };
  process.once('SIGTERM', (s) => void shutdown(s));
  process.once('SIGINT', (s) => void shutdown(s));
  // `once` above would leave the default handler (kill) for a second signal; count it in `shutdown` instead.
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
}

async function adminRoute(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: Awaited<ReturnType<typeof loadMetrics>>,
  draining: () => boolean,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') {
    // 503 while draining so a load balancer stops routing here before the listener closes.
    text(res, draining() ? 503 : 200, draining() ? 'draining' : 'ok');
  } else if (path === '/metrics' && metrics !== undefined) {
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(body);
    } catch (error) {
      text(res, 500, `metrics failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else text(res, 404, 'not found');
}

async function createStore(config: SliceProxyConfig, log: Logger): Promise<CacheStorage> {
  const { type, dir, maxBytes, redisUrl } = config.store;
  const memory = (): CacheStorage => memoryStorage({ maxBytes });
  const disk = (): CacheStorage => fsStorage({ dir: dir as string, maxBytes, logger: log });
  const redis = async (): Promise<CacheStorage> => {
    // Loaded only when asked for: `redis` is an optional peer.
    const { redisStorage } = await import('../storage/redis.js');
    return redisStorage({ url: redisUrl, maxBytes });
  };
  switch (type) {
    case 'memory':
      return memory();
    case 'fs':
      return disk();
    case 'redis':
      return redis();
    case 'tiered':
      return tieredStorage([memory(), redisUrl === undefined ? disk() : await redis()]);
  }
}

/** pino when installed (an optional peer), else one JSON line per entry on stdout in pino's shape. */
async function createLogger(level: SliceProxyConfig['logLevel']): Promise<Logger> {
  try {
    const { pino } = await import('pino');
    const logger: Logger = pino({ level, base: { name: 'slice-proxy' } });
    return logger;
  } catch {
    const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
    const min = order.indexOf(level);
    const at =
      (name: string, value: number) =>
      (object: Record<string, unknown>, msg?: string): void => {
        if (order.indexOf(name) < min) return;
        process.stdout.write(
          `${JSON.stringify({ level: value, time: Date.now(), name: 'slice-proxy', ...object, msg })}\n`,
        );
      };
    return { debug: at('debug', 20), info: at('info', 30), warn: at('warn', 40), error: at('error', 50) };
  }
}

/** The Prometheus hooks when prom-client (an optional peer) is installed; `/metrics` answers 404 otherwise. */
async function loadMetrics(store: CacheStorage, log: Logger) {
  try {
    const { prometheusMetrics } = await import('../metrics/prometheus.js');
    return prometheusMetrics({ cache: store });
  } catch (error) {
    log.warn(
      { err: error instanceof Error ? error.message : String(error) },
      'prom-client missing: no /metrics',
    );
    return undefined;
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
