/**
 * One version of an object as a sharing scope sees it (R3, R7, R19): its metadata built from a reference
 * answer's facts and headers — validator, kept headers, freshness, `Vary` and the scope its slices are keyed in —
 * a stale version renewed by a 304, and the preconditions that revalidate one.
 *
 * @module
 */
import { cacheDecision } from '../core/freshness.js';
import { type HeaderRecord, headerValue } from '../core/headers.js';
import { objectValidator } from '../core/keys.js';
import { type ParsedRange, rangeLength, resolveRange } from '../core/range.js';
import { parseVary, variantScope } from '../core/scope.js';
import { keptHeaders, type ObjectMetadata } from './metadata.js';
import type { Hop } from './redirects.js';
import type { Engine, OpenInput } from './request-types.js';

/** Bytes the request will read, for the admission rule (the whole object when unknown or ignored). */
export function wantedBytes(parsed: ParsedRange, size: number): number {
  const resolved = resolveRange(parsed, size);
  if (resolved.type !== 'satisfiable') return size;
  return resolved.ranges.reduce((total, range) => total + rangeLength(range), 0);
}

/** Marks the part of a scope that keeps a version nobody else may share to its one credential. */
const PRIVATE = 'private:';

/** The scope a version learnt for `input` gets: its variant, and its credential too when it may not be stored. */
export function scopeOf(meta: Pick<ObjectMetadata, 'vary' | 'cacheable'>, input: OpenInput): string {
  const variant = variantScope(input.base, meta.vary, input.forward, input.requestId);
  return meta.cacheable || input.identity === input.base ? variant : `${variant} ${PRIVATE}${input.identity}`;
}

/**
 * The metadata of one object version, from the reference's facts and headers (freshness per R7), in the
 * object's purge `generation` (P27).
 */
export function versionOf(
  engine: Engine,
  input: OpenInput,
  facts: {
    readonly size: number;
    readonly etag?: string | undefined;
    readonly lastModified?: string | undefined;
  },
  headers: HeaderRecord,
  hop: Hop,
  generation: string,
): ObjectMetadata {
  const { size, etag, lastModified } = facts;
  const { deps } = engine;
  const vary = parseVary(headerValue(headers, 'vary'));
  const decision = cacheDecision(headers, deps.config.cachePolicy, deps.now(), input.authorized);
  // R19: Vary: * names something outside the request; such an answer is never shared, so never stored.
  const ttlMs = decision.store && vary !== '*' ? decision.ttlMs : undefined;
  const cacheable = ttlMs !== undefined;
  const partial = { vary, cacheable };
  return {
    objectKey: input.objectKey,
    size,
    etag,
    lastModified,
    validator: objectValidator({ etag, lastModified, size }),
    headers: keptHeaders(headers),
    cacheable,
    expiresAt: ttlMs === undefined ? 0 : deps.now() + ttlMs,
    base: input.base,
    vary,
    scope: scopeOf(partial, input),
    ...(hop.url === input.url ? {} : { location: hop.url }),
    ...(hop.withoutCredentials ? { withoutCredentials: true } : {}),
    generation,
  };
}

/** The conditional headers that revalidate a stale version (RFC 9111 §4.3.1): its ETag, else its date. */
export function revalidation(stale: ObjectMetadata): Record<string, string> {
  if (stale.etag !== undefined) return { 'if-none-match': stale.etag };
  if (stale.lastModified !== undefined) return { 'if-modified-since': stale.lastModified };
  return {};
}

/** A stale version the origin confirmed with 304: new freshness (from the 304's headers), same slices. */
export function renewed(
  engine: Engine,
  input: OpenInput,
  stale: ObjectMetadata,
  headers: HeaderRecord,
): ObjectMetadata {
  const { deps } = engine;
  // RFC 9111 §4.3.4: the 304's header fields update the stored ones.
  const merged = { ...stale.headers, ...keptHeaders(headers) };
  const decision = cacheDecision(merged, deps.config.cachePolicy, deps.now(), input.authorized);
  const cacheable = decision.store && stale.vary !== '*';
  return {
    ...stale,
    headers: merged,
    cacheable,
    expiresAt: decision.store && cacheable ? deps.now() + decision.ttlMs : 0,
    // A 304 may take the right to store away, and with it the right to share: the scope follows.
    scope: scopeOf({ vary: stale.vary, cacheable }, input),
  };
}
