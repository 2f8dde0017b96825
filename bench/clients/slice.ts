/**
 * Benchmark client: fetches one object through slice-fetch and discards the bytes. `entry: 'open'` reads the
 * internal Node object-mode stream of pieces (what the Node handler uses); `entry: 'response'` reads the
 * public `fetch()` Response body with a WHATWG reader. `passes: 2` fetches twice with one fetcher, so the
 * second pass is served from a cache big enough to hold the object (the warm case).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createSliceFetcher,
  type InternalSliceFetcher,
  memoryStorage,
  openSymbol,
  type SliceFetcherOptions,
} from '../../src/index.js';
import { byteSink, type PassResult, readSpec, report, startPass } from './protocol.js';

/** The JSON argument of this client. */
export interface SliceClientSpec {
  readonly url: string;
  readonly entry: 'open' | 'response';
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

if (spec.warmupUrl !== undefined) await (spec.entry === 'open' ? viaOpen : viaResponse)(spec.warmupUrl);
const passes: PassResult[] = [];
for (let i = 0; i < spec.passes; i++) {
  const last = i === spec.passes - 1;
  const stopProfile = last && spec.profileDir !== undefined ? await startProfile() : undefined;
  passes.push(spec.entry === 'open' ? await viaOpen(spec.url) : await viaResponse(spec.url));
  if (stopProfile !== undefined && spec.profileDir !== undefined)
    await stopProfile(join(spec.profileDir, `${spec.entry}-pass${i + 1}.cpuprofile`));
}
await fetcher.close();
report({ passes });

// ---------------------------------------------------------------------------------------------------------

async function viaOpen(url: string): Promise<PassResult> {
  const sink = byteSink(spec.verify === true ? createHash('sha256') : undefined);
  const stop = startPass();
  const result = await fetcher[openSymbol](url);
  // for-await over an object-mode stream costs one promise per piece (one per 1 MiB slice): negligible.
  if (result.body !== undefined)
    for await (const piece of result.body) for (const chunk of piece) sink.add(chunk);
  return { ...stop(), bytes: sink.bytes, status: result.status, sha256: sink.digest() };
}

async function viaResponse(url: string): Promise<PassResult> {
  const sink = byteSink(spec.verify === true ? createHash('sha256') : undefined);
  const stop = startPass();
  const response = await fetcher.fetch(url);
  const reader = response.body?.getReader();
  if (reader !== undefined) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.add(value);
    }
  }
  return { ...stop(), bytes: sink.bytes, status: response.status, sha256: sink.digest() };
}

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
