/**
 * Runs `wrk` with one of the Lua scripts in `bench/lua/` and returns what its `done()` printed: every script ends
 * with the same `WRK_RESULT {json}` line (requests, duration, bytes, socket errors, latency percentiles, and
 * whatever counters the script keeps).
 *
 * wrk runs for a duration (`-d`). For a fixed number of requests (the soak), the script stops each thread after
 * its quota and prints `THREAD_DONE` on stderr; wrk's main thread still sleeps out `-d`, so once every thread has
 * said so this sends it SIGINT, which ends the sleep and prints the summary at once.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The `bench/lua/` directory. */
export const LUA_DIR = join(import.meta.dirname, 'lua');

/** wrk's socket error counts (`status` counts responses with a status above 399). */
export interface WrkErrors {
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  readonly status: number;
  readonly timeout: number;
}

/** What a script's `done()` reports. */
export interface WrkResult {
  readonly requests: number;
  readonly durationUs: number;
  readonly bytes: number;
  readonly errors: WrkErrors;
  readonly latencyUs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
    readonly mean: number;
  };
  /** Counters the script keeps, summed over its threads (the soak script's status and cache counts). */
  readonly counts?: Readonly<Record<string, number>>;
  /** A few responses the script found wrong, described. */
  readonly bad?: readonly string[];
}

/** Options of {@link runWrk}. */
export interface WrkOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080/` (the script builds the paths). */
  readonly url: string;
  /** Script file name in `bench/lua/`. */
  readonly script: string;
  /** Arguments after `--`, read by the script's `init()`. */
  readonly args?: readonly string[];
  readonly threads: number;
  readonly connections: number;
  /** `-d`: the run length, or (with `untilThreadsDone`) an upper bound. */
  readonly seconds: number;
  /** End the run as soon as every thread printed `THREAD_DONE` (quota scripts). */
  readonly untilThreadsDone?: boolean;
  /** `--timeout` of one request, seconds. @default 10 */
  readonly requestTimeoutSeconds?: number;
  /** Called with the running wrk process (so a caller can stop it on failure). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/**
 * Runs wrk and parses its `WRK_RESULT` line.
 *
 * @example
 * ```ts
 * const r = await runWrk({ url: 'http://127.0.0.1:8080/', script: 'ranges-4k.lua', args: ['/obj', '67108864'],
 *   threads: 2, connections: 64, seconds: 10 });
 * console.log(r.requests / (r.durationUs / 1e6));
 * ```
 */
export function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${Math.ceil(options.seconds)}s`,
    '--timeout',
    `${options.requestTimeoutSeconds ?? 10}s`,
    '-s',
    join(LUA_DIR, options.script),
    options.url,
    ...(options.args === undefined ? [] : ['--', ...options.args]),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    let threadsDone = 0;
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
    });
    child.stderr.on('data', (data: Buffer) => {
      const text = data.toString();
      stderr += text;
      if (options.untilThreadsDone !== true) return;
      threadsDone += text.split('THREAD_DONE').length - 1;
      if (threadsDone >= options.threads) child.kill('SIGINT');
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('WRK_RESULT '));
      if (line === undefined) {
        reject(
          new Error(`wrk ${args.join(' ')} failed (code ${code}, signal ${signal}):\n${stderr}${stdout}`),
        );
        return;
      }
      resolve(JSON.parse(line.slice('WRK_RESULT '.length)) as WrkResult);
    });
  });
}

/**
 * Requests per second of a wrk result.
 *
 * @example
 * ```ts
 * rps(result); // 10234.5
 * ```
 */
export function rps(result: WrkResult): number {
  return result.requests / (result.durationUs / 1e6);
}

/**
 * The socket errors of a result (connect, read, write, timeout), not counting `status` (4xx/5xx answers,
 * which a script may expect).
 *
 * @example
 * ```ts
 * if (socketErrors(result) > 0) throw new Error('wrk saw socket errors');
 * ```
 */
export function socketErrors(result: WrkResult): number {
  const e = result.errors;
  return e.connect + e.read + e.write + e.timeout;
}
