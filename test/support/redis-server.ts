/**
 * @module A real `redis-server` for the store tests: started on a free loopback port with persistence off and
 * its files in a temporary directory, awaited until it answers `PING`, and stoppable, killable, pausable
 * and restartable on the same port (the reconnect tests need the address to stay the same).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';

/** A running (or stopped, restartable) `redis-server`. */
export interface TestRedisServer {
  /** The TCP port, the same across restarts. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Starts the server again on the same port (after `stop()` or `kill()`) and waits until it answers. */
  start(): Promise<void>;
  /** SIGTERM, then waits for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL — a crash, no goodbye on the sockets' application level — then waits for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets open but answers nothing (a hung Redis). */
  pause(): void;
  /** SIGCONT after {@link TestRedisServer.pause}. */
  resume(): void;
  /** Stops the server if running and removes its directory. */
  dispose(): Promise<void>;
}

/**
 * Starts `redis-server` (from `PATH`, or `REDIS_SERVER`) on a free port; `args` are added to its command line.
 *
 * @example
 * ```ts
 * const redis = await startRedisServer();
 * const store = redisStorage({ url: redis.url });
 * afterAll(() => redis.dispose());
 * ```
 */
export async function startRedisServer(
  options: { readonly args?: readonly string[] } = {},
): Promise<TestRedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child !== undefined) throw new Error(`redis-server on port ${port} is already running`);
    const bin = process.env.REDIS_SERVER ?? 'redis-server';
    const args = [
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...(options.args ?? []),
    ];
    const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    let failed = false;
    proc.stderr?.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    proc.on('error', (error) => {
      failed = true; // e.g. ENOENT: redis-server is not installed
      stderr += String(error);
    });
    for (let attempt = 1; ; attempt++) {
      if (failed || proc.exitCode !== null || proc.signalCode !== null) {
        child = undefined;
        throw new Error(`redis-server did not start (${proc.exitCode ?? proc.signalCode}): ${stderr}`);
      }
      if (await answersPing(url)) return;
      if (attempt === MAX_ATTEMPTS) {
        await terminate(proc, 'SIGKILL');
        child = undefined;
        throw new Error(`redis-server on port ${port} did not answer PING after ${MAX_ATTEMPTS} attempts`);
      }
      await delay(RETRY_PAUSE_MS); // connection retry loop: the port opens some milliseconds after spawn
    }
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    const proc = child;
    if (proc === undefined) return;
    child = undefined;
    await terminate(proc, signal);
  }

  await start();
  return {
    port,
    url,
    start,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async dispose() {
      child?.kill('SIGCONT'); // a paused process would not act on SIGTERM until resumed
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

const MAX_ATTEMPTS = 200;
const RETRY_PAUSE_MS = 25;

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** One connection attempt with no reconnects: true when the server answered `PONG`. */
async function answersPing(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 1000 } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

async function terminate(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill(signal);
  await exited;
}
