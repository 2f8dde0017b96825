/**
 * The one error type of slice-fetch: every failure the library raises is a {@link SliceFetchError} with a
 * stable {@link SliceFetchErrorCode}, the HTTP status a proxy should answer with, whether a retry may help,
 * and the original failure kept as `cause`.
 *
 * @module
 */

/**
 * The stable error codes. Codes never change meaning between versions; new ones may be added.
 *
 * - `ERR_SLICE_CONFIG` — an option is out of range or unknown (never retryable).
 * - `ERR_SLICE_RANGE` — a `Range` given to the API could not be parsed.
 * - `ERR_SLICE_RANGE_NOT_SATISFIABLE` — the range starts at or past the end of the object (416).
 * - `ERR_SLICE_CONTENT_RANGE` — an origin `Content-Range` header is missing or malformed.
 * - `ERR_SLICE_INVALID_RESPONSE` — a slice response broke a validation rule (status, range, encoding, length).
 * - `ERR_SLICE_VERSION_CHANGED` — the object changed (validator or total length) while a response was assembled.
 * - `ERR_SLICE_ORIGIN_STATUS` — the origin answered with an error status.
 * - `ERR_SLICE_NETWORK` — the connection failed, was reset, or the body ended early.
 * - `ERR_SLICE_TIMEOUT` — the origin did not answer (headers or body) in time.
 * - `ERR_SLICE_RETRIES_EXHAUSTED` — a slice failed on every allowed attempt or past its deadline.
 * - `ERR_SLICE_ABORTED` — the caller aborted.
 * - `ERR_SLICE_CACHE` — a cache store failed (the engine never lets it reach a client: it fails open).
 * - `ERR_SLICE_WINDOW` — the reorder buffer was asked to hold more than its window (a bug guard).
 * - `ERR_SLICE_TOO_LARGE` — the object is larger than `maxObjectSize`.
 * - `ERR_SLICE_CLOSED` — the fetcher was used after `close()`.
 */
export type SliceFetchErrorCode =
  | 'ERR_SLICE_CONFIG'
  | 'ERR_SLICE_RANGE'
  | 'ERR_SLICE_RANGE_NOT_SATISFIABLE'
  | 'ERR_SLICE_CONTENT_RANGE'
  | 'ERR_SLICE_INVALID_RESPONSE'
  | 'ERR_SLICE_VERSION_CHANGED'
  | 'ERR_SLICE_ORIGIN_STATUS'
  | 'ERR_SLICE_NETWORK'
  | 'ERR_SLICE_TIMEOUT'
  | 'ERR_SLICE_RETRIES_EXHAUSTED'
  | 'ERR_SLICE_ABORTED'
  | 'ERR_SLICE_CACHE'
  | 'ERR_SLICE_WINDOW'
  | 'ERR_SLICE_TOO_LARGE'
  | 'ERR_SLICE_CLOSED';

/** Structured facts attached to an error; every field is optional and only set when known. */
export interface SliceFetchErrorDetails {
  /** The object URL the failure concerns. */
  url?: string;
  /** The slice index, for a failure of one slice. */
  slice?: number;
  /** The byte range that was asked for, as `start-end` (inclusive). */
  range?: string;
  /** What the rule expected (e.g. `bytes 0-1048575/5000000`). */
  expected?: string;
  /** What actually came. */
  actual?: string;
  /** The origin's HTTP status, when one was received. */
  originStatus?: number;
  /** How many attempts were made before giving up. */
  attempts?: number;
  /** A delay the origin asked for through `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  /** Which configuration path was wrong, for `ERR_SLICE_CONFIG`. */
  paths?: readonly string[];
}

/** Options of the {@link SliceFetchError} constructor. */
export interface SliceFetchErrorOptions extends SliceFetchErrorDetails {
  /** The underlying failure. */
  cause?: unknown;
  /** Override the HTTP status derived from the code. */
  status?: number;
  /** Override whether a retry may help (derived from the code by default). */
  retryable?: boolean;
}

const BRAND = Symbol.for('slice-fetch.error');

/** The HTTP status a proxy answers with, per code, and whether retrying the same request may help. */
const CODE_TRAITS: Record<SliceFetchErrorCode, { status: number; retryable: boolean }> = {
  ERR_SLICE_CONFIG: { status: 500, retryable: false },
  ERR_SLICE_RANGE: { status: 400, retryable: false },
  ERR_SLICE_RANGE_NOT_SATISFIABLE: { status: 416, retryable: false },
  ERR_SLICE_CONTENT_RANGE: { status: 502, retryable: true },
  ERR_SLICE_INVALID_RESPONSE: { status: 502, retryable: true },
  ERR_SLICE_VERSION_CHANGED: { status: 502, retryable: false },
  ERR_SLICE_ORIGIN_STATUS: { status: 502, retryable: false },
  ERR_SLICE_NETWORK: { status: 502, retryable: true },
  ERR_SLICE_TIMEOUT: { status: 504, retryable: true },
  ERR_SLICE_RETRIES_EXHAUSTED: { status: 502, retryable: false },
  ERR_SLICE_ABORTED: { status: 499, retryable: false },
  ERR_SLICE_CACHE: { status: 500, retryable: false },
  ERR_SLICE_WINDOW: { status: 500, retryable: false },
  ERR_SLICE_TOO_LARGE: { status: 502, retryable: false },
  ERR_SLICE_CLOSED: { status: 503, retryable: false },
};

/**
 * The error every slice-fetch failure is raised as.
 *
 * @example
 * ```ts
 * try {
 *   await sliceFetch('https://cdn.example.com/video.mp4', 'bytes=0-');
 * } catch (error) {
 *   if (isSliceFetchError(error) && error.code === 'ERR_SLICE_TIMEOUT') console.error(error.message, error.status);
 * }
 * ```
 */
export class SliceFetchError extends Error {
  /** The stable code. */
  readonly code: SliceFetchErrorCode;
  /** The HTTP status a proxy answers with (416, 502, 504, …). */
  readonly status: number;
  /** Whether a retry of the same operation may succeed. */
  readonly retryable: boolean;
  /** Structured facts: URL, slice, expected vs actual, attempts. */
  readonly details: Readonly<SliceFetchErrorDetails>;

  constructor(code: SliceFetchErrorCode, message: string, options: SliceFetchErrorOptions = {}) {
    const { cause, status, retryable, ...details } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SliceFetchError';
    this.code = code;
    this.status = status ?? CODE_TRAITS[code].status;
    this.retryable = retryable ?? CODE_TRAITS[code].retryable;
    this.details = details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * Whether `value` is a {@link SliceFetchError} — also one thrown by another loaded copy of slice-fetch
 * (ESM and CJS side by side, or two versions), where `instanceof` would say no.
 *
 * @example
 * ```ts
 * if (isSliceFetchError(error)) console.log(error.code);
 * ```
 */
export function isSliceFetchError(value: unknown): value is SliceFetchError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Wraps any thrown value as a {@link SliceFetchError}, keeping it as `cause`. A `SliceFetchError` is returned
 * unchanged. Errors are classified by their `name`/`code` the way Node and undici report them: aborts
 * (`AbortError`) → `ERR_SLICE_ABORTED`; time-outs (`UND_ERR_*_TIMEOUT`, `ETIMEDOUT`, `TimeoutError`) →
 * `ERR_SLICE_TIMEOUT`; everything else → `ERR_SLICE_NETWORK` (retryable).
 *
 * @example
 * ```ts
 * const failure = toSliceFetchError(new Error('socket hang up'), { url: 'https://x/y' });
 * failure.code; // 'ERR_SLICE_NETWORK'
 * ```
 */
export function toSliceFetchError(error: unknown, details: SliceFetchErrorDetails = {}): SliceFetchError {
  if (isSliceFetchError(error)) return error;
  const { name, code, message } = describe(error);
  const where =
    details.url === undefined
      ? ''
      : ` (${details.url}${details.slice === undefined ? '' : `, slice ${details.slice}`})`;
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new SliceFetchError('ERR_SLICE_ABORTED', `Request aborted${where}.`, { ...details, cause: error });
  }
  if (name === 'TimeoutError' || TIMEOUT_CODES.has(code)) {
    return new SliceFetchError('ERR_SLICE_TIMEOUT', `Origin timed out${where}: ${message}`, {
      ...details,
      cause: error,
    });
  }
  return new SliceFetchError('ERR_SLICE_NETWORK', `Network error${where}: ${message}`, {
    ...details,
    cause: error,
  });
}

/**
 * The error for an option that is out of range, in the one wording every entry point uses:
 * "Expected \`path\` to be <expected>, got \`<value>\`." (`ERR_SLICE_CONFIG`, `details.paths = [path]`).
 *
 * @example
 * ```ts
 * throw optionError('maxBytes', 'a positive integer', -1);
 * // SliceFetchError: Expected `maxBytes` to be a positive integer, got `-1`.
 * ```
 */
export function optionError(path: string, expected: string, got: unknown): SliceFetchError {
  return new SliceFetchError(
    'ERR_SLICE_CONFIG',
    `Expected \`${path}\` to be ${expected}, got \`${String(got)}\`.`,
    {
      paths: [path],
    },
  );
}

/**
 * Checks that `value` is an options object naming only `allowed` keys (`undefined` reads as `{}`), in the same
 * wording as every other option error; returns it typed.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` for a non-object or an unknown key.
 * @example
 * ```ts
 * const options = optionsObject(input, ['maxBytes', 'now'], 'memoryStorage options');
 * ```
 */
export function optionsObject<T extends object>(
  value: T | undefined,
  allowed: readonly string[],
  what: string,
): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw optionError(what, 'an object', value);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0)
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `\`${key}\``).join(', ')} of ${what}; expected ${allowed.map((key) => `\`${key}\``).join(', ')}.`,
      { paths: unknown },
    );
  return value;
}

/**
 * The error for work stopped by an abort (`ERR_SLICE_ABORTED`). `reason` is the signal's reason and becomes
 * the `cause`, so a caller can tell a `TimeoutError` from a cancel; `what` names the work in the message.
 *
 * @example
 * ```ts
 * signal.addEventListener('abort', () => reject(abortError(signal.reason, `Slice 3 of ${url}`)));
 * ```
 */
export function abortError(
  reason?: unknown,
  what = 'The request',
  details: SliceFetchErrorDetails = {},
): SliceFetchError {
  if (isSliceFetchError(reason) && reason.code === 'ERR_SLICE_ABORTED') return reason;
  return new SliceFetchError('ERR_SLICE_ABORTED', `${what} was aborted.`, {
    ...details,
    ...(reason === undefined ? {} : { cause: reason }),
  });
}

// ---------------------------------------------------------------------------------------------------------

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
]);

function describe(error: unknown): { name: string; code: string; message: string } {
  if (typeof error !== 'object' || error === null) return { name: '', code: '', message: String(error) };
  const record = error as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof record.name === 'string' ? record.name : '',
    code: typeof record.code === 'string' ? record.code : '',
    message: typeof record.message === 'string' ? record.message : String(error),
  };
}

/** The methods every `CacheStorage` must have: what an option that takes a store is checked for. */
export const CACHE_STORAGE_METHODS: readonly string[] = [
  'get',
  'set',
  'delete',
  'purgeObject',
  'stats',
  'close',
];

/**
 * Whether `value` is an object with every one of `methods` as a function: the shape check of an adapter option.
 *
 * @example
 * ```ts
 * if (!hasMethods(options.transport, ['request'])) throw optionError('transport', 'a Transport', describeGiven(options.transport));
 * ```
 */
export function hasMethods(value: unknown, methods: readonly string[]): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function')
  );
}

/**
 * What an option was given, for {@link optionError}'s "got …": the value itself, or the keys of an object.
 *
 * @example
 * ```ts
 * describeGiven({}); // '{}'
 * describeGiven({ url: 'x' }); // 'an object with url'
 * ```
 */
export function describeGiven(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  const keys = Object.keys(value);
  return keys.length === 0 ? '{}' : `an object with ${keys.join(', ')}`;
}
