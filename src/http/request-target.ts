/**
 * Where a request may go (R15): the origin URL is the configured upstream plus the request's path and query
 * only — never the authority of an absolute-form target nor the `Host` header — and a path with a `..` segment
 * (plain or percent-encoded) is refused instead of being resolved. Also the include/exclude patterns (R2),
 * compiled once. Which headers a request may carry is `core/headers.ts`'s business.
 *
 * @module
 */
import { SliceFetchError } from '../core/errors.js';

/** The upstream, parsed once: `origin` plus a base path without a trailing slash (`''` for `/`). */
export interface Upstream {
  /** `http://host:port`. */
  readonly origin: string;
  /** A path prefix every request path is appended to, e.g. `/static`; `''` when the upstream is a bare origin. */
  readonly basePath: string;
}

/**
 * Parses the `upstream` option.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when it is not an absolute http(s) URL without query or fragment.
 * @example
 * ```ts
 * parseUpstream('http://127.0.0.1:8080/static/'); // { origin: 'http://127.0.0.1:8080', basePath: '/static' }
 * ```
 */
export function parseUpstream(upstream: string): Upstream {
  let url: URL | undefined;
  try {
    url = new URL(upstream);
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected \`upstream\` to be an absolute http(s) URL without query or fragment, got \`${upstream}\`.`,
      { paths: ['upstream'] },
    );
  }
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

/**
 * The path and query of a request target, or `undefined` when the target must be refused (400). Origin-form
 * (`/a?b`) is taken as it is; absolute-form (`http://elsewhere/a?b`, RFC 9112 §3.2.2) keeps only its path and
 * query, so it can never steer the fetch to another host; asterisk and authority forms are refused, and so is
 * any path with a `..` segment — also as `%2e%2e`, `.%2E` or behind a backslash — because a URL parser would
 * resolve it above the upstream's base path.
 *
 * @example
 * ```ts
 * targetPath('http://evil.example/a.bin?x=1'); // '/a.bin?x=1'
 * targetPath('/files/%2e%2e/secret'); // undefined
 * ```
 */
export function targetPath(target: string | undefined): string | undefined {
  if (target === undefined || target === '') return undefined;
  let path = target;
  if (path.charCodeAt(0) !== SLASH) {
    const absolute = ABSOLUTE_FORM.exec(path);
    if (absolute === null) return undefined;
    const rest = absolute[1] ?? '';
    path = rest.charCodeAt(0) === SLASH ? rest : `/${rest}`;
  }
  const hash = path.indexOf('#');
  if (hash !== -1) path = path.slice(0, hash);
  const query = path.indexOf('?');
  const pathname = query === -1 ? path : path.slice(0, query);
  // Fast path: a `..` segment has two dots in a row, or a `%2e` among them — without either, none can hide
  // in the path (whatever separates its segments).
  if ((pathname.includes('..') || pathname.includes('%')) && hasDotDotSegment(pathname)) return undefined;
  return path;
}

/**
 * The origin URL for a path from {@link targetPath}: always on the upstream's origin, under its base path.
 *
 * @example
 * ```ts
 * originUrl(parseUpstream('http://127.0.0.1:8080/static'), '/a.bin'); // 'http://127.0.0.1:8080/static/a.bin'
 * ```
 */
export function originUrl(upstream: Upstream, path: string): string {
  // Concatenated after the authority, so even `//evil/x` stays a path on the upstream host.
  return `${upstream.origin}${upstream.basePath}${path}`;
}

/**
 * {@link originUrl} for one upstream, remembering the URL of each (short) path: a path asked for again gets the
 * very string it got before, whose hash V8 keeps — the engine's lookups by URL then neither build, flatten nor
 * hash a new string per request (design.md "Per-request costs"). Bounded: at most 2048 paths of 512 characters.
 *
 * @example
 * ```ts
 * const urlOf = originUrls(parseUpstream('http://127.0.0.1:8080'));
 * urlOf('/a.bin') === urlOf('/a.bin'); // true, one string
 * ```
 */
export function originUrls(upstream: Upstream): (path: string) => string {
  const urls = new Map<string, string>();
  return (path) => {
    let url = urls.get(path);
    if (url === undefined) {
      url = originUrl(upstream, path);
      if (path.length > MAX_REMEMBERED_PATH) return url;
      if (urls.size >= MAX_URLS) urls.clear();
      urls.set(path, url);
    }
    return url;
  };
}

/**
 * Compiles include/exclude patterns once, at creation (R2). Strings are regular-expression sources.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` naming the option and index of an invalid pattern.
 * @example
 * ```ts
 * compilePatterns(['\\.iso$', /^\/big\//], 'include'); // [/\.iso$/, /^\/big\//]
 * ```
 */
export function compilePatterns(
  patterns: readonly (string | RegExp)[] | undefined,
  option: 'include' | 'exclude',
): readonly RegExp[] {
  if (patterns === undefined) return [];
  return patterns.map((pattern, i) => {
    if (pattern instanceof RegExp) {
      // A global or sticky RegExp keeps `lastIndex` between `test()` calls: copy it without those flags.
      return pattern.global || pattern.sticky
        ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
        : pattern;
    }
    try {
      return new RegExp(pattern);
    } catch (error) {
      throw new SliceFetchError(
        'ERR_SLICE_CONFIG',
        `Expected \`${option}[${i}]\` to be a valid regular expression, got \`${String(pattern)}\`.`,
        { paths: [`${option}.${i}`], cause: error },
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------------------

const SLASH = 0x2f;
/** Paths whose origin URL {@link originUrls} remembers, at most, and the longest it remembers. */
const MAX_URLS = 2048;
const MAX_REMEMBERED_PATH = 512;
/** `scheme://authority` then the rest (path, query) — the authority is dropped. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/is;

/**
 * Whether a segment is `..` once `%2e` is read as `.` (WHATWG URL does the same). Segments are split on `/`,
 * `\` and their encodings `%2f`/`%5c` too, because some origins decode those before resolving the path.
 */
function hasDotDotSegment(pathname: string): boolean {
  for (const segment of pathname.split(/\/|\\|%2f|%5c/i)) {
    if (segment.length < 2 || segment.length > 6) continue;
    if (segment.replace(/%2e/gi, '.') === '..') return true;
  }
  return false;
}
