/**
 * Object metadata learnt from the reference slice (SPEC R3): size, validators, content type and the origin's
 * end-to-end headers, with freshness. Kept in a small in-process LRU in front of the slice store, so a full
 * cache hit costs zero origin requests while fresh and a fleet sharing one store shares it too.
 *
 * @module
 */
import { LRUCache } from 'lru-cache';
import type { SliceFetchConfig } from '../core/config.js';
import type { HeaderRecord } from '../core/headers.js';
import { connectionTokens, HOP_BY_HOP, headerValue } from '../core/headers.js';
import { metadataKey } from '../core/keys.js';
import type { RequestEventBase } from '../ports.js';
import type { CacheGate } from './cache-gate.js';

/** What the engine knows about one version of an object. */
export interface ObjectMetadata {
  /** The normalised object key. */
  readonly objectKey: string;
  /** Total size in bytes. */
  readonly size: number;
  /** The ETag, verbatim (strong or weak), if the origin sent one. */
  readonly etag: string | undefined;
  /** Last-Modified, verbatim. */
  readonly lastModified: string | undefined;
  /** The version's validator for slice keys (strong ETag, else Last-Modified, else size). */
  readonly validator: string;
  /** End-to-end origin headers to repeat on responses (lower-case names; no framing or range headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the slices of this object may be stored (Cache-Control, Authorization rules). */
  readonly cacheable: boolean;
  /** When the metadata stops being fresh, ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * Picks the response headers worth repeating on every response built from slices: everything end-to-end
 * except framing (length, range, encoding) and hop-by-hop fields (RFC 9110 §7.6.1).
 */
export function keptHeaders(headers: HeaderRecord): Record<string, string> {
  const kept: Record<string, string> = {};
  const listed = connectionTokens(headers.connection);
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || NOT_KEPT.has(name) || listed.has(name)) continue;
    const value = headerValue(headers, name);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/**
 * When a stored slice expires. Slices are immutable — the version's validator is part of their key — so they
 * outlive the metadata's freshness: a stale object revalidated with a 304 keeps all its slices (SPEC R7).
 * `cachePolicy.maxTtlMs` bounds how long they are kept; the store's byte budget evicts them sooner.
 */
export function sliceExpiry(deps: { readonly config: SliceFetchConfig; readonly now: () => number }): number {
  return deps.now() + deps.config.cachePolicy.maxTtlMs;
}

/** The in-process LRU of metadata in front of the slice store. */
export class MetadataCache {
  readonly #lru = new LRUCache<string, ObjectMetadata>({ max: 10_000 });
  readonly #store: CacheGate;

  constructor(store: CacheGate) {
    this.#store = store;
  }

  /** The metadata held in memory (fresh or not), without touching the store. */
  peek(objectKey: string): ObjectMetadata | undefined {
    return this.#lru.get(objectKey);
  }

  /** Reads from memory, else from the store (fail-open: a store failure is a miss). */
  async load(objectKey: string, event: RequestEventBase): Promise<ObjectMetadata | undefined> {
    const inMemory = this.#lru.get(objectKey);
    if (inMemory !== undefined || !this.#store.enabled) return inMemory;
    const chunks = await this.#store.get(metadataKey(objectKey), undefined, event);
    if (chunks === undefined) return undefined;
    const parsed = decode(chunks, objectKey);
    if (parsed !== undefined) this.#lru.set(objectKey, parsed);
    return parsed;
  }

  /**
   * Remembers `meta` in memory and writes it to the store until `retainUntil` — past its freshness, so a stale
   * version can still be revalidated with a conditional request. The write never rejects.
   */
  save(meta: ObjectMetadata, event: RequestEventBase, retainUntil: number): Promise<boolean> {
    this.#lru.set(meta.objectKey, meta);
    if (!meta.cacheable) return Promise.resolve(false);
    const bytes = Buffer.from(JSON.stringify(meta), 'utf8');
    const entry = {
      kind: 'metadata' as const,
      objectKey: meta.objectKey,
      validator: meta.validator,
      range: { start: 0, end: Math.max(meta.size - 1, 0) },
      size: meta.size,
      expiresAt: Math.max(meta.expiresAt, retainUntil),
    };
    return this.#store.set(metadataKey(meta.objectKey), [bytes], entry, event);
  }

  /** Forgets the in-memory copy. */
  forget(objectKey: string): void {
    this.#lru.delete(objectKey);
  }

  /** Forgets everything in memory. */
  clear(): void {
    this.#lru.clear();
  }
}

// ---------------------------------------------------------------------------------------------------------

/** Framing and per-response fields: each response built from slices sets its own. */
const NOT_KEPT = new Set([
  'content-length',
  'content-range',
  'content-encoding',
  'accept-ranges',
  'date',
  'age',
  'set-cookie',
]);

function decode(chunks: readonly Uint8Array[], objectKey: string): ObjectMetadata | undefined {
  try {
    const text = Buffer.concat(chunks).toString('utf8');
    const value = JSON.parse(text) as ObjectMetadata;
    // A store returning somebody else's document (or garbage) must not be trusted: fail to a miss.
    if (
      value.objectKey !== objectKey ||
      !Number.isSafeInteger(value.size) ||
      typeof value.validator !== 'string'
    )
      return undefined;
    return value;
  } catch {
    return undefined;
  }
}
