/**
 * Object metadata learnt from the reference slice (R3): size, validators, content type and the origin's
 * end-to-end headers, with freshness. Kept in a small in-process LRU in front of the slice store, so a full
 * cache hit costs zero origin requests while fresh and a fleet sharing one store shares it too.
 *
 * Metadata belongs to a sharing scope (R19, `core/scope.ts`). The entry of a request's credential scope is
 * read first; when it says the object varies (`Vary`), the request's own variant is read next — the usual
 * two-step lookup of an HTTP cache (RFC 9111 §4.1), so an object that does not vary costs one lookup.
 *
 * Metadata also belongs to a purge generation (P27): the store's generation of the object is read before its
 * metadata is (the key names it) and remembered with it, so only loading and learning ever ask the store.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { LRUCache } from 'lru-cache';
import * as z from 'zod/mini';
import type { SliceFetchConfig } from '../core/config-types.js';
import type { HeaderRecord } from '../core/headers.js';
import { connectionTokens, HOP_BY_HOP, headerValue, PER_RESPONSE_HEADERS } from '../core/headers.js';
import { metadataKey } from '../core/keys.js';
import { type Vary, variantScope } from '../core/scope.js';
import type { RequestEventBase } from '../ports.js';
import type { CacheGate } from './cache-gate.js';
import type { ObjectFence } from './object-fence.js';

/** What the engine knows about one version of an object, as one sharing scope sees it. */
export interface ObjectMetadata {
  /** The normalised object key. */
  readonly objectKey: string;
  /** Total size in bytes. */
  readonly size: number;
  /** The ETag, verbatim (strong or weak), if the origin sent one. */
  readonly etag: string | undefined;
  /** Last-Modified, verbatim. */
  readonly lastModified: string | undefined;
  /** The version's validator for slice keys (an ETag, else Last-Modified, else size). */
  readonly validator: string;
  /** End-to-end origin headers to repeat on responses (lower-case names; no framing or range headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the slices of this object may be stored (Cache-Control, Authorization rules). */
  readonly cacheable: boolean;
  /** When the metadata stops being fresh, ms since the epoch. */
  readonly expiresAt: number;
  /** The credential scope the metadata was learnt in (`''`: shared). */
  readonly base: string;
  /** The response's `Vary`. */
  readonly vary: Vary;
  /** The variant's scope: `base`, plus the values of the headers `vary` names; part of every slice key. */
  readonly scope: string;
  /** Where the slices are fetched from, when redirects led away from the URL asked for (`redirects.ts`). */
  readonly location?: string | undefined;
  /** Whether a redirect to another origin left the request's credentials behind. */
  readonly withoutCredentials?: boolean | undefined;
  /**
   * The object's purge generation when the version was learnt (`CacheStorage.generation`; `''` for a store
   * without generations): part of every key of the version, so a warm request reads no generation (P27).
   */
  readonly generation: string;
}

/**
 * Picks the response headers worth repeating on every response built from slices: everything end-to-end
 * except framing (length, range, encoding) and hop-by-hop fields (RFC 9110 §7.6.1).
 */
export function keptHeaders(headers: HeaderRecord): Record<string, string> {
  const kept: Record<string, string> = {};
  const listed = connectionTokens(headers.connection);
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || PER_RESPONSE_HEADERS.has(name) || listed.has(name)) continue;
    const value = headerValue(headers, name);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/**
 * When a stored slice expires. Slices are immutable — the version's validator is part of their key — so they
 * outlive the metadata's freshness: a stale object revalidated with a 304 keeps all its slices (R7).
 * `cachePolicy.maxTtlMs` bounds how long they are kept; the store's byte budget evicts them sooner.
 */
export function sliceExpiry(deps: { readonly config: SliceFetchConfig; readonly now: () => number }): number {
  return deps.now() + deps.config.cachePolicy.maxTtlMs;
}

/** The in-process LRU of metadata in front of the slice store. */
export class MetadataCache {
  /** Keyed `<objectKey> NUL <scope>`: each credential scope's latest entry, and each variant's. */
  readonly #lru = new LRUCache<string, ObjectMetadata>({ max: 10_000 });
  /** The purge generation each object's last load or learning read from the store. */
  readonly #generations = new LRUCache<string, string>({ max: 10_000 });
  readonly #store: CacheGate;
  readonly #fence: ObjectFence;

  /** `fence`: a store read that a purge overtakes is dropped, not remembered (P27). */
  constructor(store: CacheGate, fence: ObjectFence) {
    this.#store = store;
    this.#fence = fence;
  }

  /**
   * The metadata held in memory for `scope` (fresh or not), without touching the store: a credential scope's
   * latest entry, or one variant's.
   */
  peek(objectKey: string, scope: string): ObjectMetadata | undefined {
    return this.#lru.get(lruKey(objectKey, scope));
  }

  /**
   * The metadata of the variant a request with `headers` in credential scope `base` gets: from memory, else
   * from the store (fail-open: a store failure is a miss). `unique` names the request, for `Vary: *`.
   */
  async load(
    objectKey: string,
    base: string,
    headers: Readonly<Record<string, string>>,
    event: RequestEventBase,
  ): Promise<ObjectMetadata | undefined> {
    const latest = this.#lru.get(lruKey(objectKey, base)) ?? (await this.#read(objectKey, base, base, event));
    if (latest === undefined || latest.vary === '*') return undefined;
    const scope = variantScope(base, latest.vary, headers, event.requestId);
    if (scope === latest.scope) return latest;
    return this.#lru.get(lruKey(objectKey, scope)) ?? this.#read(objectKey, base, scope, event);
  }

  /**
   * The fresh metadata of the variant a request with `headers` in credential scope `base` gets, from memory
   * alone — the synchronous first step of {@link MetadataCache.load}, for the answer from memory.
   */
  peekFresh(
    objectKey: string,
    base: string,
    headers: Readonly<Record<string, string>>,
    requestId: string,
    now: number,
  ): ObjectMetadata | undefined {
    const latest = this.#lru.get(lruKey(objectKey, base));
    if (latest === undefined || latest.vary === '*') return undefined;
    const meta =
      latest.vary.length === 0
        ? latest
        : this.#lru.get(lruKey(objectKey, variantScope(base, latest.vary, headers, requestId)));
    return meta !== undefined && meta.expiresAt > now ? meta : undefined;
  }

  /**
   * Remembers `meta` in memory for the requests that come next in its scope — and, with `latest`, as the entry
   * its credential scope's lookups start from (not for an answer private to one credential within it).
   */
  remember(meta: ObjectMetadata, latest = true): void {
    if (latest) this.#lru.set(lruKey(meta.objectKey, meta.base), meta);
    if (meta.scope !== meta.base) this.#lru.set(lruKey(meta.objectKey, meta.scope), meta);
  }

  /**
   * Writes `meta` to the store until `retainUntil` — past its freshness, so a stale version can still be
   * revalidated with a conditional request — when it may be stored. Never rejects.
   */
  async persist(meta: ObjectMetadata, event: RequestEventBase, retainUntil: number): Promise<boolean> {
    if (!meta.cacheable || !this.#store.enabled) return false;
    const bytes = Buffer.from(JSON.stringify(meta), 'utf8');
    const entry = {
      kind: 'metadata' as const,
      objectKey: meta.objectKey,
      validator: meta.validator,
      range: { start: 0, end: Math.max(meta.size - 1, 0) },
      size: meta.size,
      expiresAt: Math.max(meta.expiresAt, retainUntil),
    };
    const { objectKey, base, scope, generation } = meta;
    const written = [this.#store.set(metadataKey(objectKey, base, generation), [bytes], entry, event)];
    if (scope !== base)
      written.push(this.#store.set(metadataKey(objectKey, scope, generation), [bytes], entry, event));
    return (await Promise.all(written)).every(Boolean);
  }

  /** Forgets the in-memory copies of `objectKey`, in every scope, and the generation they were read in. */
  forget(objectKey: string): void {
    this.#generations.delete(objectKey);
    this.#forgetVersions(objectKey);
  }

  /** Forgets everything in memory. */
  clear(): void {
    this.#lru.clear();
    this.#generations.clear();
  }

  /**
   * The object's purge generation (`CacheStorage.generation`): the one read last, unless `fresh` asks the
   * store again (a stale version about to be revalidated: a purge notice may have been lost). A store that
   * fails gives a generation of this call alone, whose keys nobody has written — a miss, never old bytes.
   */
  async generation(objectKey: string, event: RequestEventBase, fresh = false): Promise<string> {
    const known = fresh ? undefined : this.#generations.get(objectKey);
    if (known !== undefined) return known;
    const ticket = this.#fence.enter(objectKey);
    try {
      await this.#fence.settled(objectKey);
      const generation = await this.#store.generation(objectKey, event);
      if (generation === undefined) return `unknown ${randomUUID()}`;
      // A read a purge overtook may name the purged generation: used by this call, never remembered.
      if (!ticket.current) return generation;
      const previous = this.#generations.get(objectKey);
      this.#generations.set(objectKey, generation);
      // Purged elsewhere, and the notice was lost: what is held of the object in any scope is of the old one.
      if (previous !== undefined && previous !== generation) this.#forgetVersions(objectKey);
      return generation;
    } finally {
      ticket.leave();
    }
  }

  #forgetVersions(objectKey: string): void {
    const prefix = lruKey(objectKey, '');
    for (const key of [...this.#lru.keys()]) if (key.startsWith(prefix)) this.#lru.delete(key);
  }

  async #read(
    objectKey: string,
    base: string,
    scope: string,
    event: RequestEventBase,
  ): Promise<ObjectMetadata | undefined> {
    if (!this.#store.enabled) return undefined;
    const ticket = this.#fence.enter(objectKey);
    try {
      const generation = await this.generation(objectKey, event);
      const chunks = await this.#store.getMetadata(metadataKey(objectKey, scope, generation), event);
      const meta = chunks === undefined ? undefined : decode(chunks, objectKey, base, generation);
      // The latest entry of a scope may be any of its variants; a variant's entry must be that variant. A read
      // a purge overtook may bring the purged version back: it is dropped.
      if (meta === undefined || (scope !== base && meta.scope !== scope) || !ticket.current) return undefined;
      this.remember(meta);
      return meta;
    } finally {
      ticket.leave();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

function lruKey(objectKey: string, scope: string): string {
  return `${objectKey}\u0000${scope}`;
}

function decode(
  chunks: readonly Uint8Array[],
  objectKey: string,
  base: string,
  generation: string,
): ObjectMetadata | undefined {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
  // A store returning somebody else's document, an old one or garbage must not be trusted: fail to a miss. The
  // headers are checked as a response would check them, so a bad byte cannot make the answer itself throw.
  const parsed = STORED_METADATA.safeParse(json);
  const data = parsed.success ? parsed.data : undefined;
  if (data?.objectKey !== objectKey || data.base !== base || data.generation !== generation) return undefined;
  const { etag, lastModified, ...rest } = data;
  return { ...rest, etag, lastModified };
}

/** A header field Node would send: a token name and a value without CR, LF or NUL. */
function sendable(headers: Record<string, string>): boolean {
  try {
    for (const [name, value] of Object.entries(headers)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    }
    return true;
  } catch {
    return false;
  }
}

/** The stored form of {@link ObjectMetadata}; entries written before scopes existed were all shared. */
const STORED_METADATA = z.object({
  objectKey: z.string(),
  size: z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
  etag: z.optional(z.string()),
  lastModified: z.optional(z.string()),
  validator: z.string(),
  headers: z.record(z.string(), z.string()).check(z.refine(sendable)),
  cacheable: z.boolean(),
  expiresAt: z.number(),
  base: z._default(z.string(), ''),
  vary: z._default(z.union([z.literal('*'), z.array(z.string())]), []),
  scope: z._default(z.string(), ''),
  location: z.optional(z.url()),
  withoutCredentials: z.optional(z.boolean()),
  /** Entries written before purge generations existed belong to generation `''`. */
  generation: z._default(z.string(), ''),
});
