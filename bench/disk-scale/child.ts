/**
 * The measuring child of `npm run bench:disk`, run as a fresh `node --expose-gc` process (bundled with
 * esbuild, no tsx loader) so its heap holds the store and little else. It opens `fsStorage({ dir })` on the
 * filled directory and measures time to the first hit, time to `ready`, heap and RSS per entry, `get`
 * latency during and after the scan, and what `has`, `stats` and `purgeObject` answer when called before
 * `ready`. Input: the JSON file named by its argument; output: one JSON line ({@link ChildResult}) on stdout.
 *
 * @module
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { type Chunks, chunksLength } from '../../src/core/chunks.js';
import { metadataKey } from '../../src/core/keys.js';
import { fsStorage } from '../../src/storage/fs.js';
import type { ChildInput, ChildResult, Latency } from './protocol.js';

const input = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as ChildInput;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('bench:disk child: run with --expose-gc');
const keys = input.sample.length > 0 ? input.sample : [input.firstKey];
const pick = (): string => keys[Math.floor(Math.random() * keys.length)] as string;
const fullGc = (): void => {
  for (let i = 0; i < 4; i++) gc();
};

// Warm-up on an empty directory: the store's code is compiled and loaded before the heap is measured.
const warmDir = `${input.dir}.warm-up`;
const warm = fsStorage({ dir: warmDir });
await warm.ready;
await warm.get(input.firstKey);
await warm.stats();
await warm.purgeObject?.(input.purge.objectKey);
await warm.close();
rmSync(warmDir, { recursive: true, force: true });

fullGc();
if (input.snapshotDir !== undefined) writeHeapSnapshot(join(input.snapshotDir, 'before.heapsnapshot'));
fullGc();
const heapBefore = process.memoryUsage().heapUsed;
const offHeapBefore = process.memoryUsage().arrayBuffers;
const rssBefore = process.memoryUsage.rss();
const loop = monitorEventLoopDelay({ resolution: 5 });

// ---- construction; everything below until `ready` runs while the scan does --------------------------
const t0 = performance.now();
const store = fsStorage({ dir: input.dir, maxBytes: Number.MAX_SAFE_INTEGER });
const constructMs = performance.now() - t0;
loop.enable();
let readyMs = Number.NaN;
const ready = store.ready.then(() => {
  readyMs = performance.now() - t0;
  // Not at once: the scan's last synchronous step is only recorded by the histogram's next timer tick.
  setTimeout(() => loop.disable(), 50);
});
let heapPeak = getHeapStatistics().used_heap_size;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
}, 20);
const hasValue = store.has?.(input.firstKey); // synchronous in fsStorage: loads the key's directory first
const hasSettledMs = performance.now() - t0;
const statsEarly = Promise.resolve(store.stats()).then((s) => ({
  returned: { entries: s.entries, bytes: s.bytes },
  truth: { entries: input.entries, bytes: input.entries * input.sliceBytes },
  settledMs: performance.now() - t0,
}));
// A cache fill (a miss's slice on its way to the disk) arriving while the scan runs.
const written = 'https://edge.example/objects/written-during-the-scan.bin';
const setEarly = Promise.resolve(
  store.set(metadataKey(written), [Buffer.alloc(input.sliceBytes)], {
    kind: 'metadata',
    objectKey: written,
    validator: 'etag:"v1"',
    range: { start: 0, end: input.sliceBytes - 1 },
    size: input.sliceBytes,
    expiresAt: Date.now() + 86_400_000,
  }),
).then(() => ({ returned: 'written', truth: 'written', settledMs: performance.now() - t0 }));
const purgeEarly = Promise.resolve(store.purgeObject?.(input.purge.objectKey) ?? -1).then((n) => ({
  returned: n,
  truth: input.purge.keys.length,
  settledMs: performance.now() - t0,
}));

const firstHitMs = await firstHit();
const during = await getsUntil(() => !Number.isNaN(readyMs));
await ready;
await new Promise((resolve) => setTimeout(resolve, 60)); // the delay histogram's last tick, before any GC
clearInterval(sampler);
const hasEarly = { returned: (await hasValue) === true, truth: true, settledMs: hasSettledMs };
const early = { statsEarly: await statsEarly, setEarly: await setEarly, purgeEarly: await purgeEarly };
const afterPurgeStats = await store.stats();
const remaining = input.entries + 1 - input.purge.keys.length; // + the key `set` wrote

fullGc();
const heapAfter = process.memoryUsage().heapUsed;
const offHeapAfter = process.memoryUsage().arrayBuffers;
const rssAfter = process.memoryUsage.rss();
if (input.snapshotDir !== undefined) writeHeapSnapshot(join(input.snapshotDir, 'after.heapsnapshot'));

for (let i = 0; i < Math.min(200, input.latencySamples); i++) await store.get(pick()); // warm-up
let count = 0;
const afterReady = await getsUntil(() => ++count > input.latencySamples);
let purgedKeysMissing = true;
for (const key of input.purge.keys) if ((await store.get(key)) !== undefined) purgedKeysMissing = false;
await store.close();

const result: ChildResult = {
  constructMs,
  firstHitMs,
  readyMs,
  duringScan: during,
  loopDelay: { p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 },
  afterReady,
  heapBefore,
  heapAfter,
  heapPeak,
  heapLimit: getHeapStatistics().heap_size_limit,
  offHeapBefore,
  offHeapAfter,
  rssBefore,
  rssAfter,
  rssPeak: vmHwm(),
  hasEarly,
  ...early,
  statsAfterPurge: {
    returned: { entries: afterPurgeStats.entries, bytes: afterPurgeStats.bytes },
    truth: { entries: remaining, bytes: remaining * input.sliceBytes },
    settledMs: -1,
  },
  purgedKeysMissing,
};
process.stdout.write(`${JSON.stringify(result)}\n`);

/** Asks for `firstKey` until it comes back whole; ms since construction. */
async function firstHit(): Promise<number> {
  for (;;) {
    const got = await store.get(input.firstKey);
    if (got !== undefined) {
      checkBody(got);
      return performance.now() - t0;
    }
    if (performance.now() - t0 > 60_000) throw new Error(`bench:disk child: ${input.firstKey} never hit`);
  }
}

/** Sequential `get`s of random known keys until `done()`; their latencies and misses. */
async function getsUntil(done: () => boolean): Promise<Latency & { readonly misses: number }> {
  const ms: number[] = [];
  let misses = 0;
  while (!done()) {
    const started = performance.now();
    const got = await store.get(pick());
    ms.push(performance.now() - started);
    if (got === undefined) misses++;
    else checkBody(got);
  }
  return { ...latency(ms), misses };
}

function checkBody(got: Chunks): void {
  const bytes = Buffer.concat(got);
  if (
    chunksLength(got) !== input.sliceBytes ||
    Buffer.from(bytes.subarray(0, 16)).toString('hex') !== input.bodyHead
  )
    throw new Error('bench:disk child: a get returned the wrong bytes');
}

function latency(ms: number[]): Latency {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { count: ms.length, medianMs: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? Number.NaN };
}

/** Peak RSS (VmHWM) in bytes. */
function vmHwm(): number {
  const kib = /VmHWM:\s*(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kib === undefined ? Number.NaN : Number(kib) * 1024;
}
