/**
 * The contract between the benchmark runner and its client processes: a client gets one JSON argument, does
 * its transfer(s), and prints one JSON line starting with {@link RESULT_PREFIX}. Each client is its own process
 * so the peak RSS it reports (`VmHWM`, see {@link ClientResult.maxRssKiB}) belongs to that client alone.
 *
 * @module
 */

import { readFileSync } from 'node:fs';

/** Marks the result line on a client's stdout (anything else printed is ignored). */
export const RESULT_PREFIX = 'BENCH_RESULT ';

/** One timed transfer inside a client process. */
export interface PassResult {
  /** Milliseconds from just before the request to the last byte consumed. */
  readonly ms: number;
  /** Body bytes consumed. */
  readonly bytes: number;
  /** CPU time of the process during this pass (user + system), milliseconds. */
  readonly cpuMs: number;
  /** HTTP status of the response. */
  readonly status: number;
  /** Hex SHA-256 of the body, when asked for (costs CPU: never in timed runs). */
  readonly sha256?: string;
  /** Slices served from the store, looked up and missed, and written to it (store client only). */
  readonly cacheHits?: number;
  readonly cacheMisses?: number;
  readonly cacheStores?: number;
  /** Milliseconds after the last byte until every store write of the pass had landed (store client only). */
  readonly drainMs?: number;
}

/** What a client process reports. */
export interface ClientResult {
  readonly passes: readonly PassResult[];
  /**
   * Peak resident set size of the whole process, KiB: `VmHWM` of /proc/self/status (the process's own memory
   * since its `exec`), else `process.resourceUsage().maxRSS` — which on Linux also counts the RSS its parent had
   * when it forked this process (the kernel carries the pre-`exec` high-water mark over), so a large runner
   * would inflate every client's figure.
   */
  readonly maxRssKiB: number;
  /** `process.resourceUsage().maxRSS`, KiB, for comparison (includes the parent's RSS at fork, see above). */
  readonly rusageMaxRssKiB: number;
  /** CPU time of the whole process (user + system), milliseconds, from start to report. */
  readonly cpuMs: number;
  /** Peak `process.memoryUsage().arrayBuffers` (bytes outside the JS heap: chunks, cache), KiB, sampled. */
  readonly peakArrayBuffersKiB: number;
  /** Peak `process.memoryUsage().heapUsed`, KiB, sampled. */
  readonly peakHeapUsedKiB: number;
}

// Sampled every 50 ms from the first import: ~0.1 ms a call, about 0.5 % of a transfer's main-thread time.
let peakArrayBuffers = 0;
let peakHeapUsed = 0;
const sample = (): void => {
  const usage = process.memoryUsage();
  if (usage.arrayBuffers > peakArrayBuffers) peakArrayBuffers = usage.arrayBuffers;
  if (usage.heapUsed > peakHeapUsed) peakHeapUsed = usage.heapUsed;
};
setInterval(sample, 50).unref();

/**
 * Prints the result line and lets the process exit.
 *
 * @example
 * ```ts
 * report({ passes: [{ ms: 12, cpuMs: 10, bytes: 1024, status: 200 }] });
 * ```
 */
export function report(result: Pick<ClientResult, 'passes'>): void {
  sample();
  const usage = process.resourceUsage();
  const full: ClientResult = {
    ...result,
    maxRssKiB: ownPeakRssKiB() ?? usage.maxRSS,
    rusageMaxRssKiB: usage.maxRSS,
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    peakArrayBuffersKiB: peakArrayBuffers / 1024,
    peakHeapUsedKiB: peakHeapUsed / 1024,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(full)}\n`);
}

/**
 * Starts timing a pass: call the returned function when the last byte is consumed.
 *
 * @example
 * ```ts
 * const stop = startPass();
 * const { ms, cpuMs } = stop();
 * ```
 */
export function startPass(): () => { ms: number; cpuMs: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  return () => {
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return { ms, cpuMs: (used.user + used.system) / 1000 };
  };
}

/**
 * Parses the client's JSON argument (`process.argv[2]`).
 *
 * @example
 * ```ts
 * const spec = readSpec<{ url: string }>();
 * ```
 */
export function readSpec<T>(): T {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('Expected one JSON argument describing the run.');
  return JSON.parse(raw) as T;
}

/** Counts (and optionally hashes) bytes; the hash is only for the correctness check, never timed. */
export interface ByteSink {
  add(chunk: Uint8Array): void;
  readonly bytes: number;
  digest(): string | undefined;
}

/**
 * A sink that counts bytes, hashing them too when `hash` is given.
 *
 * @example
 * ```ts
 * const sink = byteSink(undefined);
 * sink.add(new Uint8Array(3)); // sink.bytes === 3
 * ```
 */
export function byteSink(
  hash: { update(chunk: Uint8Array): unknown; digest(encoding: 'hex'): string } | undefined,
): ByteSink {
  let bytes = 0;
  return {
    add(chunk) {
      bytes += chunk.byteLength;
      hash?.update(chunk);
    },
    get bytes() {
      return bytes;
    },
    digest: () => hash?.digest('hex'),
  };
}

/** `VmHWM` of /proc/self/status in KiB (peak RSS of this process's own address space), or `undefined` off Linux. */
function ownPeakRssKiB(): number | undefined {
  try {
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib);
  } catch {
    return undefined;
  }
}
