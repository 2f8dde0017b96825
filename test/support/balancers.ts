/**
 * @module Real balancers for the fleet tests (docs/fleet.md): `nginx` and `haproxy` started in the foreground,
 * every path in a temporary directory, stopped by the test; and the small helpers their tests share.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** The `nginx` binary the tests use (built with its slice module, as Debian's is; see scripts/ensure-test-tools.mjs). */
export const NGINX_BINARY = '/usr/sbin/nginx';
/** The `haproxy` binary (Debian's package `haproxy`); the HAProxy test skips when it is not installed. */
export const HAPROXY_BINARY = process.env.SLICE_FETCH_HAPROXY || '/usr/sbin/haproxy';

/**
 * Why a binary cannot run here (a suffix for a test title), or `undefined` when it can.
 *
 * @example
 * describe.skipIf(missingBinary(HAPROXY_BINARY, 'haproxy') !== undefined)('haproxy', () => {});
 */
export function missingBinary(binary: string, pkg: string): string | undefined {
  if (!existsSync(binary)) return ` (skipped: ${binary} is not installed — apt-get install ${pkg})`;
  const probe = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  if (probe.error !== undefined) return ` (skipped: ${binary} does not run: ${probe.error.message})`;
  return undefined;
}

/** A balancer process started by {@link startNginx} or {@link startHaproxy}. */
export interface Balancer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Its configuration file as written. */
  readonly config: string;
  /** Stops it (SIGQUIT for nginx, SIGUSR1 for HAProxy: both finish what is in flight), SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts nginx in the foreground on a loopback port (`port`, else a free one) with `http` as the body of its
 * `http {}` block, given the port to listen on; every path (pid, logs, temp files) is in a temporary
 * directory, removed by `stop()`.
 *
 * @example
 * const nginx = await startNginx((port) => objectHashNginx({ listen: `127.0.0.1:${port}`, nodes }));
 */
export async function startNginx(http: (port: number) => string, port?: number): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fleet-nginx-'));
  port ??= await freePort();
  // The workers must write the temporary directory (0700, ours): as root, they run as root too.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const body = http(port)
    .trimEnd()
    .split('\n')
    .map((line) => (line === '' ? '' : `    ${line}`))
    .join('\n');
  const config = `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${body}
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  return startBalancer(NGINX_BINARY, ['-c', file, '-p', dir], dir, port, config, 'SIGQUIT');
}

/**
 * Starts HAProxy in the foreground (`-db`) on a loopback port (`port`, else a free one) with `sections`
 * (everything after `global`) given the port to bind; its configuration is in a temporary directory, removed
 * by `stop()`.
 *
 * @example
 * const haproxy = await startHaproxy((port) => objectHashHaproxy({ bind: `127.0.0.1:${port}`, nodes }));
 */
export async function startHaproxy(sections: (port: number) => string, port?: number): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fleet-haproxy-'));
  port ??= await freePort();
  const config = `global
    maxconn 1000

${sections(port)}`;
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  return startBalancer(HAPROXY_BINARY, ['-db', '-f', file], dir, port, config, 'SIGUSR1');
}

/**
 * A free loopback port (bound once, then released).
 *
 * @example
 * const port = await freePort();
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/**
 * The sum of one counter over all its label sets in a Prometheus text exposition (0 when absent).
 *
 * @example
 * counterSum(await (await fetch(`${admin}/metrics`)).text(), 'slice_fetch_cache_stores_total');
 */
export function counterSum(exposition: string, name: string): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? (\S+)/.exec(line);
    if (match?.[1] === name) sum += Number(match[2]);
  }
  return sum;
}

async function startBalancer(
  binary: string,
  args: readonly string[],
  dir: string,
  port: number,
  config: string,
  stopSignal: NodeJS.Signals,
): Promise<Balancer> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  child.on('error', (error) => {
    stderr += String(error);
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${binary} did not start: ${(error as Error).message}\n${stderr}\n${config}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(stopSignal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until the port accepts a connection (the balancer gives no other sign that it is ready). */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`exited (${child.exitCode ?? child.signalCode})`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await delay(25); // a connection-retry loop, bounded: about 10 s in all
  }
  throw new Error(`port ${port} not accepting connections`);
}
