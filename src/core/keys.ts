/**
 * Cache keys (R7, P12): the normalised object key, the object's validator, and the fixed-length hashed keys
 * slices and metadata are stored under. A slice key binds the object key, the validator, the slice size, the
 * sharing scope, the purge generation and the slice index, so slices of two versions never mix, changing the
 * slice size never serves wrong bytes, and a purged generation's keys are never asked for again (P27).
 *
 * Keys are SHA-256 based (node:crypto), not a faster non-cryptographic hash: a URL is chosen by whoever sends
 * the request, and a collision would serve one object's bytes as another's. Every key of one object starts
 * with the same 32-hex prefix, so a store can find all of an object's entries (every version and sharing
 * scope) by prefix, and the keys are safe as file names and Redis keys whatever the URL length.
 *
 * @module
 */

import { hash } from 'node:crypto';
import { SliceFetchError } from './errors.js';

/**
 * The normalised object key of `url`: WHATWG URL parsing (scheme and host lowercased, default port dropped,
 * dot-segments resolved), then RFC 3986 §6.2.2 normalisation of the path's percent-encodings (hex digits
 * upper-cased, unreserved characters decoded). The query is kept as is (origins may give its encoding
 * meaning); the fragment is dropped (it never reaches the origin, RFC 9110 §4.2.4).
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` with status 400 when `url` is not an absolute http(s) URL.
 * @example
 * ```ts
 * normalizeObjectUrl('HTTP://Example.COM:80/a/../%7euser/x%2fy?q=1#f'); // 'http://example.com/~user/x%2Fy?q=1'
 * ```
 */
export function normalizeObjectUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw invalidUrl(url, cause);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidUrl(url, undefined);
  parsed.hash = '';
  const path = parsed.pathname;
  // WHATWG already treats `%2e` segments as dot-segments and removes them, so decoding can create none.
  if (path.includes('%')) parsed.pathname = path.replace(PERCENT_ENCODED, normalizePercent);
  return parsed.href;
}

/**
 * The object's validator, as bound into slice keys: an ETag, strong or weak → `etag:<value>`; else
 * Last-Modified and size → `lm:<value> size:<n>`; else `size:<n>`. A weak ETag (`W/"…"`) cannot be used in `If-Match` (RFC 9110
 * §8.8.3.2 asks for the strong comparison there, see {@link strongEtag}), but it still names a version: two
 * versions of the same size with tags `W/"v1"` and `W/"v2"` must not share slice keys (R19).
 *
 * @example
 * ```ts
 * objectValidator({ etag: '"abc"', size: 10 });                                  // 'etag:"abc"'
 * objectValidator({ etag: 'W/"abc"', lastModified: 'Tue, 01 Jul 2025 00:00:00 GMT', size: 10 }); // 'etag:W/"abc"'
 * objectValidator({ lastModified: 'Tue, 01 Jul 2025 00:00:00 GMT', size: 10 }); // 'lm:Tue, … size:10'
 * objectValidator({ size: 10 });                                                 // 'size:10'
 * ```
 */
export function objectValidator(meta: {
  readonly etag?: string | undefined;
  readonly lastModified?: string | undefined;
  readonly size: number;
}): string {
  const etag = meta.etag?.trim();
  if (etag !== undefined && etag !== '') return `etag:${etag}`;
  const lastModified = meta.lastModified?.trim();
  // A date has a one-second grain: two versions of one second are told apart by their size at least.
  if (lastModified !== undefined && lastModified !== '') return `lm:${lastModified} size:${meta.size}`;
  return `size:${meta.size}`;
}

/**
 * The ETag when it is strong — usable in `If-Match` and `If-Range` (RFC 9110 §8.8.3.2) — else `undefined`.
 * `W/` is case-sensitive in RFC 9110's grammar, but a lower-case `w/` counts as weak too: taking a weak tag
 * for a strong one could accept bytes of another version, the opposite mistake only costs a condition.
 *
 * @example
 * ```ts
 * strongEtag('"v1"'); // '"v1"'
 * strongEtag('W/"v1"'); // undefined
 * ```
 */
export function strongEtag(etag: string | undefined): string | undefined {
  const tag = etag?.trim();
  if (tag === undefined || tag === '' || tag.startsWith('W/') || tag.startsWith('w/')) return undefined;
  return tag;
}

/**
 * The stable, fixed-length (32 lowercase hex) prefix shared by every key of one object.
 *
 * @example
 * ```ts
 * objectKeyPrefix('http://example.com/video.mp4'); // 32 hex characters
 * ```
 */
export function objectKeyPrefix(objectKey: string): string {
  return sha256Hex(objectKey).slice(0, HASH_CHARS);
}

/**
 * The SHA-256 of `text` in lowercase hex. A string with an unpaired surrogate (possible from a user's
 * `cacheKey` function) is hashed as a marker byte and its UTF-16 code units, since UTF-8 would turn every
 * unpaired surrogate into U+FFFD and make two different keys equal; `0xff` never occurs in UTF-8, so the two
 * encodings cannot meet.
 *
 * @example
 * ```ts
 * sha256Hex('abc'); // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 * ```
 */
export function sha256Hex(text: string): string {
  if (text.isWellFormed()) return hash('sha256', text, 'hex');
  return hash('sha256', Buffer.concat([ILL_FORMED, Buffer.from(text, 'utf16le')]), 'hex');
}

/** What names one version of an object as seen by one sharing scope: the input of {@link sliceKeys}. */
export interface VersionParts {
  /** The normalised object key. */
  readonly objectKey: string;
  /** The version's {@link objectValidator}. */
  readonly validator: string;
  /** Bytes per slice. */
  readonly sliceSize: number;
  /**
   * The sharing scope (`core/scope.ts`): `''` for what every client may share; otherwise slices of one
   * credential or one `Vary` variant get keys of their own (R19).
   * @default ''
   */
  readonly scope?: string;
  /**
   * The object's purge generation (`CacheStorage.generation`): keys of another generation never meet these.
   * `''` (never purged, or a store without generations) adds nothing, so such keys are those of earlier
   * versions of this library.
   * @default ''
   */
  readonly generation?: string;
}

/**
 * The key of one slice: `<prefix>.<32 hex>`, 65 characters. The second hash covers the version digest (a
 * SHA-256 of an unambiguous, length-prefixed encoding of object key, validator, slice size and, when not
 * shared by everyone, the sharing scope) and the index.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `sliceSize` or `index` is not a non-negative safe integer.
 * @example
 * ```ts
 * sliceKey({ objectKey: 'http://example.com/video.mp4', validator: 'etag:"abc"', sliceSize: 1 << 20, index: 3 });
 * ```
 */
export function sliceKey(parts: VersionParts & { readonly index: number }): string {
  return sliceKeys(parts)(parts.index);
}

/**
 * The slice keys of one object version as a function of the index: the object prefix and the version digest
 * are hashed once, so each further key costs one short hash (the engine asks for one key per slice).
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `sliceSize` (or later an `index`) is not a valid integer.
 * @example
 * ```ts
 * const keyOf = sliceKeys({ objectKey: 'http://example.com/v.mp4', validator: 'etag:"abc"', sliceSize: 1 << 20 });
 * keyOf(0) === sliceKey({ objectKey: 'http://example.com/v.mp4', validator: 'etag:"abc"', sliceSize: 1 << 20, index: 0 }); // true
 * ```
 */
export function sliceKeys(parts: VersionParts): (index: number) => string {
  const { objectKey, validator, sliceSize, scope = '', generation = '' } = parts;
  if (!Number.isSafeInteger(sliceSize) || sliceSize < 1) throw badKeyPart(sliceSize, 0);
  // Length prefixes make the encoding injective: no choice of '|' or ':' inside a field can shift a boundary.
  // The shared scope and generation '' add nothing, so those keys are the ones earlier versions made.
  const scoped = scope === '' ? '' : `|scope ${scope.length}:${scope}`;
  const generated = generation === '' ? '' : `|gen ${generation.length}:${generation}`;
  const version = sha256Hex(
    `${objectKey.length}:${objectKey}|${validator.length}:${validator}|${sliceSize}${scoped}${generated}`,
  );
  const prefix = objectKeyPrefix(objectKey);
  return (index) => {
    if (!Number.isSafeInteger(index) || index < 0) throw badKeyPart(sliceSize, index);
    return `${prefix}.${sha256Hex(`${version}|${index}`).slice(0, HASH_CHARS)}`;
  };
}

/**
 * The key of an object's metadata entry in one sharing scope and purge generation: `<prefix>.meta` for the
 * shared scope in generation `''` — it can never equal a slice key, which carries 32 hex digits after the
 * dot — and `<prefix>.<32 hex>` for any other, hashed from a `meta`-tagged encoding no slice key's input can
 * produce.
 *
 * @example
 * ```ts
 * metadataKey('http://example.com/video.mp4'); // '<32 hex>.meta'
 * metadataKey('http://example.com/video.mp4', 'cred:…'); // '<32 hex>.<32 hex>'
 * metadataKey('http://example.com/video.mp4', '', '5f0c…'); // '<32 hex>.<32 hex>', after a purge
 * ```
 */
export function metadataKey(objectKey: string, scope = '', generation = ''): string {
  const prefix = objectKeyPrefix(objectKey);
  if (scope === '' && generation === '') return `${prefix}.meta`;
  const generated = generation === '' ? '' : `|gen ${generation.length}:${generation}`;
  const digest = sha256Hex(`meta|${objectKey.length}:${objectKey}|${scope.length}:${scope}${generated}`);
  return `${prefix}.${digest.slice(0, HASH_CHARS)}`;
}

// ---- module-private helpers ------------------------------------------------------------------------------

/** Hex characters kept from a SHA-256 digest: 128 bits, far beyond any cache's entry count. */
const HASH_CHARS = 32;

/** Marks the UTF-16 encoding of a string that UTF-8 cannot represent (see {@link sha256Hex}). */
const ILL_FORMED = Buffer.from([0xff]);

const PERCENT_ENCODED = /%([0-9a-fA-F]{2})/g;

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function normalizePercent(_match: string, hex: string): string {
  const char = String.fromCharCode(Number.parseInt(hex, 16));
  return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
}

function badKeyPart(sliceSize: number, index: number): SliceFetchError {
  return new SliceFetchError(
    'ERR_SLICE_CONFIG',
    `Expected \`sliceSize\` ≥ 1 and \`index\` ≥ 0 to be integers, got \`${sliceSize}\` and \`${index}\`.`,
    { paths: ['sliceSize', 'index'] },
  );
}

function invalidUrl(url: string | URL, cause: unknown): SliceFetchError {
  const text = String(url);
  const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return new SliceFetchError(
    'ERR_SLICE_CONFIG',
    `Expected \`url\` to be an absolute http(s) URL, got \`${shown}\`.`,
    {
      url: text,
      status: 400,
      cause,
    },
  );
}
