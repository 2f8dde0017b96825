/**
 * The demo: a local origin with a generated 256 MiB object (throttled to 40 MiB/s per connection, like a far
 * CDN edge) and the real `slice-proxy` in front of it with its default in-memory store. Downloads the object
 * through the proxy cold, then warm, then seeks with a few ranges, and prints what each step cost.
 *
 *   npm ci && npm run demo
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { startOrigin } from '../test/support/origin.js';

const MiB = 1024 * 1024;
const size = 256 * MiB;

const origin = await startOrigin({ throttleBytesPerSecond: 40 * MiB });
origin.setObject('/video.mp4', { size, contentType: 'video/mp4' });

const cli = join(import.meta.dirname, '..', 'src', 'cli', 'slice-proxy.ts');
const args = [
  '--import',
  'tsx',
  cli,
  '--upstream',
  origin.url('/'),
  '--listen',
  '127.0.0.1:0',
  '--admin',
  '127.0.0.1:0',
];
const proxyProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
const addresses = await new Promise<{ listen: string; admin: string }>((resolve, reject) => {
  proxyProcess.once('exit', (code) => reject(new Error(`slice-proxy exited with ${code}`)));
  createInterface({ input: proxyProcess.stdout }).on('line', (line) => {
    if (!line.includes('"listening"')) return;
    const { listen, admin } = JSON.parse(line) as { listen: string; admin: string };
    resolve({ listen, admin });
  });
});
console.log(
  `origin ${origin.url('/video.mp4')}  ←  slice-proxy http://${addresses.listen}  (metrics http://${addresses.admin}/metrics)\n`,
);

/** A counter from the proxy's Prometheus endpoint. */
async function metric(name: string): Promise<number> {
  const { body } = await request(`http://${addresses.admin}/metrics`);
  const line = (await body.text())
    .split('\n')
    .find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const rows: Record<string, string | number>[] = [];

async function step(name: string, range?: string): Promise<void> {
  const requestsBefore = origin.stats.requests;
  const hitsBefore = await metric('slice_fetch_cache_hits_total');
  const started = performance.now();
  const res = await request(`http://${addresses.listen}/video.mp4`, {
    headers: range === undefined ? {} : { range },
  });
  const total = Number(res.headers['content-length']);
  let bytes = 0;
  let shown = -1;
  for await (const chunk of res.body) {
    bytes += (chunk as Buffer).byteLength;
    const percent = Math.floor((bytes / total) * 100);
    if (process.stdout.isTTY && percent !== shown) {
      shown = percent;
      const seconds = (performance.now() - started) / 1000;
      const rate = bytes / MiB / seconds;
      const eta = rate > 0 ? (total - bytes) / MiB / rate : 0;
      const bar = '█'.repeat(Math.round(percent / 4)).padEnd(25, '·');
      process.stdout.write(
        `\r${name.padEnd(26)} ${bar} ${String(percent).padStart(3)} %  ${rate.toFixed(0).padStart(5)} MiB/s  ETA ${eta.toFixed(1)} s `,
      );
    }
  }
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
  const ms = performance.now() - started;
  rows.push({
    step: name,
    status: res.statusCode,
    'x-slice-cache': String(res.headers['x-slice-cache']),
    bytes,
    ms: Math.round(ms),
    'MiB/s': (bytes / MiB / (ms / 1000)).toFixed(0),
    'origin requests': origin.stats.requests - requestsBefore,
    'cache hits': (await metric('slice_fetch_cache_hits_total')) - hitsBefore,
  });
}

try {
  await step('whole object, cold');
  await step('whole object, warm');
  await step('seek to 100 MiB, 4 MiB', `bytes=${100 * MiB}-${104 * MiB - 1}`);
  await step('last 1 KiB', 'bytes=-1024');
  await step('two ranges (multipart)', 'bytes=0-999,5000000-5000999');
  console.table(rows);
} finally {
  proxyProcess.kill('SIGTERM');
  await origin.close();
}
