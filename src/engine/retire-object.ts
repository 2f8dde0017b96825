/**
 * Retiring an object (R7, R11, R19, P27): what a purge does, and what a version change does to the version it
 * replaces. Its fills become unreachable to new requests and are fenced off from the store, its metadata is
 * forgotten, and once the store writes already under way have landed, the store purges every entry of it.
 * A purge made through another process sharing the store arrives as a notice (`CacheStorage.onPurge`) and is
 * followed the same way, minus the store purge, which that process has done.
 *
 * @module
 */
import type { RequestEventBase } from '../ports.js';
import type { Engine } from './request-types.js';

/**
 * Forgets every version of `objectKey` in every scope; resolves how many store entries were purged.
 *
 * @example
 * ```ts
 * const purged = await retireObject(engine, objectKey, { requestId: 'purge', url });
 * ```
 */
export function retireObject(
  engine: Pick<Engine, 'fills' | 'metadata' | 'fence' | 'cache'>,
  objectKey: string,
  event: RequestEventBase,
): Promise<number> {
  engine.fills.forget(objectKey);
  engine.metadata.forget(objectKey);
  return engine.fence.purge(objectKey, () => engine.cache.purgeObject(objectKey, event));
}

/**
 * Follows the purges other processes make through the store (`CacheStorage.onPurge`): each one makes this
 * engine forget the object's fills, metadata and generation and fences its fills, as {@link retireObject}
 * does, without purging the store again. Returns the unsubscribe function, for the fetcher's `close()`.
 *
 * @example
 * ```ts
 * const stopFollowing = followPurges(engine);
 * // … at close:
 * stopFollowing();
 * ```
 */
export function followPurges(engine: Pick<Engine, 'fills' | 'metadata' | 'fence' | 'cache'>): () => void {
  return engine.cache.onPurge((objectKey) => {
    engine.fills.forget(objectKey);
    engine.metadata.forget(objectKey);
    void engine.fence.purge(objectKey, NOTHING_TO_PURGE);
  });
}

// ---------------------------------------------------------------------------------------------------------

const NOTHING_TO_PURGE = async (): Promise<number> => 0;
