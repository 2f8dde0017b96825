/**
 * @module Spawning the real CLI binaries (`node --import tsx src/cli/…`) for end-to-end tests: output is
 * collected, a test waits for a log line (never a sleep), and every child still running is killed after the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** A running CLI process with its collected output. */
export interface Cli {
  readonly child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout JSON line whose `msg` is `msg`; rejects if the process exits first. */
  waitForLog(msg: string): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();

/** How to start a CLI besides its arguments. */
export interface RunOptions {
  /** Node options before the script, e.g. `['--import', fixture]` to preload a test fault. */
  readonly nodeArgs?: readonly string[];
  /** The script to run instead of `src/cli/<name>.ts`, e.g. a built `dist/cli/<name>.js`. */
  readonly script?: string;
  readonly cwd?: string;
}

/**
 * Starts `src/cli/<name>.ts` with `args`.
 *
 * @example
 * const proxy = runCli('slice-proxy', ['--upstream', origin.url('/')]);
 * await proxy.waitForLog('listening');
 */
export function runCli(name: string, args: readonly string[], options: RunOptions = {}): Cli {
  const command =
    options.script === undefined
      ? ['--import', 'tsx', ...(options.nodeArgs ?? []), join(root, 'src', 'cli', `${name}.ts`)]
      : [...(options.nodeArgs ?? []), options.script];
  const child = spawn(process.execPath, [...command, ...args], {
    cwd: options.cwd ?? root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of waiters.splice(0)) w();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      for (const w of waiters.splice(0)) w();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const waitForLog = (msg: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        for (const line of out.split('\n')) {
          const entry = parseLine(line);
          if (entry?.msg === msg) {
            resolve(entry);
            return;
          }
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          reject(new Error(`process exited before logging "${msg}":\n${out}\n${err}`));
          return;
        }
        waiters.push(check);
      };
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitForLog, exited };
}

/**
 * Starts `slice-proxy` in front of `upstream` on loopback ports of its own choosing (64 KiB slices) with `args`
 * on top, and resolves once it listens: the process and its base URL.
 *
 * @example
 * const { base } = await startSliceProxy(origin.url('/'), ['--cache', 'redis', '--redis-url', redis.url]);
 */
export async function startSliceProxy(
  upstream: string,
  args: readonly string[],
): Promise<{ readonly cli: Cli; readonly base: string }> {
  const cli = runCli('slice-proxy', [
    '--upstream',
    upstream,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--slice-size',
    '64KiB',
    ...args,
  ]);
  return { cli, base: `http://${String((await cli.waitForLog('listening')).listen)}` };
}

/**
 * Runs a CLI to completion.
 *
 * @example
 * const { code, stderr } = await runToEnd('slice-fetch', [url, '-o', file]);
 */
export async function runToEnd(
  name: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const cli = runCli(name, args, options);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/**
 * Every stdout JSON line logged so far whose `msg` is `msg`.
 *
 * @example
 * const done = logLines(proxy, 'request done');
 */
export function logLines(cli: Cli, msg: string): Record<string, unknown>[] {
  return cli
    .stdout()
    .split('\n')
    .map(parseLine)
    .filter((entry): entry is Record<string, unknown> => entry?.msg === msg);
}

/**
 * Kills every child still running; call it from `afterEach`.
 *
 * @example
 * afterEach(killAll);
 */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function parseLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
