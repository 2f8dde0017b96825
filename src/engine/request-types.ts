/**
 * The types one request travels through the engine with: the shared parts of a fetcher ({@link Engine}), a
 * request as the engine sees it ({@link OpenInput}), what a reference fetch announces ({@link ReferenceHead}),
 * and the response head with its streaming body ({@link SliceResult}).
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import type { HeaderRecord } from '../core/headers.js';
import type { Vary } from '../core/scope.js';
import type { RequestOutcome } from '../ports.js';
import type { ByteBudget } from './byte-budget.js';
import type { CacheGate } from './cache-gate.js';
import type { MetadataCache, ObjectMetadata } from './metadata.js';
import type { ObjectFence } from './object-fence.js';
import type { OriginDeps, ReferenceResult } from './origin-fetch.js';
import type { PieceStream } from './piece-stream.js';
import type { ReadBufferPool } from './read-buffer-pool.js';
import type { RedirectMode } from './redirects.js';
import type { SingleFlight } from './single-flight.js';
import type { SliceValue } from './slice-fill.js';

/** The shared parts of a fetcher a request runs on. */
export interface Engine {
  readonly deps: OriginDeps;
  readonly cache: CacheGate;
  readonly metadata: MetadataCache;
  /**
   * Every fill in flight, in one namespace: slice fills under their slice keys, reference fetches under their
   * reference keys until their head names the version (then under the slice key too).
   */
  readonly fills: SingleFlight<SliceValue | undefined, ReferenceHead>;
  /** Purge generations: no fill writes to the store after a purge of its object. */
  readonly fence: ObjectFence;
  /** The global budget of slice bytes held by responses. */
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
  /** The request carries `Authorization` or `Cookie` (R15: not stored unless the origin or the policy allow). */
  readonly authorized: boolean;
  /**
   * The credential scope the request starts in (R19, `core/scope.ts`): shared (`''`) when it carries no
   * credential or `cachePolicy.cacheAuthorized` declares credentials shareable.
   */
  readonly base: string;
  /** The credential scope ignoring `cacheAuthorized`: an answer that may not be stored stays within it. */
  readonly identity: string;
  readonly signal: AbortSignal;
  /** What a redirect of the object does (`redirects.ts`): followed, handed back, or an error. */
  readonly redirect: RedirectMode;
  /**
   * The consumer gives every piece back with {@link SliceResult.release} once it is done with its bytes, so
   * store hits may read into pooled memory.
   */
  readonly recycle?: boolean;
}

/**
 * How a response was served (R19): `HIT` cost no origin request, `MISS` took every byte from the origin,
 * `PARTIAL` both, `REVALIDATED` was served from the store after the origin confirmed the stored version
 * (a 304 to a conditional request), `PASS` was not sliced.
 */
export type CacheStatus = 'HIT' | 'MISS' | 'PARTIAL' | 'REVALIDATED' | 'PASS';

/** What a reference fetch announces as soon as the origin's head is in. */
export type ReferenceHead =
  /** A sliceable version: its reference slice's bytes follow as the fill's value. */
  | {
      readonly kind: 'sliced';
      readonly meta: ObjectMetadata;
      /** `Set-Cookie` of the answer, for the one request that asked for it when nothing is shared. */
      readonly setCookie: string | readonly string[] | undefined;
    }
  /** A version known without a slice to follow: an empty object, or a stale one the origin confirmed (304). */
  | {
      readonly kind: 'meta';
      readonly meta: ObjectMetadata;
      readonly revalidated: boolean;
      /** `false` when another process sharing the store learnt it (R16). */
      readonly fromOrigin: boolean;
    }
  /** A 416: the size, shared only within the scope (variant, credential) of the request that got it. */
  | {
      readonly kind: 'unsatisfiable';
      readonly size: number;
      readonly headers: HeaderRecord;
      readonly vary: Vary;
      readonly scope: string;
    }
  /** An answer streamed to one client as it is (R14, P15); the first to `claim` it gets it. */
  | { readonly kind: 'live'; readonly result: LiveResult; readonly url: string; claim(): boolean };

/** A reference answer whose body is streamed to the client as it is. */
export type LiveResult = Extract<ReferenceResult, { kind: 'pass' | 'origin-status' }>;

/** The response head and a streaming body. */
export interface SliceResult {
  readonly status: number;
  /** Response headers, lower-case names; `set-cookie` may hold several values. */
  readonly headers: Record<string, string | readonly string[]>;
  /** Object-mode stream of pieces (arrays of chunks); `undefined` when the response has no body. */
  readonly body: PieceStream | undefined;
  /**
   * The whole body, already in memory (an answer from memory, `answer-from-memory.ts`): a writer that finds it
   * writes these pieces at once and never touches `body`, which is then only made if read. The request counts as
   * ended when they are handed over.
   */
  readonly pieces?: readonly Chunks[] | undefined;
  /** The `x-slice-cache` value, decided when the head is sent (see the README for how). */
  readonly cacheStatus: CacheStatus;
  /** What the request ended as, for metrics: read when the body ended, it counts every slice's source. */
  readonly outcome: RequestOutcome;
  /**
   * Gives a piece's memory back for reuse once its bytes are consumed (written to a socket). Only for requests
   * opened with `recycle`; call it at most once per piece and never touch the piece afterwards.
   */
  readonly release?: (piece: Chunks) => void;
}
