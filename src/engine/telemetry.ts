/**
 * Fans engine events out to the counters behind `fetcher.stats()` and to the user's {@link Metrics} hooks.
 * A hook that throws is logged and otherwise ignored: observability must never fail a request.
 *
 * @module
 */
import type { Logger, Metrics, RequestOutcome } from '../ports.js';

/** A snapshot of a fetcher's counters since it was created. */
export interface SliceFetcherStats {
  /** `fetch()` calls started. */
  readonly requests: number;
  /** Finished requests by outcome. */
  readonly outcomes: Readonly<Record<RequestOutcome, number>>;
  /** Requests in progress. */
  readonly activeRequests: number;
  /** Slice sub-requests sent to the origin (attempts, including retries). */
  readonly subrequests: number;
  /** Sub-request responses by status (`"206"`, `"503"`, `"error"` for no response). */
  readonly subrequestsByStatus: Readonly<Record<string, number>>;
  /** Sub-requests in flight now. */
  readonly inFlightSlices: number;
  /** Retries scheduled. */
  readonly retries: number;
  /** Slices that failed for good. */
  readonly sliceErrors: number;
  /** Slices served from the cache. */
  readonly cacheHits: number;
  /** Slices not found in the cache. */
  readonly cacheMisses: number;
  /** Slices written to the cache. */
  readonly cacheStores: number;
  /** Cache operations that failed (served from the origin instead). */
  readonly cacheErrors: number;
  /** Bytes delivered that came from the origin. */
  readonly bytesFromOrigin: number;
  /** Bytes delivered that came from the cache. */
  readonly bytesFromCache: number;
  /** The most bytes one response's reorder window has held at once (at most `concurrency × sliceSize`). */
  readonly peakWindowBytes: number;
  /** Slice bytes reserved in the global memory budget now. */
  readonly bufferedBytes: number;
  /** The most slice bytes the global memory budget has had reserved at once (at most `maxBufferedBytes`). */
  readonly peakBufferedBytes: number;
}

type Counters = {
  -readonly [K in keyof SliceFetcherStats]: SliceFetcherStats[K] extends number ? number : never;
};

/** The engine's event sink: every call updates counters, then calls the user hook if any. */
export class Telemetry implements Required<Metrics> {
  readonly #hooks: Metrics;
  readonly #logger: Logger;
  readonly #outcomes: Record<RequestOutcome, number> = {
    hit: 0,
    miss: 0,
    partial: 0,
    revalidated: 0,
    pass: 0,
    'not-satisfiable': 0,
    'not-modified': 0,
    error: 0,
    aborted: 0,
  };
  readonly #byStatus: Record<string, number> = {};
  readonly #c: Omit<Counters, 'outcomes' | 'subrequestsByStatus' | 'bufferedBytes' | 'peakBufferedBytes'> = {
    requests: 0,
    activeRequests: 0,
    subrequests: 0,
    inFlightSlices: 0,
    retries: 0,
    sliceErrors: 0,
    cacheHits: 0,
    cacheMisses: 0,
    cacheStores: 0,
    cacheErrors: 0,
    bytesFromOrigin: 0,
    bytesFromCache: 0,
    peakWindowBytes: 0,
  };

  constructor(hooks: Metrics | undefined, logger: Logger) {
    this.#hooks = hooks ?? {};
    this.#logger = logger;
  }

  /** Counters snapshot; `budget` supplies the memory budget's current and peak reservation. */
  snapshot(budget: { readonly used: number; readonly peak: number }): SliceFetcherStats {
    return {
      ...this.#c,
      outcomes: { ...this.#outcomes },
      subrequestsByStatus: { ...this.#byStatus },
      bufferedBytes: budget.used,
      peakBufferedBytes: budget.peak,
    };
  }

  onRequestStart: NonNullable<Metrics['onRequestStart']> = (event) => {
    this.#c.requests++;
    this.#c.activeRequests++;
    this.#call('onRequestStart', event);
  };
  onRequestEnd: NonNullable<Metrics['onRequestEnd']> = (event) => {
    this.#c.activeRequests--;
    this.#outcomes[event.outcome]++;
    this.#call('onRequestEnd', event);
  };
  onSliceStart: NonNullable<Metrics['onSliceStart']> = (event) => {
    this.#c.subrequests++;
    this.#c.inFlightSlices++;
    this.#call('onSliceStart', event);
  };
  onSliceEnd: NonNullable<Metrics['onSliceEnd']> = (event) => {
    this.#call('onSliceEnd', event);
  };
  onSliceRetry: NonNullable<Metrics['onSliceRetry']> = (event) => {
    this.#c.retries++;
    this.#call('onSliceRetry', event);
  };
  onSliceError: NonNullable<Metrics['onSliceError']> = (event) => {
    this.#c.sliceErrors++;
    this.#call('onSliceError', event);
  };
  onCacheHit: NonNullable<Metrics['onCacheHit']> = (event) => {
    this.#c.cacheHits++;
    this.#call('onCacheHit', event);
  };
  onCacheMiss: NonNullable<Metrics['onCacheMiss']> = (event) => {
    this.#c.cacheMisses++;
    this.#call('onCacheMiss', event);
  };
  onCacheStore: NonNullable<Metrics['onCacheStore']> = (event) => {
    this.#c.cacheStores++;
    this.#call('onCacheStore', event);
  };
  onCacheError: NonNullable<Metrics['onCacheError']> = (event) => {
    this.#c.cacheErrors++;
    this.#logger.warn(
      { requestId: event.requestId, url: event.url, operation: event.operation, err: event.error },
      'cache operation failed; serving from origin',
    );
    this.#call('onCacheError', event);
  };
  onBytes: NonNullable<Metrics['onBytes']> = (event) => {
    if (event.source === 'origin') this.#c.bytesFromOrigin += event.bytes;
    else this.#c.bytesFromCache += event.bytes;
    this.#call('onBytes', event);
  };

  /** A reorder window now holds `bytes`; keeps the peak (one comparison per slice). */
  windowHeld(bytes: number): void {
    if (bytes > this.#c.peakWindowBytes) this.#c.peakWindowBytes = bytes;
  }

  /** A sub-request attempt ended (`status` undefined when no response came). */
  subrequestDone(status: number | undefined): void {
    this.#c.inFlightSlices--;
    const key = status === undefined ? 'error' : String(status);
    this.#byStatus[key] = (this.#byStatus[key] ?? 0) + 1;
  }

  #call<K extends keyof Metrics>(name: K, event: Parameters<NonNullable<Metrics[K]>>[0]): void {
    const hook = this.#hooks[name] as ((e: typeof event) => void) | undefined;
    if (hook === undefined) return;
    try {
      hook.call(this.#hooks, event);
    } catch (error) {
      this.#logger.warn({ hook: name, err: error }, 'metrics hook threw; ignored');
    }
  }
}
