/**
 * Purge notices of a tiered store (R16, P27): the store subscribes to the tiers that announce purges (a shared
 * Redis, a shared directory) while someone listens to it, lets its own reaction finish — the tiers above the
 * announcing one drop the object — and only then tells its listeners, so the engine, when it reloads the
 * object, can no longer meet a copy of the purged generation in memory.
 *
 * @module
 */
import type { CacheStorage } from '../ports.js';

/** The listeners of one tiered store's notices. */
export interface TierNotices {
  /** Adds a listener (subscribing to the tiers with the first); returns its unsubscribe function. */
  listen(listener: (objectKey: string) => void): () => void;
  /** Drops every listener and every subscription. */
  close(): void;
}

/**
 * Notices of the tiers in `stack`; `react(from, objectKey)` runs first on each, for the tier at index `from`.
 *
 * @example
 * ```ts
 * const notices = tierNotices(stack, (from, objectKey) => dropAbove(from, objectKey));
 * const stop = notices.listen((objectKey) => console.log('purged elsewhere', objectKey));
 * ```
 */
export function tierNotices(
  stack: readonly CacheStorage[],
  react: (from: number, objectKey: string) => Promise<unknown>,
): TierNotices {
  const listeners = new Set<(objectKey: string) => void>();
  let unsubscribe: (() => void) | undefined;

  function notice(from: number, objectKey: string): void {
    void react(from, objectKey)
      .catch(() => undefined)
      .then(() => {
        for (const listener of [...listeners]) listener(objectKey);
      });
  }

  function close(): void {
    listeners.clear();
    unsubscribe?.();
    unsubscribe = undefined;
  }

  return {
    listen(listener) {
      listeners.add(listener);
      unsubscribe ??= subscribe(stack, notice);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) close();
      };
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------------------

/** Subscribes to the notices of every tier that gives them; returns the unsubscribe-all function. */
function subscribe(
  stack: readonly CacheStorage[],
  notice: (from: number, objectKey: string) => void,
): () => void {
  const stops = stack.flatMap((tier, k) => {
    try {
      const stop = tier.onPurge?.((objectKey) => notice(k, objectKey));
      return stop === undefined ? [] : [stop];
    } catch {
      return []; // a tier that cannot subscribe only leaves the engine to read the generation again later
    }
  });
  return () => {
    for (const stop of stops) stop();
  };
}
