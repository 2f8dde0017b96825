/**
 * Runs the measured clients as child processes. The Node clients are bundled with esbuild first and run as
 * plain `node client.mjs`: running them through the tsx loader would add ~30 MiB of RSS that is not the
 * library's, and a bundle is what an application ships. aria2c runs under `/usr/bin/time` for its peak RSS;
 * its time is taken from spawn to exit.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ClientResult, RESULT_PREFIX } from './clients/protocol.js';

/** Paths of the bundled clients. */
export interface Clients {
  readonly slice: string;
  readonly undici: string;
  /** The case-4 client with a disk or Redis store. */
  readonly store: string;
  /** `slice-proxy` (src/cli/slice-proxy.ts) bundled the same way, for case 4's proxy-against-proxy table. */
  readonly proxy: string;
  /** Case 5's servers (bench/servers/): `createSliceHandler()` in `node:http`, and bare `node:http`. */
  readonly handlerServer: string;
  readonly bareServer: string;
}

/**
 * Bundles `bench/clients/{slice,undici,store}.ts` (with the library and its dependencies) into `outDir`, with
 * source maps so CPU profiles can be mapped back to `src/`, and `slice-proxy` and case 5's servers
 * (`bench/servers/`) likewise.
 *
 * @example
 * ```ts
 * const clients = await buildClients('/tmp/bench/clients');
 * ```
 */
/**
 * esbuild options of every bench bundle: one ES module for Node 20 with its dependencies inside. undici is
 * CommonJS, so its `require('node:…')` calls need a real `require` inside the module (the banner).
 *
 * @example
 * ```ts
 * await build({ ...NODE_ESM_BUNDLE, entryPoints: ['bench/disk-scale/child.ts'], outfile: '/tmp/child.mjs' });
 * ```
 */
export const NODE_ESM_BUNDLE = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'error',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
} as const;

export async function buildClients(outDir: string): Promise<Clients> {
  // esbuild comes with tsup/tsx; imported lazily so type-checking the bench never needs it at load time.
  const { build } = await import('esbuild');
  const here = import.meta.dirname;
  await build({
    entryPoints: ['slice', 'undici', 'store'].map((name) => join(here, 'clients', `${name}.ts`)),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    ...NODE_ESM_BUNDLE,
    sourcemap: 'linked',
  });
  // Its own build: entry points in two directories would move every output under their common ancestor.
  await build({
    entryPoints: [join(here, '..', 'src', 'cli', 'slice-proxy.ts')],
    outfile: join(outDir, 'slice-proxy.mjs'),
    ...NODE_ESM_BUNDLE,
    sourcemap: 'linked',
  });
  // Case 5's servers (the handler's is case 7's too), a directory of their own for the same reason; source maps
  // for `--profile`.
  await build({
    entryPoints: ['handler-server', 'bare-server'].map((name) => join(here, 'servers', `${name}.ts`)),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    ...NODE_ESM_BUNDLE,
    sourcemap: 'linked',
  });
  return {
    slice: join(outDir, 'slice.mjs'),
    undici: join(outDir, 'undici.mjs'),
    store: join(outDir, 'store.mjs'),
    proxy: join(outDir, 'slice-proxy.mjs'),
    handlerServer: join(outDir, 'handler-server.mjs'),
    bareServer: join(outDir, 'bare-server.mjs'),
  };
}

/**
 * glibc settings for `--glibc-tuned`: keep freed heap memory instead of handing the heap top back to the kernel
 * after every burst of frees (the collector frees 64 KiB socket buffers by the thousand), and grow the heap in
 * 64 MiB steps. See README "Memory and CPU".
 */
export const TUNED_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024),
  MALLOC_TOP_PAD_: String(64 * 1024 * 1024),
};

/** Extra environment of every Node client this run (set once by `run.ts`, before any client starts). */
let clientEnv: Readonly<Record<string, string>> = {};

/**
 * Sets extra environment variables for every Node client started after this call (not aria2c).
 *
 * @example
 * ```ts
 * useClientEnv(TUNED_MALLOC_ENV);
 * ```
 */
export function useClientEnv(extra: Readonly<Record<string, string>>): void {
  clientEnv = extra;
}

/** Options of {@link runClient}. */
export interface RunOptions {
  /** Extra `node` flags (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** Kill the client after this long. @default 180000 */
  readonly timeoutMs?: number;
}

/**
 * Runs a bundled client with its JSON spec and returns what it reported.
 *
 * @example
 * ```ts
 * const result = await runClient(clients.undici, { url });
 * ```
 */
export function runClient(script: string, spec: object, options: RunOptions = {}): Promise<ClientResult> {
  const args = [...(options.nodeArgs ?? []), script, JSON.stringify(spec)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...clientEnv },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
    });
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(new Error(`client ${script} failed (code ${code}, signal ${signal}):\n${stderr}${stdout}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as ClientResult);
    });
  });
}

/**
 * Starts a bundled Node server (the proxy) with the run's client environment; stdout and stderr are kept for
 * the error message if it fails. `nodeArgs` go to its `node`, before the script (e.g. `--cpu-prof`).
 *
 * @example
 * ```ts
 * const proxy = startNodeServer(clients.proxy, ['--upstream', origin, '--listen', '127.0.0.1:8080']);
 * ```
 */
export function startNodeServer(
  script: string,
  args: readonly string[],
  nodeArgs: readonly string[] = [],
): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, script, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...clientEnv },
  });
}

/**
 * Stops a child (SIGTERM, then SIGKILL after `killAfterMs`) and waits for it to exit; a child already gone is
 * left alone.
 *
 * @example
 * ```ts
 * await stopChild(server, 5000);
 * ```
 */
export async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}

/** What an aria2c run measured. */
export interface Aria2Result {
  readonly ms: number;
  readonly maxRssKiB: number;
  readonly bytes: number;
}

/**
 * Downloads `url` with `aria2c -x8 -s8 -k1M` into `dir`, measures spawn-to-exit time and peak RSS, checks
 * the size, then deletes the file.
 *
 * @example
 * ```ts
 * const { ms } = await runAria2c('http://127.0.0.1:8080/slow/f64', '/tmp/bench/aria2', 64 * 1024 * 1024);
 * ```
 */
export function runAria2c(url: string, dir: string, expectedBytes: number): Promise<Aria2Result> {
  const out = 'aria2.out';
  const rssFile = join(dir, 'aria2.rss');
  const args = [
    '-f',
    '%M',
    '-o',
    rssFile,
    'aria2c',
    '-x8',
    '-s8',
    '-k1M',
    '--file-allocation=none',
    '-d',
    dir,
    '-o',
    out,
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--console-log-level=error',
    '--summary-interval=0',
    '-q',
    url,
  ];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - started;
      const file = join(dir, out);
      try {
        const bytes = existsSync(file) ? statSync(file).size : 0;
        if (code !== 0 || bytes !== expectedBytes)
          throw new Error(`aria2c failed (code ${code}, ${bytes} of ${expectedBytes} bytes):\n${stderr}`);
        resolve({ ms, maxRssKiB: Number(readFileSync(rssFile, 'utf8').trim()), bytes });
      } catch (error) {
        reject(error);
      } finally {
        rmSync(file, { force: true });
        rmSync(`${file}.aria2`, { force: true });
      }
    });
  });
}
