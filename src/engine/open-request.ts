/**
 * One request from start to response head: metadata (cached or learnt from the reference slice),
 * preconditions, the client's range, the plan, and a body that streams the slices in order. Resolves as soon
 * as the first piece of the body is in hand, which is also where a version change is still repairable: before
 * that point the engine purges and restarts (SPEC R11), after it the body fails and the object is purged.
 *
 * This file is the request state machine; it is longer than most because its steps share one context.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import type { Chunks } from '../core/chunks.js';
import { evaluatePreconditions } from '../core/conditional.js';
import { SliceFetchError } from '../core/errors.js';
import { cacheDecision } from '../core/freshness.js';
import type { HeaderRecord } from '../core/headers.js';
import { metadataKey, objectValidator, sliceKey } from '../core/keys.js';
import { multipartLayout } from '../core/multipart.js';
import { planSlices, sliceIndexAt } from '../core/plan.js';
import {
  type ByteRange,
  formatContentRange,
  formatUnsatisfiedRange,
  type ParsedRange,
  parseRange,
  rangeLength,
  resolveRange,
} from '../core/range.js';
import type { RequestOutcome } from '../ports.js';
import type { ByteBudget } from './byte-budget.js';
import type { CacheGate } from './cache-gate.js';
import { claimFill } from './fill-claim.js';
import { keptHeaders, type MetadataCache, type ObjectMetadata, sliceExpiry } from './metadata.js';
import { fetchReference, type OriginDeps, type ReferenceResult } from './origin-fetch.js';
import { HEAD_PRIORITY } from './origin-scheduler.js';
import { type PieceSource, PieceStream, sequenceSource, staticSource } from './piece-stream.js';
import { readAhead } from './read-ahead.js';
import { discardBody } from './read-body.js';
import type { ReadBufferPool } from './read-buffer-pool.js';
import type { SingleFlight } from './single-flight.js';
import { type ReadContext, type SeedSlice, SliceReader } from './slice-reader.js';

/** The shared parts of a fetcher a request runs on. */
export interface Engine {
  /** Aborted when the fetcher closes. */
  readonly closing: AbortSignal;
  readonly deps: OriginDeps;
  readonly cache: CacheGate;
  readonly metadata: MetadataCache;
  readonly slices: SingleFlight<Chunks>;
  readonly references: SingleFlight<ReferenceOutcome>;
  readonly budget: ByteBudget;
  /** Memory for store hits, lent to requests whose consumer gives it back ({@link OpenInput.recycle}). */
  readonly pool: ReadBufferPool;
}

/** One request as the engine sees it. */
export interface OpenInput {
  readonly url: string;
  readonly objectKey: string;
  readonly requestId: string;
  readonly method: 'GET' | 'HEAD';
  /** The client's `Range` header value, if any. */
  readonly range: string | undefined;
  /** Request headers the preconditions are read from (`if-*`). */
  readonly conditionals: HeaderRecord;
  /** Headers forwarded to the origin on every sub-request. */
  readonly forward: Readonly<Record<string, string>>;
  /** The request carries `Authorization` or `Cookie` (R15). */
  readonly authorized: boolean;
  readonly signal: AbortSignal;
  /**
   * The consumer gives every piece back with {@link SliceResult.release} once it is done with its bytes, so
   * store hits may read into pooled memory.
   */
  readonly recycle?: boolean;
}

/** How the response was served, for the `x-slice-cache` header and metrics. */
export type CacheStatus = 'HIT' | 'MISS' | 'PARTIAL' | 'PASS';

/** The response head and a streaming body. */
export interface SliceResult {
  readonly status: number;
  /** Response headers, lower-case names. */
  readonly headers: Record<string, string>;
  /** Object-mode stream of pieces (arrays of chunks); `undefined` when the response has no body. */
  readonly body: PieceStream | undefined;
  /** HIT when no byte came from the origin, MISS when all did, PARTIAL in between, PASS when not sliced. */
  cacheStatus(): CacheStatus;
  /** What the request ended as, for metrics. */
  readonly outcome: RequestOutcome;
  /**
   * Gives a piece's memory back for reuse once its bytes are consumed (written to a socket). Only for requests
   * opened with `recycle`; call it at most once per piece and never touch the piece afterwards.
   */
  readonly release?: (piece: Chunks) => void;
}

/** What a shared reference fetch hands its waiters. */
export type ReferenceOutcome =
  | { readonly kind: 'meta'; readonly meta: ObjectMetadata; readonly seed: SeedSlice | undefined }
  | { readonly kind: 'unsatisfiable'; readonly size: number; readonly headers: HeaderRecord }
  | { readonly kind: 'live'; readonly result: LiveResult; claim(): boolean };

/** A reference answer whose body is streamed to the client as it is. */
type LiveResult = Extract<ReferenceResult, { kind: 'pass' | 'origin-status' }>;

/** Opens one request: resolves the response head once the first byte of the body is in hand. */
export async function openRequest(engine: Engine, input: OpenInput): Promise<SliceResult> {
  const parsed = parseRange(input.range);
  for (let restarts = 0; ; restarts++) {
    try {
      return await attempt(engine, input, parsed, restarts > 0);
    } catch (error) {
      // R11: the object changed under us before the head went out — forget that version and start again.
      if (
        error instanceof SliceFetchError &&
        error.code === 'ERR_SLICE_VERSION_CHANGED' &&
        restarts < MAX_RESTARTS
      ) {
        await forgetObject(engine, input);
        engine.deps.logger.info(
          { requestId: input.requestId, url: input.url, reason: error.message },
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

async function attempt(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  refresh: boolean,
): Promise<SliceResult> {
  const cached = refresh
    ? undefined
    : await engine.metadata.load(input.objectKey, { requestId: input.requestId, url: input.url });
  const fresh = cached !== undefined && cached.expiresAt > engine.deps.now();
  let meta = fresh ? cached : undefined;
  let seed: SeedSlice | undefined;
  if (meta === undefined) {
    const outcome = await reference(engine, input, parsed, cached);
    if (outcome.kind === 'unsatisfiable') return unsatisfiable(outcome.size, keptHeaders(outcome.headers));
    if (outcome.kind === 'live') return passThrough(engine, input, outcome.result);
    meta = outcome.meta;
    seed = outcome.seed;
  }
  if (meta.size > engine.deps.config.maxObjectSize) {
    throw new SliceFetchError(
      'ERR_SLICE_TOO_LARGE',
      `${input.url} is ${meta.size} bytes, above maxObjectSize ${engine.deps.config.maxObjectSize}.`,
      {
        url: input.url,
      },
    );
  }

  const base = responseHeaders(meta);
  const precondition = evaluatePreconditions(input.method, input.conditionals, {
    etag: meta.etag,
    lastModified: meta.lastModified,
  });
  if (precondition.outcome === 'not-modified') return bodiless(304, notModifiedHeaders(meta), 'not-modified');
  if (precondition.outcome === 'precondition-failed')
    return bodiless(412, { 'content-length': '0' }, 'error');

  const resolved = precondition.ignoreRange
    ? ({ type: 'absent' } as const)
    : resolveRange(parsed, meta.size, { maxRanges: engine.deps.config.maxRanges });
  if (resolved.type === 'unsatisfiable') return unsatisfiable(meta.size, base);

  const ranges: readonly ByteRange[] =
    resolved.type === 'satisfiable'
      ? resolved.ranges
      : meta.size === 0
        ? []
        : [{ start: 0, end: meta.size - 1 }];
  const status = resolved.type === 'satisfiable' ? 206 : 200;
  const sources = { cache: 0, origin: 0 };
  const cacheStatus = (): CacheStatus =>
    sources.origin === 0 ? 'HIT' : sources.cache === 0 ? 'MISS' : 'PARTIAL';
  const outcome = (): RequestOutcome =>
    (({ HIT: 'hit', MISS: 'miss', PARTIAL: 'partial', PASS: 'pass' }) as const)[cacheStatus()];

  let headers: Record<string, string>;
  let makers: (() => PieceSource)[];
  let length: number;
  const ctx: ReadContext = {
    ...engine,
    meta,
    url: input.url,
    requestId: input.requestId,
    headers: input.forward,
    signal: input.signal,
    sources,
    flights: engine.slices,
    pool: input.recycle === true ? engine.pool : undefined,
  };
  const reader =
    (range: ByteRange): (() => PieceSource) =>
    () =>
      guarded(
        engine,
        input,
        new SliceReader(ctx, planSlices(meta.size, engine.deps.config.sliceSize, range), seed),
      );

  if (ranges.length <= 1) {
    const range = ranges[0];
    length = range === undefined ? 0 : rangeLength(range);
    headers = { ...base, 'content-length': String(length) };
    if (status === 206 && range !== undefined)
      headers['content-range'] = formatContentRange(range, meta.size);
    makers = range === undefined ? [] : [reader(range)];
  } else {
    const boundary = randomBytes(12).toString('hex');
    const layout = multipartLayout(ranges, meta.size, meta.headers['content-type'], boundary);
    length = layout.contentLength;
    headers = { ...base, 'content-type': layout.contentType, 'content-length': String(length) };
    makers = [];
    ranges.forEach((range, i) => {
      makers.push(() => staticSource([[Buffer.from(layout.partHeads[i] as string, 'latin1')]]));
      makers.push(reader(range));
    });
    makers.push(() => staticSource([[Buffer.from(layout.tail, 'latin1')]]));
  }

  if (input.method === 'HEAD') return { status, headers, body: undefined, cacheStatus, outcome: outcome() };

  // Prime: take the first piece now, so a version change found on the first slice restarts cleanly.
  const source = sequenceSource(makers);
  const first = await source.next().catch((error: unknown) => {
    source.cancel(error as Error);
    throw error;
  });
  const primed: PieceSource = {
    next: () => {
      const piece = primedPiece;
      if (piece !== undefined) {
        primedPiece = undefined;
        return Promise.resolve(piece);
      }
      return source.next();
    },
    cancel: (error) => source.cancel(error),
  };
  let primedPiece: Chunks | null | undefined = first;
  const body = new PieceStream(primed);
  // A getter: the outcome is read when the body ends, once every slice's source is known (not just the first).
  return {
    status,
    headers,
    body,
    cacheStatus,
    get outcome() {
      return outcome();
    },
    ...(input.recycle === true ? { release: engine.pool.release } : {}),
  };
}

/** Fetches the reference slice, shared by concurrent requests that need the same one (SPEC R12). */
async function reference(
  engine: Engine,
  input: OpenInput,
  parsed: ParsedRange,
  stale: ObjectMetadata | undefined,
): Promise<ReferenceOutcome> {
  const { sliceSize } = engine.deps.config;
  const index = referenceIndex(parsed, sliceSize);
  const key = `${input.objectKey}#${index}`;
  const fetchAndLearn = async (
    signal: AbortSignal,
    hold: (p: Promise<unknown>) => void,
  ): Promise<ReferenceOutcome> => {
    // Before the size is known, ask for the whole aligned slice; the origin clamps its end at EOF.
    const range = { start: index * sliceSize, end: index * sliceSize + sliceSize - 1 };
    const request = {
      url: input.url,
      requestId: input.requestId,
      index,
      range,
      headers: stale === undefined ? input.forward : { ...input.forward, ...revalidation(stale) },
      signal,
      priority: HEAD_PRIORITY,
    };
    let started = false;
    const result = await fetchReference(engine.deps, request, (facts, headers) => {
      if (started || input.method !== 'GET') return; // a retried reference does not start them twice
      started = true;
      const meta = versionOf(engine, input, facts.size, facts.etag, facts.lastModified, headers);
      const aheadSignal = AbortSignal.any([signal, engine.closing]);
      setMaxListeners(0, aheadSignal); // each early slice in flight listens on it
      const store = meta.cacheable && engine.cache.admits(wantedBytes(parsed, meta.size));
      readAhead(
        engine,
        parsed,
        {
          url: input.url,
          requestId: input.requestId,
          headers: input.forward,
          index,
          signal: aheadSignal,
          store,
        },
        meta,
      );
    });
    if (stale !== undefined && result.kind === 'origin-status' && result.response.status === 304) {
      // R7: the stale version is still current — renew it, keep every slice, transfer nothing.
      discardBody(result.response.body);
      return {
        kind: 'meta',
        meta: renew(engine, input, stale, result.response.headers, hold),
        seed: undefined,
      };
    }
    return learn(engine, input, result, index, hold, stale);
  };
  const { promise, joined } = engine.references.run(
    key,
    async ({ signal, hold }) => {
      if (!engine.cache.coordinates || stale !== undefined) return fetchAndLearn(signal, hold);
      return coordinated(engine, input, signal, hold, fetchAndLearn);
    },
    { signal: input.signal, waitTimeoutMs: engine.deps.config.timeouts.coalesceMs },
  );
  const outcome = await promise;
  if (outcome.kind === 'live' && (joined || !outcome.claim())) {
    // Somebody else's live response cannot be shared: ask the origin ourselves.
    const own = await fetchReference(engine.deps, {
      url: input.url,
      requestId: input.requestId,
      index,
      range: { start: index * sliceSize, end: index * sliceSize + sliceSize - 1 },
      headers: input.forward,
      signal: input.signal,
      priority: HEAD_PRIORITY,
    });
    return learn(engine, input, own, index, () => {});
  }
  return outcome;
}

/**
 * SPEC R16 for the reference: processes sharing a store that can claim fills learn a cold object once. The
 * claimant fetches the reference and keeps the claim until its metadata and reference slice are stored; the
 * others wait for that release, then read the metadata (or, past `timeouts.coalesceMs`, fetch themselves).
 */
async function coordinated(
  engine: Engine,
  input: OpenInput,
  signal: AbortSignal,
  hold: (p: Promise<unknown>) => void,
  fetchAndLearn: (signal: AbortSignal, hold: (p: Promise<unknown>) => void) => Promise<ReferenceOutcome>,
): Promise<ReferenceOutcome> {
  const lockKey = metadataKey(input.objectKey);
  const event = { requestId: input.requestId, url: input.url };
  const claim = await claimFill(engine.cache, lockKey, event, {
    read: async () => {
      const meta = await engine.metadata.load(input.objectKey, event);
      return meta !== undefined && meta.expiresAt > engine.deps.now() ? meta : undefined;
    },
    readWhileHeld: false, // the metadata lands before the reference slice: wait until both are stored
    waitMs: engine.deps.config.timeouts.coalesceMs,
    signal,
  });
  if (claim === 'own') return fetchAndLearn(signal, hold);
  if (claim !== 'claimed') return { kind: 'meta', meta: claim, seed: undefined };
  const writes: Promise<unknown>[] = [];
  try {
    return await fetchAndLearn(signal, (p) => {
      writes.push(p);
      hold(p);
    });
  } finally {
    hold(Promise.allSettled(writes).then(() => engine.cache.unlock(lockKey, event)));
  }
}

/** Turns the reference answer into metadata (saved with its slice) or a live response to pass through. */
async function learn(
  engine: Engine,
  input: OpenInput,
  result: ReferenceResult,
  index: number,
  hold: (p: Promise<unknown>) => void,
  stale?: ObjectMetadata,
): Promise<ReferenceOutcome> {
  const { deps } = engine;
  if (result.kind === 'pass' || result.kind === 'origin-status') {
    let claimed = false;
    // Nobody claims a live body when every waiter has gone: release its connection instead of leaking it.
    setImmediate(() => {
      if (!claimed) discardBody(result.response.body);
    });
    return {
      kind: 'live',
      result,
      claim: () => {
        if (claimed) return false;
        claimed = true;
        return true;
      },
    };
  }
  if (result.kind === 'unsatisfiable')
    return { kind: 'unsatisfiable', size: result.size, headers: result.headers };
  const meta =
    result.kind === 'empty'
      ? versionOf(
          engine,
          input,
          0,
          header(result.headers, 'etag'),
          header(result.headers, 'last-modified'),
          result.headers,
        )
      : versionOf(
          engine,
          input,
          result.facts.size,
          result.facts.etag,
          result.facts.lastModified,
          result.headers,
        );
  const previous = stale ?? engine.metadata.peek(input.objectKey);
  if (previous !== undefined && previous.validator !== meta.validator) {
    // R7: a new version retires the old one's slices.
    await engine.cache.purgeObject(input.objectKey, { requestId: input.requestId, url: input.url });
  }
  hold(engine.metadata.save(meta, { requestId: input.requestId, url: input.url }, sliceExpiry(deps)));
  if (result.kind === 'empty') return { kind: 'meta', meta, seed: undefined };
  if (meta.cacheable && engine.cache.enabled) {
    const key = sliceKey({
      objectKey: meta.objectKey,
      validator: meta.validator,
      sliceSize: deps.config.sliceSize,
      index,
    });
    const range = result.range;
    const entry = {
      kind: 'slice' as const,
      objectKey: meta.objectKey,
      validator: meta.validator,
      range,
      size: meta.size,
      expiresAt: sliceExpiry(deps),
    };
    const event = { requestId: input.requestId, url: input.url, index, range };
    hold(
      engine.cache
        .set(key, result.chunks, entry, event)
        .then((stored) => stored && deps.telemetry.onCacheStore({ ...event, bytes: rangeLength(range) })),
    );
  }
  return { kind: 'meta', meta, seed: { index, chunks: result.chunks } };
}

/** The metadata of one object version, from the reference's facts and headers (freshness per SPEC R7). */
function versionOf(
  engine: Engine,
  input: OpenInput,
  size: number,
  etag: string | undefined,
  lastModified: string | undefined,
  headers: HeaderRecord,
): ObjectMetadata {
  const { deps } = engine;
  const decision = cacheDecision(headers, deps.config.cachePolicy, deps.now(), input.authorized);
  return {
    objectKey: input.objectKey,
    size,
    etag,
    lastModified,
    validator: objectValidator({ etag, lastModified, size }),
    headers: keptHeaders(headers),
    cacheable: decision.store,
    expiresAt: decision.store ? deps.now() + decision.ttlMs : 0,
  };
}

/** The conditional headers that revalidate a stale version (RFC 9111 §4.3.1): its ETag, else its date. */
function revalidation(stale: ObjectMetadata): Record<string, string> {
  if (stale.etag !== undefined) return { 'if-none-match': stale.etag };
  if (stale.lastModified !== undefined) return { 'if-modified-since': stale.lastModified };
  return {};
}

/** A stale version the origin confirmed with 304: new freshness (from the 304's headers), same slices. */
function renew(
  engine: Engine,
  input: OpenInput,
  stale: ObjectMetadata,
  headers: HeaderRecord,
  hold: (p: Promise<unknown>) => void,
): ObjectMetadata {
  const { deps } = engine;
  // RFC 9111 §4.3.4: the 304's header fields update the stored ones.
  const merged = { ...stale.headers, ...keptHeaders(headers) };
  const decision = cacheDecision(merged, deps.config.cachePolicy, deps.now(), input.authorized);
  const meta: ObjectMetadata = {
    ...stale,
    headers: merged,
    cacheable: decision.store,
    expiresAt: decision.store ? deps.now() + decision.ttlMs : 0,
  };
  hold(engine.metadata.save(meta, { requestId: input.requestId, url: input.url }, sliceExpiry(deps)));
  return meta;
}

/** Bytes the request will read, for the admission rule (the whole object when unknown or ignored). */
function wantedBytes(parsed: ParsedRange | undefined, size: number): number {
  const resolved = parsed === undefined ? undefined : resolveRange(parsed, size);
  if (resolved?.type !== 'satisfiable') return size;
  return resolved.ranges.reduce((total, range) => total + rangeLength(range), 0);
}

function referenceIndex(parsed: ParsedRange, sliceSize: number): number {
  if (parsed.type !== 'specs' || parsed.specs.length !== 1) return 0;
  const spec = parsed.specs[0];
  if (spec === undefined || !('first' in spec) || !Number.isSafeInteger(spec.first)) return 0;
  return sliceIndexAt(spec.first, sliceSize);
}

/**
 * Streams a response the engine does not slice (R14), or an origin error status (P15), unchanged. When the
 * reference 206 could not be used (no total length, or encoded), the client's own request is sent as it is.
 */
async function passThrough(engine: Engine, input: OpenInput, result: LiveResult): Promise<SliceResult> {
  let response = result.response;
  if (result.kind === 'pass' && result.reason !== 'range-ignored') {
    discardBody(response.body);
    const headers: Record<string, string> = { ...input.forward };
    if (input.range !== undefined) headers.range = input.range;
    response = await engine.deps.transport.request({
      url: input.url,
      method: input.method,
      headers,
      signal: input.signal,
    });
  }
  const headers = passHeaders(response.headers);
  const outcome: RequestOutcome = result.kind === 'pass' ? 'pass' : 'error';
  if (input.method === 'HEAD') {
    discardBody(response.body);
    return { status: response.status, headers, body: undefined, cacheStatus: () => 'PASS', outcome };
  }
  const body = new PieceStream(bytesSource(response.body));
  return { status: response.status, headers, body, cacheStatus: () => 'PASS', outcome };
}

function bytesSource(body: Readable): PieceSource {
  const iterator = body[Symbol.asyncIterator]();
  return {
    next: async () => {
      const { value, done } = await iterator.next();
      return done === true ? null : [value as Uint8Array];
    },
    cancel: () => {
      discardBody(body);
    },
  };
}

/** A reader that, when the object changes mid-body, purges the old version so the next request heals (R11). */
function guarded(engine: Engine, input: OpenInput, reader: SliceReader): PieceSource {
  let pieces = 0;
  return {
    next: async () => {
      try {
        const piece = await reader.next();
        pieces++;
        return piece;
      } catch (error) {
        if (pieces > 0 && error instanceof SliceFetchError && error.code === 'ERR_SLICE_VERSION_CHANGED')
          await forgetObject(engine, input);
        throw error;
      }
    },
    cancel: (error) => reader.cancel(error instanceof SliceFetchError ? error : undefined),
  };
}

async function forgetObject(engine: Engine, input: OpenInput): Promise<void> {
  engine.metadata.forget(input.objectKey);
  // A reference fetch still held open (its slices' cache writes) would hand the old version to the next caller.
  const prefix = `${input.objectKey}#`;
  engine.references.forget((key) => key.startsWith(prefix));
  await engine.cache.purgeObject(input.objectKey, { requestId: input.requestId, url: input.url });
}

function responseHeaders(meta: ObjectMetadata): Record<string, string> {
  const headers: Record<string, string> = { ...meta.headers, 'accept-ranges': 'bytes' };
  if (headers['content-type'] === undefined) headers['content-type'] = 'application/octet-stream';
  if (meta.etag !== undefined) headers.etag = meta.etag;
  if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified;
  return headers;
}

/** RFC 9110 §15.4.5: a 304 carries the validators and caching headers a 200 would have, and no body. */
function notModifiedHeaders(meta: ObjectMetadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['cache-control', 'content-location', 'expires', 'vary']) {
    const value = meta.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  if (meta.etag !== undefined) headers.etag = meta.etag;
  if (meta.lastModified !== undefined) headers['last-modified'] = meta.lastModified;
  return headers;
}

function unsatisfiable(size: number, base: Record<string, string>): SliceResult {
  const headers: Record<string, string> = {
    ...base,
    'content-range': formatUnsatisfiedRange(size),
    'content-length': '0',
  };
  delete headers['content-type'];
  return bodiless(416, headers, 'not-satisfiable');
}

function bodiless(status: number, headers: Record<string, string>, outcome: RequestOutcome): SliceResult {
  return { status, headers, body: undefined, cacheStatus: () => 'HIT', outcome };
}

function passHeaders(headers: HeaderRecord): Record<string, string> {
  const out = keptHeaders(headers);
  for (const name of ['content-length', 'content-range', 'content-encoding', 'accept-ranges']) {
    const value = header(headers, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function header(headers: HeaderRecord, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : value?.[0];
}
