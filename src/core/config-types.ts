/**
 * The public option types of slice-fetch, each option with its TSDoc: what a caller may give
 * ({@link SliceFetchConfigInput}), what internals take once it is resolved ({@link SliceFetchConfig}), and one
 * row of the configuration reference ({@link ConfigOptionDoc}). The defaults, bounds and validation live in
 * config.ts, whose one table every derived form comes from (R1, P1); the `@default` tags here document it.
 *
 * @module
 */
/** Retry options (R5). */
export interface RetryConfig {
  /** Retries after the first attempt of a slice. @default 3 */
  readonly retries: number;
  /** Backoff cap of the first retry in ms, doubled per retry, with full jitter. @default 100 */
  readonly baseDelayMs: number;
  /** Largest backoff cap in ms (`Retry-After` may ask for more). @default 5000 */
  readonly maxDelayMs: number;
  /** No attempt of a slice starts later than this after its first attempt, in ms. @default 60000 */
  readonly deadlineMs: number;
}

/** Timeouts, in milliseconds. */
export interface TimeoutsConfig {
  /** Wait for the origin's response headers. @default 15000 */
  readonly headersMs: number;
  /** Idle time allowed between two body chunks. @default 30000 */
  readonly bodyMs: number;
  /** A cache operation slower than this counts as a miss (fail-open). @default 2000 */
  readonly cacheMs: number;
  /** A waiter on another request's fill gives up and fetches itself after this. @default 30000 */
  readonly coalesceMs: number;
  /**
   * One attempt of one slice, head and body, may take this long at most; then it is abandoned and retried.
   * Bounds an origin that trickles, which `bodyMs` (an idle timer) never catches. @default 60000
   */
  readonly sliceMs: number;
}

/** Cache freshness and policy (R7, R15). */
export interface CacheConfig {
  /** Freshness when the origin sends no `max-age`/`s-maxage`, in ms. @default 300000 */
  readonly defaultTtlMs: number;
  /** Freshness never exceeds this, in ms. @default 604800000 */
  readonly maxTtlMs: number;
  /** Honour the origin's `Cache-Control` (`no-store`, `private`, `s-maxage`, `max-age`). @default true */
  readonly honorCacheControl: boolean;
  /** Cache responses to requests carrying `Authorization` or `Cookie`. @default false */
  readonly cacheAuthorized: boolean;
}

/** The resolved configuration: every option present and within its bounds. */
export interface SliceFetchConfig {
  /** Bytes per slice; slices are aligned to multiples of it. @default 1048576 */
  readonly sliceSize: number;
  /** In-flight sub-requests per response; the fetch window is `concurrency × sliceSize`. @default 8 */
  readonly concurrency: number;
  /** In-flight sub-requests per origin, across all responses. @default 16 */
  readonly originConnections: number;
  /** Bytes of slices held in memory by all responses together; at least `sliceSize`. @default 134217728 */
  readonly maxBufferedBytes: number;
  /** Ranges accepted in one multi-range request before it is answered with a full 200. @default 16 */
  readonly maxRanges: number;
  /** Larger objects are refused. @default Number.MAX_SAFE_INTEGER */
  readonly maxObjectSize: number;
  /** What happens to a shared fill when its last waiter leaves (R12). @default 'cancel' */
  readonly coalesce: 'cancel' | 'complete';
  /** Retry options. */
  readonly retry: RetryConfig;
  /** Timeouts. */
  readonly timeouts: TimeoutsConfig;
  /** Cache options. */
  readonly cachePolicy: CacheConfig;
}

/** The options a caller may give: every option, nested ones too, is optional and defaults as documented. */
export interface SliceFetchConfigInput {
  /** @see SliceFetchConfig.sliceSize */
  readonly sliceSize?: number;
  /** @see SliceFetchConfig.concurrency */
  readonly concurrency?: number;
  /** @see SliceFetchConfig.originConnections */
  readonly originConnections?: number;
  /** @see SliceFetchConfig.maxBufferedBytes */
  readonly maxBufferedBytes?: number;
  /** @see SliceFetchConfig.maxRanges */
  readonly maxRanges?: number;
  /** @see SliceFetchConfig.maxObjectSize */
  readonly maxObjectSize?: number;
  /** @see SliceFetchConfig.coalesce */
  readonly coalesce?: 'cancel' | 'complete';
  /** @see RetryConfig */
  readonly retry?: Partial<RetryConfig>;
  /** @see TimeoutsConfig */
  readonly timeouts?: Partial<TimeoutsConfig>;
  /** @see CacheConfig */
  readonly cachePolicy?: Partial<CacheConfig>;
}

/** One row of the configuration reference. */
export interface ConfigOptionDoc {
  /** Dotted option path, e.g. `retry.retries`. */
  readonly path: string;
  /** `integer`, `boolean`, or the allowed values (`'cancel' | 'complete'`). */
  readonly type: string;
  /** The value used when the option is not given. */
  readonly default: unknown;
  /** Smallest allowed integer. */
  readonly min?: number;
  /** Largest allowed integer. */
  readonly max?: number;
  /** What the option does. */
  readonly description: string;
}
