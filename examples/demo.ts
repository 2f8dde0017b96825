/**
 * The demo: a local origin with a generated 256 MiB object (throttled to 40 MB/s per connection, like a far
 * CDN edge), and a slice fetcher in front of it with the default in-memory store. Downloads it cold, then
 * warm, then seeks with a few ranges, and prints what each step cost.
 *
 *   npm ci && npm run demo
 */
import { createSliceFetcher, type SliceFetcherStats } from '../src/index.js';
import { startOrigin } from '../test/support/origin.js';

const MiB = 1024 * 1024;
const size = 256 * MiB;

const origin = await startOrigin({ throttleBytesPerSecond: 40 * MiB });
origin.setObject('/video.mp4', { size, contentType: 'video/mp4' });
const url = origin.url('/video.mp4');
const fetcher = createSliceFetcher({ sliceSize: 1 * MiB, concurrency: 8 });

interface Row {
  step: string;
  status: number;
  bytes: number;
  ms: number;
  originRequests: number;
  cacheHits: number;
}
const rows: Row[] = [];

async function step(name: string, range?: string): Promise<void> {
  const requestsBefore = origin.stats.requests;
  const hitsBefore: SliceFetcherStats['cacheHits'] = fetcher.stats().cacheHits;
  const started = performance.now();
  const res = await fetcher.fetch(url, range === undefined ? {} : { range });
  let bytes = 0;
  let shown = -1;
  for await (const chunk of res.body ?? []) {
    bytes += chunk.byteLength;
    const percent = Math.floor((bytes / Number(res.headers.get('content-length'))) * 100);
    if (process.stdout.isTTY && percent !== shown) {
      shown = percent;
      const mbps = bytes / MiB / ((performance.now() - started) / 1000);
      process.stdout.write(
        `\r${name.padEnd(28)} ${String(percent).padStart(3)} %  ${mbps.toFixed(0).padStart(5)} MiB/s`,
      );
    }
  }
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
  rows.push({
    step: name,
    status: res.status,
    bytes,
    ms: Math.round(performance.now() - started),
    originRequests: origin.stats.requests - requestsBefore,
    cacheHits: fetcher.stats().cacheHits - hitsBefore,
  });
}

await step('whole object, cold');
await step('whole object, warm');
await step('seek 100 MiB, 4 MiB', `bytes=${100 * MiB}-${104 * MiB - 1}`);
await step('last 1 KiB', 'bytes=-1024');
await step('two ranges (multipart)', 'bytes=0-999,5000000-5000999');

console.table(
  rows.map((r) => ({ ...r, 'MiB/s': r.ms === 0 ? '-' : (r.bytes / MiB / (r.ms / 1000)).toFixed(0) })),
);
await fetcher.close();
await origin.close();
