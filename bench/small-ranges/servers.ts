/**
 * Case 5's servers: starts the handler and bare servers (bundled, as plain `node`), names the three targets,
 * checks their bytes and warms them up.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { SLICE_SETTINGS } from '../cases/settings.js';
import { nginxWorkerPid } from '../nginx.js';
import { stopChild } from '../processes.js';
import type { BareServerSpec } from '../servers/bare-server.js';
import type { HandlerServerSpec } from '../servers/handler-server.js';
import { MiB } from '../units.js';
import { runRangeWrk } from './round.js';
import type { Case5Id, RangeEnv, RangeServers, RangeTarget } from './targets.js';
import { verifyRangeTargets } from './verify.js';

/**
 * Starts the handler and bare servers, fills both caches with the whole 64 MiB object and checks random ranges
 * of every server against the file.
 *
 * @example
 * ```ts
 * const servers = await startRangeServers(env);
 * try { await rangeRound(servers, 1, results); } finally { await servers.stop(); }
 * ```
 */
export async function startRangeServers(env: RangeEnv): Promise<RangeServers> {
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => stopChild(child, 5000)));
  };
  try {
    const handlerSpec: HandlerServerSpec = {
      upstream: `${env.origin}/fast`,
      ...SLICE_SETTINGS,
      cacheBytes: HANDLER_CACHE_BYTES,
    };
    const handler = await startBundledServer(env.clients.handlerServer, handlerSpec, children);
    const bareSpec: BareServerSpec = { file: env.smallPath };
    const bare = await startBundledServer(env.clients.bareServer, bareSpec, children);
    const path = `/${env.smallFile}`;
    const targets = new Map<Case5Id, RangeTarget>([
      ['c5.handler', { url: `http://127.0.0.1:${handler.port}${path}`, pid: () => handler.child.pid }],
      ['c5.nginx', { url: `${env.cache}/sliced${path}`, pid: () => nginxWorkerPid(env.cachePid) }],
      ['c5.bare', { url: `http://127.0.0.1:${bare.port}${path}`, pid: () => bare.child.pid }],
    ]);
    await verifyRangeTargets(env, targets);
    // JIT and connection warm-up, untimed.
    for (const { url } of targets.values()) await runRangeWrk(env, url, 2);
    return { env, targets, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The memory store of `createSliceHandler()` in case 5 (and case 7, the cold 1 GiB through the same server). */
export const HANDLER_CACHE_BYTES = 256 * MiB;

/**
 * Starts a bundled server (bench/servers/) with its JSON spec, adds it to `children` and waits for its
 * `LISTENING <port>` line; rejects (with its stderr) when it exits first or does not listen within 10 s.
 * `nodeArgs` go before the script (e.g. `--cpu-prof`).
 *
 * @example
 * ```ts
 * const { child, port } = await startBundledServer(clients.handlerServer, spec, children);
 * ```
 */
export async function startBundledServer(
  script: string,
  spec: object,
  children: ChildProcess[],
  nodeArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...nodeArgs, script, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not listen within 10 s:\n${stderr}`)),
      10_000,
    );
    child.stdout?.on('data', (data: Buffer) => {
      stdout += data.toString();
      const m = /LISTENING (\d+)/.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with code ${code}:\n${stderr}`));
    });
  });
  return { child, port };
}
