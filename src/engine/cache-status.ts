/**
 * The truthful `x-slice-cache` (R19): `HIT` when a response cost no origin request, `MISS` when every byte came
 * from the origin, `PARTIAL` when both did, `REVALIDATED` when the stored bytes were served after the origin
 * confirmed them (304). Joining a fill another request started counts as the origin: those bytes are not
 * from the store.
 *
 * The header goes out with the head, before most slices are read, so it is decided from what is known then:
 * whether learning the object needed the origin, the sources of the slices already read, and a presence check
 * of the others (`CacheStorage.has`: an index lookup, or one pipelined `EXISTS` in Redis). A slice that leaves
 * the store between that check and its read is fetched from the origin all the same; the request's final
 * `outcome` (metrics, the request-end event) counts what really happened.
 *
 * @module
 */
import type { RequestOutcome } from '../ports.js';
import type { CacheStatus } from './request-types.js';

/** What is known of a response when its head goes out. */
export interface HeadFacts {
  /** The object was learnt from the origin for this response (a reference or revalidation request). */
  readonly learnt: boolean;
  /** The origin confirmed a stored version with a 304. */
  readonly revalidated: boolean;
  /** Slice indexes the body reads whose source is still unknown. */
  readonly unknown: readonly number[];
  /** Slices known to come from the origin already (the reference this response's learning fetched). */
  readonly fromOrigin: number;
  /**
   * Whether slice `index` is in the store; `undefined` when the store cannot tell (it has no `has`): such a
   * slice is counted as cached when the object's metadata was, and as the origin's when it was learnt now.
   */
  readonly has: (index: number) => boolean | Promise<boolean> | undefined;
}

/**
 * The `x-slice-cache` value for a response head.
 *
 * @example
 * ```ts
 * const status = await cacheStatusAtHead({ learnt: false, revalidated: false, unknown: [1, 2], fromOrigin: 0, has });
 * ```
 */
export async function cacheStatusAtHead(facts: HeadFacts): Promise<CacheStatus> {
  let cache = 0;
  let origin = facts.fromOrigin;
  const count = (held: boolean | undefined): void => {
    if (held ?? !facts.learnt) cache++;
    else origin++;
  };
  // Answers of a store that answers later are all asked for at once (Redis pipelines them), then counted.
  const later: Promise<boolean>[] = [];
  for (const index of facts.unknown) {
    // PARTIAL already, whatever the rest are.
    if (later.length === 0 && cache > 0 && (origin > 0 || (facts.learnt && !facts.revalidated))) break;
    const held = facts.has(index);
    if (held instanceof Promise) later.push(held);
    else count(held);
  }
  for (const held of await Promise.all(later)) count(held);
  return statusOf(facts.learnt, facts.revalidated, cache, origin);
}

/**
 * What a request ended as, from the sources of the slices it really read.
 *
 * @example
 * ```ts
 * finalOutcome(true, false, { cache: 0, origin: 4 }); // 'miss'
 * ```
 */
export function finalOutcome(
  learnt: boolean,
  revalidated: boolean,
  sources: { readonly cache: number; readonly origin: number },
): RequestOutcome {
  return OUTCOME[statusOf(learnt, revalidated, sources.cache, sources.origin)];
}

// ---------------------------------------------------------------------------------------------------------

const OUTCOME = {
  HIT: 'hit',
  MISS: 'miss',
  PARTIAL: 'partial',
  REVALIDATED: 'revalidated',
  PASS: 'pass',
} as const satisfies Record<CacheStatus, RequestOutcome>;

function statusOf(learnt: boolean, revalidated: boolean, cache: number, origin: number): CacheStatus {
  if (origin === 0) {
    if (!learnt) return 'HIT';
    if (revalidated) return 'REVALIDATED';
    return cache === 0 ? 'MISS' : 'PARTIAL';
  }
  return cache === 0 ? 'MISS' : 'PARTIAL';
}
