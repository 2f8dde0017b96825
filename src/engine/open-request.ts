/**
 * One request from start to response head: the object's metadata (in memory or the store, else learnt from
 * the reference slice), preconditions, the client's range, the plan, and a body that streams the slices in
 * order. Resolves once the first piece of the body is in hand, which is also where a version change is still
 * repairable: before that point the engine retires the version and starts again (R11); after it, the body
 * fails and the object is retired, so the next request is healthy.
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import { SliceFetchError } from '../core/errors.js';
import { MAX_RANGE_FIELD_LENGTH, type ParsedRange, parseRange } from '../core/range.js';
import { cacheStatusAtHead, finalOutcome } from './cache-status.js';
import { learnObject } from './learn-object.js';
import type { ObjectMetadata } from './metadata.js';
import { passThrough } from './pass-through.js';
import { type PieceSource, PieceStream, sequenceSource } from './piece-stream.js';
import type { CacheStatus, Engine, OpenInput, SliceResult } from './request-types.js';
import { type Body, bodyOf } from './response-body.js';
import { unsatisfiableHeaders, withSetCookie } from './response-heads.js';
import { bodiless, type Learning, NOTHING_LEARNT, planResponse } from './response-plan.js';
import { retireObject } from './retire-object.js';

/**
 * Opens one request: resolves the response head once the first byte of the body is in hand.
 *
 * @throws {SliceFetchError} `ERR_SLICE_RANGE` (400) for a `Range` longer than {@link MAX_RANGE_FIELD_LENGTH}.
 */
export async function openRequest(engine: Engine, input: OpenInput): Promise<SliceResult> {
  if (input.range !== undefined && input.range.length > MAX_RANGE_FIELD_LENGTH) {
    throw new SliceFetchError(
      'ERR_SLICE_RANGE',
      `Expected a Range of at most ${MAX_RANGE_FIELD_LENGTH} characters, got ${input.range.length}.`,
      { url: input.url, status: 400 },
    );
  }
  const parsed = parseRange(input.range);
  for (let restarts = 0; ; restarts++) {
    try {
      return await openOnce(engine, input, parsed, restarts > 0);
    } catch (error) {
      // R11: the object changed under us before the head went out — forget that version and start again.
      if (isVersionChange(error) && restarts < MAX_RESTARTS) {
        await retireObject(engine, input.objectKey, input);
        engine.deps.logger.info(
          { requestId: input.requestId, url: input.url, reason: (error as Error).message },
          'object changed; restarting',
        );
        continue;
      }
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

const MAX_RESTARTS = 2;

async function openOnce(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  refresh: boolean,
): Promise<SliceResult> {
  const found = refresh
    ? undefined
    : await engine.metadata.load(input.objectKey, input.base, input.forward, input);
  // An object reached through redirects is not what a request that does not follow them gets.
  const known = found?.location !== undefined && input.redirect !== 'follow' ? undefined : found;
  if (known !== undefined && known.expiresAt > engine.deps.now()) {
    return respond(engine, input, parsed, known, NOTHING_LEARNT);
  }
  const learned = await learnObject(engine, input, parsed, known);
  switch (learned.kind) {
    case 'unsatisfiable':
      // The reference was placed by a size the object no longer has (a suffix range): learn it again.
      if (known !== undefined && known.size !== learned.size)
        throw new SliceFetchError(
          'ERR_SLICE_VERSION_CHANGED',
          `${input.url} is ${learned.size} bytes now, not ${known.size}.`,
          { url: input.url, expected: `${known.size} bytes`, actual: `${learned.size} bytes` },
        );
      return bodiless(416, unsatisfiableHeaders(learned.size, {}), 'not-satisfiable', 'MISS');
    case 'live':
      return passThrough(engine, { ...input, url: learned.url }, learned.result);
    case 'meta': {
      const { meta, revalidated, fromOrigin } = learned;
      const learning = { learnt: fromOrigin, revalidated, referenceIndex: undefined, setCookie: undefined };
      return respond(engine, input, parsed, meta, learning);
    }
    case 'sliced': {
      const { meta, index, setCookie, lease } = learned;
      const learning = { learnt: true, revalidated: false, referenceIndex: index, setCookie };
      const answered = respond(engine, input, parsed, meta, learning);
      // The reference fill stays joinable, even once its bytes are in, until this response's reader has them.
      lease.hold(answered);
      try {
        return await answered;
      } finally {
        // A HEAD of a version that will be stored lets the reference finish: a GET usually follows.
        if (input.method !== 'HEAD' || !meta.cacheable) lease.release();
      }
    }
  }
}

/** Answers from a known version: preconditions, range, head, and a body primed with its first piece. */
async function respond(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  meta: ObjectMetadata,
  learning: Learning,
): Promise<SliceResult> {
  const plan = planResponse(engine, input, parsed, meta, learning);
  if (plan.kind === 'answer') return plan.result;
  const { status, ranges, base, headStatus } = plan;
  const body = bodyOf(engine, input, meta, ranges, status, base);
  const headers = withSetCookie(body.headers, learning.setCookie);
  if (input.method === 'HEAD') {
    const outcome = finalOutcome(learning.learnt, learning.revalidated, { cache: 0, origin: 0 });
    return { status, headers, body: undefined, cacheStatus: headStatus, outcome };
  }

  // Before any slice is read, so that the store is seen as it was for this response.
  const predicted = statusAtHead(engine, input, body, learning);
  // Prime: read up to the first slice's piece now (past a multipart part head), so that a version change found
  // on the first slice restarts the request cleanly instead of failing a body already under way.
  const source = sequenceSource(body.makers);
  const primed: (Chunks | null)[] = [];
  try {
    for (let n = 0; n < body.primeCount; n++) {
      const piece = await source.next();
      primed.push(piece);
      if (piece === null) break;
    }
  } catch (error) {
    source.cancel(error as Error);
    throw error;
  }
  const cacheStatus = await predicted;
  const stream = new PieceStream(
    purgeOnVersionChange(engine, input, {
      next: () => (primed.length > 0 ? Promise.resolve(primed.shift() as Chunks | null) : source.next()),
      cancel: (error) => source.cancel(error),
    }),
  );
  const sources = body.sources;
  return {
    status,
    headers,
    body: stream,
    cacheStatus,
    // A getter: read when the body ended, it counts every slice's source, not just the first.
    get outcome() {
      return finalOutcome(learning.learnt, learning.revalidated, sources);
    },
    ...(input.recycle === true ? { release: engine.pool.release } : {}),
  };
}

/**
 * The cache status of a body about to be read: the reference this response's learning fetched is the origin's,
 * every other slice is looked up with a presence check.
 */
function statusAtHead(
  engine: Engine,
  input: OpenInput,
  body: Body,
  learning: Learning,
): Promise<CacheStatus> {
  const { indexes, keyOf } = body;
  const unknown: number[] = [];
  let fromOrigin = 0;
  for (const index of indexes) {
    if (index === learning.referenceIndex) fromOrigin++;
    else unknown.push(index);
  }
  const { cache } = engine;
  return cacheStatusAtHead({
    learnt: learning.learnt,
    revalidated: learning.revalidated,
    unknown,
    fromOrigin,
    has: (index) => (cache.canTell ? cache.has(keyOf(index), input) : undefined),
  });
}

/** A body source that, when the object changes mid-body, retires the old version so the next request heals. */
function purgeOnVersionChange(engine: Engine, input: OpenInput, source: PieceSource): PieceSource {
  return {
    next: async () => {
      try {
        return await source.next();
      } catch (error) {
        if (isVersionChange(error)) await retireObject(engine, input.objectKey, input);
        throw error;
      }
    },
    cancel: (error) => source.cancel(error),
  };
}

function isVersionChange(error: unknown): boolean {
  return error instanceof SliceFetchError && error.code === 'ERR_SLICE_VERSION_CHANGED';
}
