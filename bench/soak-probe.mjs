/**
 * Preloaded into the process under test by `npm run bench:soak` (`node --expose-gc --import <this file> …`); not
 * part of the library. On SIGUSR2 it runs `gc()` twice (with a turn of the event loop between, so finalizers and
 * weak callbacks of the first run can free what they hold) and appends `process.memoryUsage()` and a few counts
 * as one JSON line to the file named by `SLICE_SOAK_PROBE_FILE`. With `SLICE_SOAK_SNAPSHOT_DIR` set, it also writes
 * a heap snapshot there (`<seq>.heapsnapshot`) after the line, for bench/heap-diff.ts.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const file = process.env.SLICE_SOAK_PROBE_FILE;
const snapshots = process.env.SLICE_SOAK_SNAPSHOT_DIR;
if (file === undefined || file === '') throw new Error('soak probe: SLICE_SOAK_PROBE_FILE is not set');
const gc = globalThis.gc;
if (typeof gc !== 'function') throw new Error('soak probe: run node with --expose-gc');

let seq = 0;
process.on('SIGUSR2', () => {
  const started = performance.now();
  gc();
  setImmediate(() => {
    gc();
    const m = process.memoryUsage();
    const line = {
      seq: ++seq,
      at: Date.now(),
      gcMs: Math.round(performance.now() - started),
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      maxRssKiB: process.resourceUsage().maxRSS,
      activeResources: process.getActiveResourcesInfo().length,
    };
    if (snapshots !== undefined && snapshots !== '')
      writeHeapSnapshot(join(snapshots, `${seq}.heapsnapshot`));
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  });
});
