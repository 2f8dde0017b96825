/**
 * `combineHooks()`: one {@link Metrics} object that calls several — a fetcher takes a single `hooks` object,
 * so Prometheus and a progress bar (or your own hooks) are combined here.
 *
 * @module
 */
import type { Metrics } from '../ports.js';

/**
 * Combines several hook objects into one; each event goes to every object that implements it, in order.
 * Only the events some object implements are present on the result, so unused events cost nothing.
 *
 * @example
 * ```ts
 * const metrics = prometheusMetrics();
 * const fetcher = createSliceFetcher({
 *   hooks: combineHooks(metrics, { onBytes: (e) => bar.tick(e.bytes) }),
 * });
 * ```
 */
export function combineHooks(...all: readonly (Metrics | undefined)[]): Metrics {
  const present = all.filter((h): h is Metrics => h !== undefined);
  const out: Record<string, (event: never) => void> = {};
  for (const name of EVENTS) {
    const handlers = present.filter((h) => typeof h[name] === 'function');
    if (handlers.length === 0) continue;
    // `call` keeps each object's `this`, for hook objects written as classes.
    out[name] = (event: never): void => {
      for (const h of handlers) (h[name] as (e: never) => void).call(h, event);
    };
  }
  return out as Metrics;
}

// ---------------------------------------------------------------------------------------------------------

/** Every event of the {@link Metrics} port; the `satisfies` check breaks the build when the port grows. */
const EVENTS = [
  'onRequestStart',
  'onRequestEnd',
  'onSliceStart',
  'onSliceEnd',
  'onSliceRetry',
  'onSliceError',
  'onCacheHit',
  'onCacheMiss',
  'onCacheStore',
  'onCacheError',
  'onBytes',
] as const satisfies readonly (keyof Metrics)[];

type MissingEvents = Exclude<keyof Metrics, (typeof EVENTS)[number]>;
/** Compile-time guard: `never` unless an event of the port is missing from {@link EVENTS}. */
const complete: MissingEvents extends never ? true : false = true;
void complete;
