import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import { createSliceFetcher, memoryStorage, type SliceFetcherOptions } from '../../src/index.js';
import { type PassResult, readSpec, report } from './protocol.js';
import { readPass } from './read-pass.js';

/** The JSON argument of this client. */
export interface SliceClientSpec {
  readonly url: string;
  readonly entry: 'open' | 'recycled' | 'response';
  readonly passes: number;
  readonly sliceSize: number;
  readonly concurrency: number;
  readonly originConnections?: number;
  readonly maxBufferedBytes?: number;
  /** Byte budget of a `memoryStorage`, or `false` for no cache. */
  readonly cacheBytes: number | false;
  /** Hash the body (correctness check only). */
  readonly verify?: boolean;
  /**
   * Fetch this URL once, untimed, before the measured passes: JIT-compiled code, undici's compiled llhttp
   * and pooled connections are then warm, as in a long-lived process. Use another object (or query) so
   * the measured pass is still a cache miss.
   */
  readonly warmupUrl?: string;
  /** CPU-profile the last pass only (so a warm profile holds no cold work) into this directory. */
  readonly profileDir?: string;
}

const spec = readSpec<SliceClientSpec>();
const options: SliceFetcherOptions = {
  sliceSize: spec.sliceSize,
  concurrency: spec.concurrency,
  cache: spec.cacheBytes === false ? false : memoryStorage({ maxBytes: spec.cacheBytes }),
  ...(spec.originConnections === undefined ? {} : { originConnections: spec.originConnections }),
  ...(spec.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: spec.maxBufferedBytes }),
};
const fetcher = createSliceFetcher(options) as InternalSliceFetcher;

if (spec.warmupUrl !== undefined) await readPass(fetcher, spec.warmupUrl, spec.entry, false);
const passes: PassResult[] = [];
for (let i = 0; i < spec.passes; i++) {
  const last = i === spec.passes - 1;
  const stopProfile = last && spec.profileDir !== undefined ? await startProfile() : undefined;
  passes.push(await readPass(fetcher, spec.url, spec.entry, spec.verify === true));
  if (stopProfile !== undefined && spec.profileDir !== undefined)
    await stopProfile(join(spec.profileDir, `${spec.entry}-pass${i + 1}.cpuprofile`));
}
await fetcher.close();
report({ passes });

// ---------------------------------------------------------------------------------------------------------

/** Starts the V8 sampling profiler in this process; the returned function stops it and writes the profile. */
async function startProfile(): Promise<(path: string) => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return async (path) => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  };
}
