/**
 * A throwaway nginx origin for the benchmarks: one worker, a generated config and every path (pid, logs, temp)
 * inside a temp dir, `daemon off` so it is our child and dies with us. Two locations serve the same files:
 * `/fast/` as nginx serves static files by default (sendfile), and `/slow/` throttled per request with
 * `limit_rate` (which needs `sendfile off` to take effect smoothly).
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link startNginx}. */
export interface NginxOptions {
  /** The nginx binary. @default '/usr/sbin/nginx' */
  readonly binary?: string;
  /** Directory for config, pid, logs and temp files (created if missing). */
  readonly dir: string;
  /** Directory whose files are served. */
  readonly root: string;
  /** `limit_rate` of `/slow/`, e.g. `'20m'` (nginx units: m = MiB per second). */
  readonly slowRate: string;
  /**
   * Also serve `/sliced/` through the slice module and `proxy_cache` (stored in `cacheDir`), in front of the
   * origin `upstream` (`host:port`, whose `/fast/` is proxied). Used as a separate nginx so the cache and
   * the origin each have their own worker, as in a real deployment.
   */
  readonly sliceCache?: { readonly upstream: string; readonly cacheDir: string };
}

/** A running nginx. */
export interface Nginx {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** The master's pid (its worker is its child). */
  readonly pid: number;
  /** Stops nginx (SIGQUIT, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts nginx on a free loopback port and waits until it accepts connections.
 *
 * @example
 * ```ts
 * const nginx = await startNginx({ dir: '/tmp/x/nginx', root: '/tmp/x/www', slowRate: '20m' });
 * // GET `${nginx.base}/slow/file` is throttled, `${nginx.base}/fast/file` is not
 * await nginx.stop();
 * ```
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = options.binary ?? '/usr/sbin/nginx';
  mkdirSync(options.dir, { recursive: true });
  if (options.sliceCache !== undefined) mkdirSync(options.sliceCache.cacheDir, { recursive: true });
  const port = await freePort();
  const conf = join(options.dir, 'nginx.conf');
  writeFileSync(conf, config(options, port));
  const child = spawn(binary, ['-c', conf, '-p', options.dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`nginx did not start: ${(error as Error).message}\n${stderr}`);
  }
  return {
    base: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The nginx version line (`nginx version: nginx/1.22.1`), or `unknown`.
 *
 * @example
 * ```ts
 * console.log(await nginxVersion());
 * ```
 */
export async function nginxVersion(binary = '/usr/sbin/nginx'): Promise<string> {
  const child = spawn(binary, ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  child.stderr?.on('data', (data: Buffer) => {
    out += data.toString();
  });
  return new Promise((resolve) => {
    child.once('error', () => resolve('unknown'));
    child.once('close', () => resolve(out.trim().replace(/^nginx version:\s*/, '') || 'unknown'));
  });
}

/**
 * nginx's worker: the master's only child (`worker_processes 1`), or `undefined` when it cannot be read.
 *
 * @example
 * ```ts
 * const worker = nginxWorkerPid(nginx.pid);
 * ```
 */
export function nginxWorkerPid(masterPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8')
      .trim()
      .split(/\s+/);
    const pid = Number(children[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------

function config(options: NginxOptions, port: number): string {
  const d = options.dir;
  // Workers must read the temp dir (0700, owned by us): as root, run them as root too.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}worker_processes 1;
daemon off;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  default_type application/octet-stream;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    location /fast/ { alias ${options.root}/; sendfile on; tcp_nopush on; }
    location /slow/ { alias ${options.root}/; sendfile off; limit_rate ${options.slowRate}; }
${options.sliceCache === undefined ? '' : sliceLocation()}  }
${options.sliceCache === undefined ? '' : sliceHttp(options.sliceCache)}}
`;
}

// nginx's documented slice + cache recipe (ngx_http_slice_module), 1 MiB slices like slice-fetch's, with
// keep-alive connections to the origin (the `upstream` block) so nginx is not handicapped by a TCP handshake
// per slice. `$args` in the key lets a benchmark ask for a cold object with a unique query.
function sliceHttp(cache: { readonly upstream: string; readonly cacheDir: string }): string {
  return `  proxy_cache_path ${cache.cacheDir} levels=1:2 keys_zone=slices:16m max_size=16g inactive=1h use_temp_path=off;
  upstream origin { server ${cache.upstream}; keepalive 16; }
`;
}

function sliceLocation(): string {
  return `    location /sliced/ {
      slice 1m;
      proxy_cache slices;
      proxy_cache_key $uri$is_args$args$slice_range;
      proxy_set_header Range $slice_range;
      proxy_set_header Connection "";
      proxy_cache_valid 200 206 1h;
      proxy_http_version 1.1;
      proxy_pass http://origin/fast/;
      sendfile on;
      tcp_nopush on;
    }
`;
}

/**
 * A free loopback port (bound once, then released).
 *
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`port ${port} not accepting connections after 5 s`);
}
