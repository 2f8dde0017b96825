/**
 * The shapes of a slice fetcher: its options, the per-call options of `fetch()`, the fetcher itself, and the
 * internal entry points the Node handler uses instead of `fetch()` (design.md "Web streams only at the edge").
 * Types and symbols only; `fetcher.ts` builds one.
 *
 * @module
 */
import type { SliceFetchConfig, SliceFetchConfigInput } from '../core/config-types.js';
import type { CacheStorage, Logger, Metrics, Transport } from '../ports.js';
import type { MemoryAnswer } from './answer-from-memory.js';
import type { RedirectMode } from './redirects.js';
import type { SliceResult } from './request-types.js';
import type { SliceFetcherStats } from './telemetry.js';

/** Options of `createSliceFetcher`: every {@link SliceFetchConfigInput} option plus the adapters. */
export interface SliceFetcherOptions extends SliceFetchConfigInput {
  /**
   * Where slices are cached; `false` disables caching.
   * @default memoryStorage({ maxBytes: 256 MiB })
   */
  cache?: CacheStorage | false;
  /**
   * How sub-requests are sent.
   * @default undiciTransport({ connections: originConnections })
   */
  transport?: Transport;
  /** Typed event hooks (progress bars, metrics). */
  hooks?: Metrics;
  /** A pino-compatible logger. @default silent */
  logger?: Logger;
  /** Maps a URL to the key its slices are cached under. @default the normalised URL */
  cacheKey?: (url: URL) => string;
}

/** A byte range given to {@link SliceFetcher.fetch}: a `Range` header value, `{ start, end? }` or `{ suffix }`. */
export type RangeInput =
  | string
  | {
      /** First byte. */
      readonly start: number;
      /** Last byte, inclusive; absent: to the end. */
      readonly end?: number;
    }
  | {
      /** The last this many bytes. */
      readonly suffix: number;
    };

/** Per-call options of {@link SliceFetcher.fetch}. */
export interface SliceFetchInit {
  /** The byte range wanted; absent = the whole object. */
  range?: RangeInput;
  /** Request headers: `If-*` preconditions are evaluated by the fetcher; the others are sent to the origin. */
  headers?: Record<string, string> | Headers;
  /** `HEAD` answers from metadata without a body. @default 'GET' */
  method?: 'GET' | 'HEAD';
  /** Aborts the request and its body. */
  signal?: AbortSignal;
  /**
   * What a redirect of the object does, as in WHATWG fetch: `follow` it (up to 20, slicing where it leads,
   * credentials dropped across origins, the cache key still the URL asked for), hand the 3xx back (`manual`),
   * or fail (`error`).
   * @default 'follow'
   */
  redirect?: RedirectMode;
  /**
   * Hands the body's chunks over as they are — possibly the cache's own memory — instead of one copy per slice.
   * Only for a caller that never writes into them: a write would change what the next hit returns.
   * @default false
   */
  zeroCopy?: boolean;
}

/** A configured slice fetcher. Create one per process and reuse it: it owns the pool, the cache and the budget. */
export interface SliceFetcher {
  /**
   * Fetches `url` (or a range of it) through the slice cache. Resolves once the first slice is validated, with a
   * `Response` whose body streams the bytes in order; the body errors (never ends cleanly) if a later slice fails.
   * Each slice arrives as one chunk of the caller's own (`zeroCopy` hands over the cache's memory instead). The `x-slice-cache` header says `HIT`
   * (no origin request), `MISS` (every byte from the origin), `PARTIAL` (both) or `REVALIDATED`.
   */
  fetch(url: string | URL, init?: SliceFetchInit): Promise<Response>;
  /** Removes every cached slice and the metadata of `url`'s object, in every version; resolves how many entries went. */
  purge(url: string | URL): Promise<number>;
  /** Counters since creation. */
  stats(): SliceFetcherStats;
  /** Aborts in-flight work, closes the transport (if created here) and the store. */
  close(): Promise<void>;
  /** The resolved configuration. */
  readonly config: SliceFetchConfig;
}

/** @internal The fast entry point for the Node handler: the same result with a Node stream body. */
export const openSymbol = Symbol.for('slice-fetch.open');

/**
 * @internal The synchronous entry point for the Node handler: the answer from memory, or `undefined` — then
 * nothing happened (no event, no request id used) and {@link openSymbol} serves the request.
 */
export const answerNowSymbol = Symbol.for('slice-fetch.answer-now');

/** @internal Options of the internal entry points. */
export interface InternalOpenInit extends SliceFetchInit {
  /**
   * The caller gives every piece back with `result.release(piece)` once its bytes are written out, so store
   * hits read into recycled memory instead of fresh buffers (the Node handler does).
   */
  recycle?: boolean;
  /**
   * `headers` is a plain record (not a `Headers`) with lower-case names, made for this call alone (the Node
   * handler's): the engine reads it as it is instead of copying it.
   */
  lowerCaseHeaders?: boolean;
  /** The caller just had `undefined` from {@link answerNowSymbol} for this request: `open()` does not ask again. */
  triedMemory?: boolean;
}

/** @internal A fetcher as the handler sees it. */
export interface InternalSliceFetcher extends SliceFetcher {
  [openSymbol](url: string | URL, init?: InternalOpenInit): Promise<SliceResult>;
  [answerNowSymbol](url: string | URL, init?: InternalOpenInit): MemoryAnswer | undefined;
}
