/**
 * Retiring an object (R7, R11, R19, P27): what a purge does, and what a version change does to the version it
 * replaces. Its fills become unreachable to new requests and are fenced off from the store, its metadata is
 * forgotten, and once the store writes already under way have landed, the store purges every entry of it.
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
