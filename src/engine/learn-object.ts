/**
 * Learning an object from its reference slice (R3): the first slice a request needs is fetched, and its head
 * tells the object's size, validators and headers. The fetch is a fill like any other (`slice-fill.ts`):
 * concurrent requests of one sharing scope that need the same reference join it, and as soon as its head names
 * the version, it becomes the fill of that slice — under the slice's key, where readers and other requests'
 * read-ahead find it. Requests are answered at the head; the reference bytes follow as the fill's value.
 *
 * Also here: revalidating a stale version with one conditional request (R7), retiring the old version when
 * the object changed, and learning a cold object once across processes that share a store (R16).
 *
 * @module
 */
import { type HeaderRecord, headerValue } from '../core/headers.js';
import { metadataKey, sliceKey } from '../core/keys.js';
import { sliceIndexAt } from '../core/plan.js';
import type { ParsedRange } from '../core/range.js';
import type { ReferenceFacts } from '../core/reference-slice.js';
import { parseVary } from '../core/scope.js';
import { claimFill } from './fill-claim.js';
import { type ObjectMetadata, sliceExpiry } from './metadata.js';
import type { FenceTicket } from './object-fence.js';
import { renewed, revalidation, scopeOf, versionOf, wantedBytes } from './object-version.js';
import { fetchReference, type ReferenceResult } from './origin-fetch.js';
import { HEAD_PRIORITY } from './origin-scheduler.js';
import { discardBody } from './read-body.js';
import { type Hop, nextHop } from './redirects.js';
import type { Engine, LiveResult, OpenInput, ReferenceHead } from './request-types.js';
import { retireObject } from './retire-object.js';
import type { FlightContext, Lease } from './single-flight.js';
import { referenceKey, type SliceValue, storeSlice } from './slice-fill.js';

/** What learning the object gives a request. */
export type Learned =
  /**
   * A sliceable version. `lease` holds the reference fill until the request's reader has joined it — release
   * it then (or at once, if the response needs no body).
   */
  | {
      readonly kind: 'sliced';
      readonly meta: ObjectMetadata;
      readonly index: number;
      readonly lease: Lease<SliceValue | undefined, ReferenceHead>;
      readonly setCookie: string | readonly string[] | undefined;
    }
  /** A version known without slice bytes to follow; `fromOrigin` unless another process learnt it. */
  | {
      readonly kind: 'meta';
      readonly meta: ObjectMetadata;
      readonly revalidated: boolean;
      readonly fromOrigin: boolean;
    }
  | { readonly kind: 'unsatisfiable'; readonly size: number; readonly headers: HeaderRecord }
  | { readonly kind: 'live'; readonly result: LiveResult; readonly url: string };

/**
 * Learns the object for `input`: joins or starts the reference fetch of the slice holding its first wanted
 * byte. `known` is what the engine already knows of the object in this scope (stale, or not storable): a stale
 * cacheable version is revalidated, and any known size places the reference of a suffix range.
 */
export async function learnObject(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  known: ObjectMetadata | undefined,
): Promise<Learned> {
  const index = referenceIndex(parsed, engine.deps.config.sliceSize, known?.size);
  const key = referenceKey(input.objectKey, input.base, index, input.redirect);
  let own = key;
  // Processes sharing a coordinating store learn a cold object once per scope (R16); `undefined`: alone.
  let claimScope: string | undefined = input.base;
  for (let tries = 0; tries < 2; tries++) {
    const joined = engine.fills.join(own, input.signal);
    if (joined === undefined) break;
    const head = await headOfLease(joined);
    if (sharedWith(head, input)) return learned(head, joined, index);
    joined.release();
    // Another variant, a private answer to another credential, or a live body only one request can take: learn
    // under a key of this request's own scope, which the requests of that scope share, or else alone.
    const scope =
      tries === 0 && (head.kind === 'sliced' || head.kind === 'meta') && head.meta.vary !== '*'
        ? scopeOf(head.meta, input)
        : undefined;
    own = `${key}\u0000${scope ?? input.requestId}`;
    claimScope = scope;
  }
  const lease = engine.fills.start(
    own,
    input.objectKey,
    (context) => fetchAndLearn(engine, input, parsed, index, known, claimScope, context),
    input.signal,
  );
  const head = await headOfLease(lease);
  if (head.kind === 'live' && !head.claim()) throw new Error('a live reference answer was claimed twice');
  return learned(head, lease, index);
}

/**
 * The slice index holding the first byte a request's body reads: the first range's (bodies read ranges in the
 * order asked), a suffix placed by a known size; the whole object, or a suffix of an unknown one, from 0.
 */
function referenceIndex(parsed: ParsedRange, sliceSize: number, knownSize?: number): number {
  if (parsed.type !== 'specs') return 0;
  const spec = parsed.specs[0];
  if (spec === undefined) return 0;
  if ('first' in spec) return Number.isSafeInteger(spec.first) ? sliceIndexAt(spec.first, sliceSize) : 0;
  if (knownSize === undefined || !Number.isSafeInteger(spec.suffix)) return 0;
  return sliceIndexAt(Math.max(0, knownSize - spec.suffix), sliceSize);
}

// ---------------------------------------------------------------------------------------------------------

/** The head a reference fill announces; the lease is given up if the fill fails first. */
function headOfLease(lease: Lease<SliceValue | undefined, ReferenceHead>): Promise<ReferenceHead> {
  return lease.head.catch((error: unknown) => {
    lease.release();
    throw error;
  });
}

function learned(
  head: ReferenceHead,
  lease: Lease<SliceValue | undefined, ReferenceHead>,
  index: number,
): Learned {
  switch (head.kind) {
    case 'sliced':
      return {
        kind: 'sliced',
        meta: head.meta,
        index,
        lease,
        setCookie: lease.joined ? undefined : head.setCookie,
      };
    case 'meta':
      lease.release();
      return head;
    case 'unsatisfiable':
      lease.release();
      return { kind: 'unsatisfiable', size: head.size, headers: head.headers };
    case 'live':
      lease.release();
      return { kind: 'live', result: head.result, url: head.url };
  }
}

/**
 * Whether a request may use a reference answer another request fetched: same variant, and — unless the answer
 * may be stored and so shared anyway — the same credential. A live body is never shared.
 */
function sharedWith(head: ReferenceHead, input: OpenInput): boolean {
  if (head.kind === 'live') return false;
  if (head.kind === 'unsatisfiable')
    return scopeOf({ vary: head.vary, cacheable: false }, input) === head.scope;
  return scopeOf(head.meta, input) === head.meta.scope;
}

/** The reference fill's work: claim across processes, fetch, announce the head, store what may be stored. */
async function fetchAndLearn(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  index: number,
  known: ObjectMetadata | undefined,
  claimScope: string | undefined,
  context: FlightContext<ReferenceHead>,
): Promise<SliceValue | undefined> {
  const { deps, cache } = engine;
  const event = { requestId: input.requestId, url: input.url };
  let ticket = engine.fence.enter(input.objectKey);
  const writes: Promise<unknown>[] = [];
  let claimed = false;
  // P27: the generation the version is learnt in, read after the ticket so a purge meanwhile fences this fill.
  // A stale version is revalidated only in the store's current generation (a purge notice may have been lost).
  const generation = await engine.metadata.generation(input.objectKey, event, known?.cacheable === true);
  const stale = known?.cacheable === true && known.generation === generation ? known : undefined;
  const claimKey = metadataKey(input.objectKey, claimScope ?? '', generation);
  // The reference fetch's bytes: they renew the learning claim while they arrive (R22).
  const progress = { received: 0 };
  try {
    if (cache.coordinates && stale === undefined && claimScope !== undefined) {
      // R16: processes sharing a store learn a cold object once; the others wait for its metadata.
      const claim = await claimFill(cache, claimKey, event, {
        read: async () => {
          const meta = await engine.metadata.load(input.objectKey, input.base, input.forward, event);
          return meta !== undefined && meta.expiresAt > deps.now() ? meta : undefined;
        },
        readWhileHeld: false, // the metadata lands before the reference slice: wait until both are stored
        waitMs: deps.config.timeouts.coalesceMs,
        signal: context.signal,
        progress,
      });
      if (claim !== 'own' && claim !== 'claimed') {
        context.announce({ kind: 'meta', meta: claim, revalidated: false, fromOrigin: false });
        return undefined;
      }
      claimed = claim === 'claimed';
    }
    const { sliceSize } = deps.config;
    let meta: ObjectMetadata | undefined;
    let store = false;
    let setCookie: string | readonly string[] | undefined;
    let hop: Hop = {
      url: input.url,
      headers: stale === undefined ? input.forward : { ...input.forward, ...revalidation(stale) },
      withoutCredentials: false,
    };
    const onHead = (facts: ReferenceFacts, headers: HeaderRecord): void => {
      meta = versionOf(engine, input, facts, headers, hop, generation);
      ticket = adopt(engine, input, meta, stale, ticket);
      if (ticket.current) context.alias(sliceKey({ ...meta, sliceSize, index }));
      // Scan resistance, as for every slice: a response larger than the store's budget writes none.
      store = meta.cacheable && cache.admits(wantedBytes(parsed, meta.size));
      const length = Math.min(sliceSize, meta.size - index * sliceSize);
      context.finishAlone(() => store && progress.received * 2 > length);
      setCookie = meta.cacheable ? undefined : headers['set-cookie'];
      context.announce({ kind: 'sliced', meta, setCookie });
    };
    let result: ReferenceResult;
    for (let hops = 0; ; hops++) {
      result = await fetchReference(
        deps,
        {
          url: hop.url,
          requestId: input.requestId,
          index,
          // Before the size is known, ask for the whole aligned slice; the origin clamps its end at EOF.
          range: { start: index * sliceSize, end: index * sliceSize + sliceSize - 1 },
          headers: hop.headers,
          signal: context.signal,
          priority: HEAD_PRIORITY,
          progress,
        },
        onHead,
      );
      const next = nextHop(result, hop, input.redirect, hops);
      if (next === undefined) break;
      hop = next;
    }
    if (result.kind === 'sliced') {
      const learnt = meta as ObjectMetadata; // set by the head callback, which ran before any body
      writes.push(ticket.write(() => engine.metadata.persist(learnt, event, sliceExpiry(deps))));
      if (store) {
        const slice = sliceKey({ ...learnt, sliceSize, index });
        const sliceEvent = { ...event, index, range: result.range };
        writes.push(storeSlice(engine, learnt, slice, result.chunks, sliceEvent, ticket));
      }
      return { chunks: result.chunks, source: 'origin', lent: false };
    }
    context.announce(
      headOf(engine, input, result, stale, hop, generation, (m) => {
        ticket = adopt(engine, input, m, stale, ticket);
        writes.push(ticket.write(() => engine.metadata.persist(m, event, sliceExpiry(deps))));
      }),
    );
    return undefined;
  } finally {
    const written = Promise.allSettled(writes);
    context.hold(written);
    void written.then(() => {
      ticket.leave();
      if (claimed && claimScope !== undefined) return cache.unlock(claimKey, event);
    });
  }
}

/** The head of a reference answer that brings no slice bytes; `learnt` publishes a version it names. */
function headOf(
  engine: Engine,
  input: OpenInput,
  result: Exclude<ReferenceResult, { kind: 'sliced' }>,
  stale: ObjectMetadata | undefined,
  hop: Hop,
  generation: string,
  learnt: (meta: ObjectMetadata) => void,
): ReferenceHead {
  if (result.kind === 'unsatisfiable') {
    const vary = parseVary(headerValue(result.headers, 'vary'));
    return { ...result, vary, scope: scopeOf({ vary, cacheable: false }, input) };
  }
  if (result.kind === 'empty') {
    const { headers } = result;
    const facts = {
      size: 0,
      etag: headerValue(headers, 'etag'),
      lastModified: headerValue(headers, 'last-modified'),
    };
    const meta = versionOf(engine, input, facts, headers, hop, generation);
    learnt(meta);
    return { kind: 'meta', meta, revalidated: false, fromOrigin: true };
  }
  if (stale !== undefined && result.kind === 'origin-status' && result.response.status === 304) {
    // R7: the stale version is still current — renew it, keep every slice, transfer nothing.
    discardBody(result.response.body);
    const meta = renewed(engine, input, stale, result.response.headers);
    learnt(meta);
    return { kind: 'meta', meta, revalidated: true, fromOrigin: true };
  }
  let claimed = false;
  // Nobody claims a live body when every waiter has gone: release its connection instead of leaking it.
  setImmediate(() => {
    if (!claimed) discardBody(result.response.body);
  });
  return {
    kind: 'live',
    result,
    url: hop.url,
    claim: () => {
      if (claimed) return false;
      claimed = true;
      return true;
    },
  };
}

/**
 * Makes a newly learnt version the one this scope serves: when it replaces another version of the same
 * variant, the old one is retired first — its fills fenced off, its slices purged (R7, R11). Returns the ticket
 * the learning fill writes with from now on. A fill fenced off by a purge publishes nothing.
 */
function adopt(
  engine: Engine,
  input: OpenInput,
  meta: ObjectMetadata,
  stale: ObjectMetadata | undefined,
  ticket: FenceTicket,
): FenceTicket {
  if (!ticket.current) return ticket;
  const previous = stale ?? engine.metadata.peek(input.objectKey, meta.scope);
  // Vary: * is never looked up again: remembering it would only push reusable entries out.
  const remembered = meta.vary !== '*';
  let current = ticket;
  if (previous !== undefined && (previous.validator !== meta.validator || previous.size !== meta.size)) {
    void retireObject(engine, input.objectKey, { requestId: input.requestId, url: input.url });
    ticket.leave();
    current = engine.fence.enter(input.objectKey);
  }
  // An answer private to one credential must not become what the scope's other requests start from.
  if (remembered) engine.metadata.remember(meta, meta.cacheable || input.identity === input.base);
  return current;
}
