/**
 * `createSliceFetcher()`: validates options once, wires the default adapters (undici transport, memory
 * store), and exposes `fetch` (a WHATWG `Response`), `purge`, `stats` and `close`. The handler uses the
 * internal `open()`, which yields the same result with a Node stream body and no web-stream cost.
 *
 * @module
 */
import { LRUCache } from 'lru-cache';
import { parseConfig } from '../core/config.js';
import type { SliceFetchConfig, SliceFetchConfigInput } from '../core/config-types.js';
import { abortError, optionError, SliceFetchError, toSliceFetchError } from '../core/errors.js';
import { type HeaderRecord, NOT_FORWARDED } from '../core/headers.js';
import { normalizeObjectUrl } from '../core/keys.js';
import { formatRange, MAX_RANGE_FIELD_LENGTH, parseRange } from '../core/range.js';
import { credentialScope } from '../core/scope.js';
import type { CacheStorage, Logger, Metrics, RequestOutcome, Transport } from '../ports.js';
import { memoryStorage } from '../storage/memory.js';
import { undiciTransport } from '../transport/undici.js';
import { answerFromMemory } from './answer-from-memory.js';
import { ByteBudget } from './byte-budget.js';
import { CacheGate } from './cache-gate.js';
import { MetadataCache } from './metadata.js';
import { ObjectFence } from './object-fence.js';
import { openRequest } from './open-request.js';
import { OriginScheduler } from './origin-scheduler.js';
import type { PieceStream } from './piece-stream.js';
import { ReadBufferPool } from './read-buffer-pool.js';
import type { RedirectMode } from './redirects.js';
import type { Engine, OpenInput, SliceResult } from './request-types.js';
import { retireObject } from './retire-object.js';
import { SingleFlight } from './single-flight.js';
import { type SliceFetcherStats, Telemetry } from './telemetry.js';
import { toResponse } from './to-response.js';

/** Options of {@link createSliceFetcher}: every {@link SliceFetchConfigInput} option plus the adapters. */
export interface SliceFetcherOptions extends SliceFetchConfigInput {
  /**
   * Where slices are cached; `false` disables caching.
   * @default memoryStorage({ maxBytes: 256 MiB })
   */
  cache?: CacheStorage | false;
  /**
   * How sub-requests are sent.
   * @default undiciTransport({ connections: originConnections })
   */
  transport?: Transport;
  /** Typed event hooks (progress bars, metrics). */
  hooks?: Metrics;
  /** A pino-compatible logger. @default silent */
  logger?: Logger;
  /** Maps a URL to the key its slices are cached under. @default the normalised URL */
  cacheKey?: (url: URL) => string;
}

/** A byte range given to {@link SliceFetcher.fetch}: a `Range` header value, `{ start, end? }` or `{ suffix }`. */
export type RangeInput =
  | string
  | {
      /** First byte. */
      readonly start: number;
      /** Last byte, inclusive; absent: to the end. */
      readonly end?: number;
    }
  | {
      /** The last this many bytes. */
      readonly suffix: number;
    };

/** Per-call options of {@link SliceFetcher.fetch}. */
export interface SliceFetchInit {
  /** The byte range wanted; absent = the whole object. */
  range?: RangeInput;
  /** Request headers: `If-*` preconditions are evaluated by the fetcher; the others are sent to the origin. */
  headers?: Record<string, string> | Headers;
  /** `HEAD` answers from metadata without a body. @default 'GET' */
  method?: 'GET' | 'HEAD';
  /** Aborts the request and its body. */
  signal?: AbortSignal;
  /**
   * What a redirect of the object does, as in WHATWG fetch: `follow` it (up to 20, slicing where it leads,
   * credentials dropped across origins, the cache key still the URL asked for), hand the 3xx back (`manual`),
   * or fail (`error`).
   * @default 'follow'
   */
  redirect?: RedirectMode;
  /**
   * Hands the body's chunks over as they are — possibly the cache's own memory — instead of one copy per slice.
   * Only for a caller that never writes into them: a write would change what the next hit returns.
   * @default false
   */
  zeroCopy?: boolean;
}

/** The result of the internal entry point: the response head and a Node object-mode stream of pieces. */
export type { SliceResult };

/** A configured slice fetcher. Create one per process and reuse it: it owns the pool, the cache and the budget. */
export interface SliceFetcher {
  /**
   * Fetches `url` (or a range of it) through the slice cache. Resolves once the first slice is validated, with a
   * `Response` whose body streams the bytes in order; the body errors (never ends cleanly) if a later slice fails.
   * Each slice arrives as one chunk of the caller's own (`zeroCopy` hands over the cache's memory instead). The `x-slice-cache` header says `HIT`
   * (no origin request), `MISS` (every byte from the origin), `PARTIAL` (both) or `REVALIDATED`.
   */
  fetch(url: string | URL, init?: SliceFetchInit): Promise<Response>;
  /** Removes every cached slice and the metadata of `url`'s object, in every version; resolves how many entries went. */
  purge(url: string | URL): Promise<number>;
  /** Counters since creation. */
  stats(): SliceFetcherStats;
  /** Aborts in-flight work, closes the transport (if created here) and the store. */
  close(): Promise<void>;
  /** The resolved configuration. */
  readonly config: SliceFetchConfig;
}

/** @internal The fast entry point for the Node handler: the same result with a Node stream body. */
export const openSymbol = Symbol.for('slice-fetch.open');

/** @internal Options of the internal entry point. */
export interface InternalOpenInit extends SliceFetchInit {
  /**
   * The caller gives every piece back with `result.release(piece)` once its bytes are written out, so store
   * hits read into recycled memory instead of fresh buffers (the Node handler does).
   */
  recycle?: boolean;
}

/** @internal A fetcher as the handler sees it. */
export interface InternalSliceFetcher extends SliceFetcher {
  [openSymbol](url: string | URL, init?: InternalOpenInit): Promise<SliceResult>;
}

/**
 * Creates a slice fetcher.
 *
 * @example
 * ```ts
 * import { createSliceFetcher } from 'slice-fetch';
 *
 * const fetcher = createSliceFetcher({ sliceSize: 1024 * 1024, concurrency: 8 });
 * const res = await fetcher.fetch('https://cdn.example.com/big.iso', { range: 'bytes=0-99999999' });
 * for await (const chunk of res.body!) process.stdout.write(chunk);
 * await fetcher.close();
 * ```
 */
export function createSliceFetcher(options: SliceFetcherOptions = {}): SliceFetcher {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw optionError('options', 'an object', options);
  const { cache, transport, hooks, logger, cacheKey, ...rest } = options;
  const config = parseConfig(rest);
  checkAdapters(cache, transport, hooks, logger, cacheKey);
  const log = logger ?? SILENT;
  const store = cache === false ? undefined : (cache ?? memoryStorage());
  const ownsStore = cache === undefined;
  const wire =
    transport ??
    undiciTransport({
      connections: config.originConnections,
      headersTimeout: config.timeouts.headersMs,
      bodyTimeout: config.timeouts.bodyMs,
    });
  const ownsTransport = transport === undefined;
  const telemetry = new Telemetry(hooks, log);
  // Store writes get a budget of their own — a slice held by a response and written at the same time would
  // otherwise count twice — of at least one window, so a tight maxBufferedBytes still lets a disk keep up.
  const gate = new CacheGate(
    store,
    config.timeouts.cacheMs,
    telemetry,
    new ByteBudget(Math.max(config.maxBufferedBytes, config.concurrency * config.sliceSize)),
  );
  let closed = false;
  /** Requests in progress, aborted by `close()`: one entry each, removed when the request ends (no leak). */
  const inFlight = new Set<AbortController>();
  const fence = new ObjectFence();
  const engine: Engine = {
    deps: {
      transport: wire,
      scheduler: new OriginScheduler(config.originConnections),
      telemetry,
      config,
      logger: log,
      random: Math.random,
      now: Date.now,
    },
    cache: gate,
    metadata: new MetadataCache(gate, fence),
    fills: new SingleFlight(config.coalesce),
    fence,
    budget: new ByteBudget(config.maxBufferedBytes),
    pool: readBufferPool(config),
  };
  let sequence = 0;
  const abandoned = new FinalizationRegistry<PieceStream>((body) => body.destroy());
  /** URL strings parsed and keyed once: a server asks for the same objects again and again. */
  const locations = new LRUCache<string, Location>({ max: 4096 });
  const locate = (target: string | URL): Location => {
    const text = typeof target === 'string' ? target : target.href;
    let location = locations.get(text);
    if (location === undefined) {
      const url = toUrl(target);
      location = {
        href: url.href,
        objectKey: cacheKey === undefined ? normalizeObjectUrl(url) : cacheKey(url),
      };
      locations.set(text, location);
    }
    return location;
  };

  const open = async (target: string | URL, init: InternalOpenInit = {}): Promise<SliceResult> => {
    if (closed) throw new SliceFetchError('ERR_SLICE_CLOSED', 'This slice fetcher is closed.');
    const { href, objectKey } = locate(target);
    const requestId = `${(++sequence).toString(36)}`;
    const headers = lowerCaseHeaders(init.headers);
    const started = Date.now();
    const range = rangeHeader(init.range, headers.range);
    telemetry.onRequestStart({ requestId, url: href, range });
    log.debug({ requestId, url: href, range }, 'request start');
    const given = init.signal;
    let controller: AbortController | undefined;
    const relay = (): void => controller?.abort(given?.reason);
    let ended = false;
    const end = (status: number, outcome: RequestOutcome, bytes: number, error?: SliceFetchError): void => {
      if (ended) return;
      ended = true;
      if (controller !== undefined) inFlight.delete(controller);
      given?.removeEventListener('abort', relay);
      const durationMs = Date.now() - started;
      telemetry.onRequestEnd({ requestId, url: href, status, outcome, bytes, durationMs, error });
      log.info(
        { requestId, url: href, range, status, outcome, bytes, durationMs, err: error?.message },
        'request done',
      );
    };
    const input: OpenInput = {
      url: href,
      objectKey,
      requestId,
      method: init.method ?? 'GET',
      range,
      // If-Range (RFC 9110 §13.1.5) is evaluated against the range wherever it was given: init or headers.
      conditionals: range === undefined ? headers : { ...headers, range },
      forward: forwardable(headers),
      authorized: headers.authorization !== undefined || headers.cookie !== undefined,
      base: credentialScope(headers, config.cachePolicy.cacheAuthorized),
      identity: credentialScope(headers, false),
      signal: UNUSED_SIGNAL,
      redirect: redirectMode(init.redirect),
      recycle: init.recycle === true,
    };
    try {
      // From memory first: nothing to wait for, so none of the abort plumbing below.
      if (given?.aborted !== true && (range === undefined || range.length <= MAX_RANGE_FIELD_LENGTH)) {
        const answered = answerFromMemory(engine, input, parseRange(range));
        if (answered !== undefined) {
          end(answered.status, answered.outcome, bytesOf(answered.pieces));
          return answered;
        }
      }
      // One controller per request, tied to the caller's signal by a listener removed when the request ends:
      // `AbortSignal.any()` with a fetcher-lifetime signal would keep a registration per request for good.
      controller = new AbortController();
      if (given?.aborted === true) controller.abort(given.reason);
      else given?.addEventListener('abort', relay, { once: true });
      inFlight.add(controller);
      const result = await openRequest(engine, { ...input, signal: controller.signal });
      if (result.body === undefined) {
        end(result.status, result.outcome, 0);
      } else {
        // No 'data' listener here: it would put the body in flowing mode before its consumer attaches.
        const body = result.body;
        body.once('end', () => end(result.status, result.outcome, body.bytesDelivered));
        body.once('error', (error) =>
          end(result.status, 'error', body.bytesDelivered, toSliceFetchError(error, { url: href })),
        );
        body.once('close', () => {
          if (!body.readableEnded && !body.errored) end(result.status, 'aborted', body.bytesDelivered);
        });
      }
      return result;
    } catch (caught) {
      const error =
        controller?.signal.aborted === true
          ? abortError(controller.signal.reason, `Request for ${href}`, { url: href })
          : toSliceFetchError(caught, { url: href });
      end(error.status, error.code === 'ERR_SLICE_ABORTED' ? 'aborted' : 'error', 0, error);
      throw error;
    }
  };

  const fetcher: InternalSliceFetcher = {
    config,
    [openSymbol]: open,
    async fetch(url, init) {
      const result = await open(url, init);
      const response = toResponse(result, init?.zeroCopy === true);
      const body = result.pieces === undefined ? result.body : undefined;
      if (body !== undefined) {
        // A Response dropped unread would keep its request (and its reader's memory) until close(): when the
        // collector takes the Response, its body is destroyed and the request ends as aborted.
        abandoned.register(response, body, body);
        body.once('close', () => abandoned.unregister(body));
      }
      return response;
    },
    purge(url) {
      // Fences every fill of the object that started before: none of them writes after this resolves (P27).
      return retireObject(engine, locate(url).objectKey, { requestId: 'purge', url: String(url) });
    },
    stats: () => telemetry.snapshot(engine.budget),
    async close() {
      if (closed) return;
      closed = true;
      const reason = new SliceFetchError('ERR_SLICE_CLOSED', 'The slice fetcher was closed.');
      for (const controller of inFlight) controller.abort(reason);
      inFlight.clear();
      engine.fills.abortAll(reason);
      engine.deps.scheduler.clear();
      engine.metadata.clear();
      if (ownsTransport) await wire.close?.();
      if (ownsStore) await store?.close();
    },
  };
  return fetcher;
}

// ---------------------------------------------------------------------------------------------------------

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Refuses, at construction, adapters that would only fail later (`cache: {}`, `transport: {}`): every method the
 * port requires must be there.
 */
function checkAdapters(
  cache: unknown,
  transport: unknown,
  hooks: unknown,
  logger: unknown,
  cacheKey: unknown,
): void {
  const has = (value: unknown, methods: readonly string[]): boolean =>
    typeof value === 'object' &&
    value !== null &&
    methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
  if (cache !== undefined && cache !== false && !has(cache, STORE_METHODS))
    throw optionError('cache', `\`false\` or a CacheStorage (${STORE_METHODS.join(', ')})`, describe(cache));
  if (transport !== undefined && !has(transport, ['request']))
    throw optionError('transport', 'a Transport (a `request` method)', describe(transport));
  if (hooks !== undefined && !hooksOf(hooks))
    throw optionError('hooks', 'an object whose `on…` members are hook functions', describe(hooks));
  if (logger !== undefined && !has(logger, ['debug', 'info', 'warn', 'error']))
    throw optionError('logger', 'a pino-compatible logger (debug, info, warn, error)', describe(logger));
  if (cacheKey !== undefined && typeof cacheKey !== 'function')
    throw optionError('cacheKey', 'a function of the URL', describe(cacheKey));
}

const STORE_METHODS = ['get', 'set', 'delete', 'purgeObject', 'stats', 'close'];

/** Whether `hooks` is an object whose hook members (`on…`) are functions; other members are its own business. */
function hooksOf(hooks: unknown): boolean {
  if (typeof hooks !== 'object' || hooks === null) return false;
  for (const [name, hook] of Object.entries(hooks))
    if (name.startsWith('on') && hook !== undefined && typeof hook !== 'function') return false;
  return true;
}

function redirectMode(mode: unknown): RedirectMode {
  if (mode === undefined) return 'follow';
  if (mode === 'follow' || mode === 'manual' || mode === 'error') return mode;
  throw optionError('redirect', "'follow', 'manual' or 'error'", mode);
}

function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  const keys = Object.keys(value);
  return keys.length === 0 ? '{}' : `an object with ${keys.join(', ')}`;
}

/** Where a URL string leads: its normalised form and the key its object is cached under. */
interface Location {
  readonly href: string;
  readonly objectKey: string;
}

/** The signal of a request answered from memory: it has nothing to abort, and nobody listens to it. */
const UNUSED_SIGNAL = new AbortController().signal;

function bytesOf(pieces: readonly (readonly Uint8Array[])[] | undefined): number {
  let bytes = 0;
  for (const piece of pieces ?? []) for (const chunk of piece) bytes += chunk.byteLength;
  return bytes;
}

/** Bytes a pooled read buffer holds beyond one slice: a disk entry's header (~500 bytes for 1 MiB slices). */
const POOL_HEADROOM = 64 * 1024;

/**
 * The pool store hits read into: one slice and a disk header per buffer, and kept for reuse at most twice the
 * window of one request — never more than `maxBufferedBytes` in all, so large slices keep few or none.
 */
function readBufferPool(config: SliceFetchConfig): ReadBufferPool {
  const capacity = config.sliceSize + POOL_HEADROOM;
  return new ReadBufferPool(
    capacity,
    Math.min(2 * config.concurrency, Math.floor(config.maxBufferedBytes / capacity)),
  );
}

function toUrl(target: string | URL): URL {
  try {
    const url = new URL(target);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`unsupported protocol ${url.protocol}`);
    return url;
  } catch (error) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected an absolute http(s) URL, got \`${String(target)}\`.`,
      { cause: error, status: 400 },
    );
  }
}

function lowerCaseHeaders(input: SliceFetchInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (input === undefined) return out;
  if (input instanceof Headers)
    input.forEach((value, name) => {
      out[name] = value;
    });
  else for (const [name, value] of Object.entries(input)) out[name.toLowerCase()] = value;
  return out;
}

function forwardable(headers: HeaderRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' && !NOT_FORWARDED.has(name)) out[name] = value;
  }
  return out;
}

/**
 * The `Range` value of a request. A range given as an argument is the program's own and must be valid
 * (`ERR_SLICE_RANGE`, 400, otherwise, R21); one among the headers is a client's, judged by RFC 9110 (a
 * malformed one is ignored and the whole object answered).
 */
function rangeHeader(range: RangeInput | undefined, fromHeaders: string | undefined): string | undefined {
  if (range === undefined) return fromHeaders;
  if (typeof range === 'string') {
    const parsed = parseRange(range, { maxLength: Number.POSITIVE_INFINITY });
    if (parsed.type !== 'specs') throw badRange(range, parsed.type === 'ignored' ? parsed.reason : 'empty');
    return range;
  }
  if (typeof range !== 'object' || range === null) throw badRange(range, 'not a Range value or an object');
  try {
    if ('suffix' in range) return formatRange([{ suffix: range.suffix }]);
    return formatRange([
      range.end === undefined ? { first: range.start } : { first: range.start, last: range.end },
    ]);
  } catch (error) {
    throw badRange(range, (error as Error).message, error);
  }
}

function badRange(range: unknown, reason: string, cause?: unknown): SliceFetchError {
  const shown = typeof range === 'string' ? range : (JSON.stringify(range) ?? String(range));
  return new SliceFetchError(
    'ERR_SLICE_RANGE',
    `Expected \`range\` to be a valid range like \`bytes=0-99\`, \`{ start: 0, end: 99 }\` or \`{ suffix: 100 }\`, got \`${shown}\`: ${reason}.`,
    { status: 400, ...(cause === undefined ? {} : { cause }) },
  );
}
