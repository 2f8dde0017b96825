/**
 * The telemetry ports, re-exported by `ports.ts`: {@link Metrics} (typed event hooks: the Prometheus adapter and
 * progress bars are built on them) with the events they receive, and {@link Logger} (pino-compatible).
 *
 * @module
 */
import type { SliceFetchError } from './core/errors.js';
import type { ByteRange } from './core/range.js';

/** Common fields of every {@link Metrics} event. */
export interface RequestEventBase {
  /** Identifies one `fetch()` call. */
  readonly requestId: string;
  /** The object URL. */
  readonly url: string;
}

/**
 * How a request ended: `hit` (no origin request), `miss` (every byte from the origin), `partial` (both),
 * `revalidated` (the store's bytes after the origin confirmed them with a 304), `pass` (not sliced),
 * `not-satisfiable` (416), `not-modified` (304 to the client), `error`, `aborted`.
 */
export type RequestOutcome =
  | 'hit'
  | 'miss'
  | 'partial'
  | 'revalidated'
  | 'pass'
  | 'not-satisfiable'
  | 'not-modified'
  | 'error'
  | 'aborted';

/** Events of one slice. */
export interface SliceEvent extends RequestEventBase {
  /** The slice index. */
  readonly index: number;
  /** The slice's byte range in the object. */
  readonly range: ByteRange;
}

/**
 * Typed event hooks — the metrics port. Every member is optional; hooks are called synchronously and must
 * not throw (a throwing hook is caught and logged). The Prometheus adapter and progress bars are built on it.
 *
 * @example
 * ```ts
 * let received = 0;
 * const fetcher = createSliceFetcher({ hooks: { onBytes: (e) => { received += e.bytes; } } });
 * ```
 */
export interface Metrics {
  /** A `fetch()` began. */
  onRequestStart?(event: RequestEventBase & { readonly range?: string }): void;
  /** A `fetch()` finished (body fully sent, failed, or aborted). */
  onRequestEnd?(
    event: RequestEventBase & {
      readonly status: number;
      readonly outcome: RequestOutcome;
      readonly bytes: number;
      readonly durationMs: number;
      readonly error?: SliceFetchError;
    },
  ): void;
  /** A slice sub-request attempt was sent to the origin. */
  onSliceStart?(event: SliceEvent & { readonly attempt: number }): void;
  /** A slice sub-request completed and validated. */
  onSliceEnd?(
    event: SliceEvent & { readonly status: number; readonly bytes: number; readonly durationMs: number },
  ): void;
  /** A slice attempt failed and will be retried after `delayMs`. */
  onSliceRetry?(
    event: SliceEvent & {
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: SliceFetchError;
    },
  ): void;
  /** A slice failed for good. */
  onSliceError?(event: SliceEvent & { readonly error: SliceFetchError }): void;
  /** A slice was served from the cache. */
  onCacheHit?(event: SliceEvent & { readonly bytes: number }): void;
  /** A slice was not in the cache. */
  onCacheMiss?(event: SliceEvent): void;
  /** A slice was written to the cache. */
  onCacheStore?(event: SliceEvent & { readonly bytes: number }): void;
  /** A cache operation failed (the request went on from the origin). */
  onCacheError?(
    event: RequestEventBase & {
      readonly operation: 'get' | 'set' | 'delete' | 'purge' | 'lock' | 'unlock';
      readonly error: unknown;
    },
  ): void;
  /** Bytes were delivered to the consumer from the origin or the cache. */
  onBytes?(event: RequestEventBase & { readonly source: 'origin' | 'cache'; readonly bytes: number }): void;
}

/** One log method: pino's `(object, message)` form. */
export type LogFn = (object: Record<string, unknown>, message?: string) => void;

/**
 * A pino-compatible logger; pass `pino()` itself or anything with these methods.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * const fetcher = createSliceFetcher({ logger: pino() });
 * ```
 */
export interface Logger {
  /** Detailed tracing (each slice). */
  debug: LogFn;
  /** One summary line per request. */
  info: LogFn;
  /** Retries and cache failures. */
  warn: LogFn;
  /** Failed requests. */
  error: LogFn;
  /** Returns a logger that adds `bindings` (e.g. the request id) to every line. */
  child?(bindings: Record<string, unknown>): Logger;
}
