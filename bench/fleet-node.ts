/**
 * @module The per-node numbers behind docs/fleet.md "Sizing": one `slice-proxy` (1 MiB slices, concurrency 8)
 * in front of an nginx static origin on loopback, a 256 MiB object fetched whole with curl — cold into a disk
 * store, then warm from it — and, with Redis holding the bytes (`--cache redis`) or coordinating disk nodes
 * (`--cache coordinated`), the Redis commands a cold fill and a warm pass cost, read from `INFO commandstats`. Medians of `--runs` rounds; every round starts a
 * new proxy on an empty store. Run it on a quiet machine.
 *
 *   npm run bench:fleet -- [--runs 3] [--size-mib 256] [--checkout <dir> --commit <sha>]
 *
 * `--checkout` runs `src/cli/slice-proxy.ts` of another checkout (e.g. a `git archive` of the commit being
 * measured, with `node_modules` linked), so a tree being edited does not change the numbers.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { counterSum, startNginx } from '../test/support/balancers.js';
import { startRedisServer } from '../test/support/redis-server.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'size-mib': { type: 'string', default: '256' },
    checkout: { type: 'string', default: join(import.meta.dirname, '..') },
    /** The commit of `--checkout`, when it is not a git checkout (a `git archive`). */
    commit: { type: 'string' },
  },
});
const runs = Number(values.runs);
const size = Number(values['size-mib']) * MiB;
const checkout = values.checkout as string;
const slices = Math.ceil(size / MiB);

const work = mkdtempSync(join(tmpdir(), 'slice-fleet-measure-'));
const children = new Set<ChildProcess>();

async function main(): Promise<void> {
  const commit =
    values.commit ??
    (await run('git', ['-C', checkout, 'rev-parse', '--short', 'HEAD']).catch(() => ({ stdout: '?' })))
      .stdout;
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}; ` +
      `checkout ${checkout} (commit ${commit.trim()}); object ${size / MiB} MiB, ${runs} rounds`,
  );
  writeObject(join(work, 'www', 'object.bin'));
  const origin = await startNginx(
    (port) => `server {
    listen 127.0.0.1:${port};
    location / { root ${join(work, 'www')}; sendfile on; tcp_nopush on; }
}
`,
  );
  const redis = await startRedisServer();
  try {
    const direct: number[] = [];
    const fsCold: number[] = [];
    const fsWarm: number[] = [];
    const redisMode = sharedMode('bytes in Redis', (url) => ['--cache', 'redis', '--redis-url', url]);
    const coordinatedMode = sharedMode(
      'coordinated (Redis coordinates, bytes on the disk store)',
      (url, dir) => ['--cache', 'coordinated', '--cache-dir', dir, '--redis-url', url],
    );
    for (let round = 1; round <= runs; round++) {
      console.log(
        `round ${round}: load average ${loadavg()
          .map((n) => n.toFixed(2))
          .join(' ')}`,
      );
      direct.push(await curl(`${origin.url}/object.bin`));

      const dir = mkdtempSync(join(work, 'store-'));
      const node = await startProxy(origin.url, [
        '--cache',
        'fs',
        '--cache-dir',
        dir,
        '--cache-size',
        '2GiB',
      ]);
      fsCold.push(await curl(`${node.url}/object.bin`));
      await waitForStored(node.admin, slices);
      fsWarm.push(await curl(`${node.url}/object.bin`));
      await node.stop();
      rmSync(dir, { recursive: true, force: true });

      for (const mode of [redisMode, coordinatedMode]) {
        await redisCli(redis.port, ['FLUSHALL']);
        const modeDir = mkdtempSync(join(work, 'store-'));
        const shared = await startProxy(origin.url, [
          ...mode.args(redis.url, modeDir),
          '--cache-size',
          '2GiB',
        ]);
        const before = await commandStats(redis.port);
        mode.cold.push(await curl(`${shared.url}/object.bin`));
        await waitForStored(shared.admin, slices);
        const filled = await commandStats(redis.port);
        mode.warm.push(await curl(`${shared.url}/object.bin`));
        const after = await commandStats(redis.port);
        await fetch(`${shared.admin}/metrics`);
        const scraped = await commandStats(redis.port);
        mode.scrapes.push(
          [...SCRAPE_COMMANDS].reduce((n, name) => n + (scraped.get(name) ?? 0) - (after.get(name) ?? 0), 0) -
            1,
        );
        mode.keys.push(Number((await redisCli(redis.port, ['DBSIZE'])).trim()));
        await shared.stop();
        rmSync(modeDir, { recursive: true, force: true });
        mode.fillCommands.push(difference(filled, before));
        mode.warmCommands.push(difference(after, filled));
      }
    }
    const line = (name: string, samples: number[]): void =>
      console.log(
        `${name}: median ${median(samples).toFixed(0)} MiB/s (${samples.map((n) => n.toFixed(0)).join(', ')})`,
      );
    line('origin → curl (nginx static, no proxy)', direct);
    line('cold, disk store', fsCold);
    line('warm, disk store', fsWarm);
    for (const mode of [redisMode, coordinatedMode]) {
      line(`cold, ${mode.name}`, mode.cold);
      line(`warm, ${mode.name}`, mode.warm);
      report(`Redis commands of a cold fill, ${mode.name}`, mode.fillCommands);
      report(`Redis commands of a warm pass, ${mode.name}`, mode.warmCommands);
      console.log(
        `one /metrics scrape, ${mode.name}, with ${median(mode.keys)} keys in Redis: median ` +
          `${median(mode.scrapes)} Redis commands (rounds: ${mode.scrapes.join(', ')})`,
      );
    }
  } finally {
    await origin.stop();
    await redis.dispose();
  }
}

/** A proxy mode with a Redis behind it, and what its rounds measured. */
interface SharedMode {
  readonly name: string;
  readonly args: (redisUrl: string, dir: string) => string[];
  readonly cold: number[];
  readonly warm: number[];
  readonly fillCommands: Map<string, number>[];
  readonly warmCommands: Map<string, number>[];
  readonly scrapes: number[];
  readonly keys: number[];
}

function sharedMode(name: string, args: SharedMode['args']): SharedMode {
  return { name, args, cold: [], warm: [], fillCommands: [], warmCommands: [], scrapes: [], keys: [] };
}

/** Writes `size` random bytes (1 MiB at a time), so the origin serves them from the page cache. */
function writeObject(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  const chunk = Buffer.allocUnsafe(MiB);
  for (let written = 0; written < size; written += MiB) {
    randomFillSync(chunk);
    writeSync(fd, chunk, 0, Math.min(MiB, size - written));
  }
  closeSync(fd);
}

interface Proxy {
  readonly url: string;
  readonly admin: string;
  stop(): Promise<void>;
}

/** Starts `slice-proxy` of the checkout on free ports (1 MiB slices, the defaults otherwise). */
async function startProxy(origin: string, store: readonly string[]): Promise<Proxy> {
  const script = join(checkout, 'src', 'cli', 'slice-proxy.ts');
  const args = ['--upstream', `${origin}/`, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...store];
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: checkout,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const onData = (data: Buffer): void => {
      out += data.toString();
      for (const text of out.split('\n')) {
        if (!text.includes('"msg":"listening"')) continue;
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining the request log
        resolve(JSON.parse(text) as Record<string, unknown>);
        return;
      }
    };
    child.stdout?.on('data', onData);
    child.once('close', (code) =>
      reject(new Error(`slice-proxy exited (${code}) before listening:\n${out}`)),
    );
  });
  return {
    url: `http://${String(listening.listen)}`,
    admin: `http://${String(listening.admin)}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      children.delete(child);
    },
  };
}

/** One whole GET with curl; resolves MiB/s from curl's own clock, after checking the byte count. */
async function curl(url: string): Promise<number> {
  const { stdout } = await run(
    'curl',
    ['-sf', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url],
    {
      maxBuffer: MiB,
    },
  );
  const [bytes, seconds] = stdout.trim().split(' ').map(Number) as [number, number];
  if (bytes !== size) throw new Error(`${url}: ${bytes} bytes instead of ${size}`);
  return bytes / MiB / seconds;
}

/** Polls the proxy's metrics until `count` slices were written to its store (writes land after the response). */
async function waitForStored(admin: string, count: number): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    if (counterSum(metrics, 'slice_fetch_cache_stores_total') >= count) return;
    await delay(50); // a polling interval, bounded: 30 s in all
  }
  throw new Error(`${admin}: fewer than ${count} slices stored after 30 s`);
}

async function redisCli(port: number, args: readonly string[]): Promise<string> {
  return (await run('redis-cli', ['-p', String(port), ...args], { maxBuffer: MiB })).stdout;
}

/**
 * Commands that are not the fill's: our own `INFO`, and the `SCAN` + `STRLEN`s with which each `/metrics`
 * scrape (polled by `waitForStored`) sizes the Redis store — counted apart, per scrape, by `scrapeCost`.
 */
const SCRAPE_COMMANDS = new Set(['info', 'scan', 'strlen']);

/** `INFO commandstats` as command → calls. */
async function commandStats(port: number): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await redisCli(port, ['INFO', 'commandstats'])).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match !== null) calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}

function difference(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, calls] of after) {
    if (SCRAPE_COMMANDS.has(name)) continue;
    const n = calls - (before.get(name) ?? 0);
    if (n > 0) delta.set(name, n);
  }
  return delta;
}

function report(title: string, rounds: readonly Map<string, number>[]): void {
  const totals = rounds.map((round) => [...round.values()].reduce((a, b) => a + b, 0));
  const total = median(totals);
  const names = [...new Set(rounds.flatMap((round) => [...round.keys()]))].sort();
  const parts = names.map((name) => `${name} ${median(rounds.map((round) => round.get(name) ?? 0))}`);
  console.log(
    `${title}: median ${total} commands for ${slices} slices = ${(total / slices).toFixed(2)} per slice, ` +
      `${((total * GiB) / size).toFixed(0)} per GiB (rounds: ${totals.join(', ')}; ${parts.join(', ')})`,
  );
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

// Last, so every declaration above is initialised before it runs.
try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
