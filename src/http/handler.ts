/**
 * `createSliceHandler()`: the engine as a Node `(req, res, next?)` handler — for `http.createServer` and as
 * Express/Connect middleware. GET and HEAD are sliced through the fetcher's internal entry points (no
 * `Response`, no web streams: design.md "Web streams only at the edge"): a warm range memory holds is answered
 * before the handler returns (design.md "Small-range fast path"), anything else is opened with an abort signal
 * tied to the client; everything else is proxied or refused (R2, R14);
 * `PURGE` with a bearer token drops an object's slices (R15). The handler stays thin: the engine evaluates
 * ranges and preconditions; this file only maps requests and answers.
 *
 * @module
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { optionError, SliceFetchError, toSliceFetchError } from '../core/errors.js';
import {
  createSliceFetcher,
  type SliceFetcher,
  type SliceFetcherOptions,
  type SliceResult,
} from '../engine/fetcher.js';
import {
  answerNowSymbol,
  type InternalOpenInit,
  type InternalSliceFetcher,
  openSymbol,
} from '../engine/fetcher-types.js';
import { createPassThrough } from './pass-through.js';
import { bearerChecker, sendPurged } from './purge.js';
import { forwardedNames, pickHeaders } from './request-headers.js';
import { compilePatterns, originUrls, parseUpstream, targetPath } from './request-target.js';
import { writeInHand, writePieces, writesThrough } from './write-body.js';
import { writeHead } from './write-head.js';

/** Options of {@link createSliceHandler}: the handler's own, plus any fetcher option (used when no `fetcher` is given). */
export interface SliceHandlerOptions extends SliceFetcherOptions {
  /** The origin's base URL, e.g. `http://127.0.0.1:8080` or `https://cdn.example.com/static`. Requests go nowhere else. */
  upstream: string;
  /** A fetcher to share (it must come from `createSliceFetcher`); then no other fetcher option may be given. */
  fetcher?: SliceFetcher;
  /**
   * Request headers (lower-case names) forwarded to the origin. `Range` and `If-*` are always read (the engine
   * evaluates them); hop-by-hop headers and `Host` are never forwarded. A request with `Authorization` or
   * `Cookie` is not cached unless `cachePolicy.cacheAuthorized` (R15).
   * @default ['authorization', 'cookie', 'user-agent', 'accept-language']
   */
  forwardRequestHeaders?: readonly string[];
  /** Only GETs whose path+query matches one of these (regular-expression sources or RegExps) are sliced. @default all */
  include?: readonly (string | RegExp)[];
  /** GETs whose path+query matches one of these are not sliced. @default none */
  exclude?: readonly (string | RegExp)[];
  /**
   * Objects smaller than this are not sliced: once a response shows an object's size is below it, later
   * requests for that URL are proxied as they are (the size is only known after a first fetch). @default 0
   */
  minSize?: number;
  /** Enables `PURGE /path` with `Authorization: Bearer <token>`. @default disabled (405) */
  purge?: {
    /** The bearer token a PURGE must carry. */
    readonly token: string;
  };
  /** Called with every failure that reaches a client (not for clients that went away). */
  onError?: (error: SliceFetchError, req: IncomingMessage) => void;
  /** Methods other than GET/HEAD/PURGE: `'proxy'` streams them to the upstream, `'refuse'` answers 405. @default 'proxy' */
  passThroughMethods?: 'proxy' | 'refuse';
  /**
   * Follow an origin's redirects (and slice where they lead) instead of handing the 3xx to the client, as a
   * reverse proxy does by default.
   * @default false
   */
  followRedirects?: boolean;
  /**
   * A client that takes none of the response's bytes for this long is disconnected, so that it holds no memory
   * and no connection for good (R20, like nginx's `send_timeout`); `0` never disconnects. @default 60000
   */
  sendTimeoutMs?: number;
}

/** The handler: call it with `(req, res)` or mount it as middleware; `close()` releases what it created. */
export interface SliceHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** The fetcher serving the slices (the given one, or the one created from the options). */
  readonly fetcher: SliceFetcher;
  /** Closes the pass-through pool and the fetcher, if the handler created it. */
  close(): Promise<void>;
}

/**
 * Creates the slicing request handler.
 *
 * Mounted as middleware, requests outside `include`/`exclude` go to `next()` (without `next`, they are proxied);
 * errors are answered here (502, 504, …), not handed to `next(err)`, since the right status is already known.
 * The origin path is `upstream` + `req.url`, so a mount point (`app.use('/files', …)`) is stripped as usual.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` for an invalid upstream, pattern, option or fetcher option.
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createSliceHandler } from 'slice-fetch';
 *
 * const handler = createSliceHandler({ upstream: 'http://127.0.0.1:8080', sliceSize: 1024 * 1024, purge: { token } });
 * createServer({ highWaterMark: 1024 * 1024 }, handler).listen(3000);
 * ```
 */
export function createSliceHandler(options: SliceHandlerOptions): SliceHandler {
  const {
    upstream,
    fetcher: given,
    forwardRequestHeaders,
    include,
    exclude,
    minSize = 0,
    purge,
    onError,
    passThroughMethods = 'proxy',
    sendTimeoutMs = DEFAULT_SEND_TIMEOUT_MS,
    followRedirects = false,
    ...fetcherOptions
  } = options;
  const target = parseUpstream(upstream);
  const includes = compilePatterns(include, 'include');
  const excludes = compilePatterns(exclude, 'exclude');
  checkOptions(minSize, passThroughMethods, purge, sendTimeoutMs, given, fetcherOptions);
  if (typeof followRedirects !== 'boolean')
    throw optionError('followRedirects', 'a boolean', followRedirects);
  const forward = forwardedNames(forwardRequestHeaders ?? DEFAULT_FORWARD);
  const fetcher = (given ?? createSliceFetcher(fetcherOptions)) as InternalSliceFetcher;
  if (typeof fetcher[openSymbol] !== 'function')
    throw new SliceFetchError('ERR_SLICE_CONFIG', 'Expected `fetcher` to come from createSliceFetcher().', {
      paths: ['fetcher'],
    });
  // A fetcher of another copy of this package may predate the answer from memory: then open() does it all.
  const fromMemory = typeof fetcher[answerNowSymbol] === 'function';
  const pass = createPassThrough(target.origin, forward);
  const authorized = purge === undefined ? undefined : bearerChecker(purge.token);
  const small = new Set<string>();
  const urlOf = originUrls(target);
  const allow = purge === undefined ? 'GET, HEAD' : 'GET, HEAD, PURGE';

  const report = (caught: unknown, req: IncomingMessage, res: ServerResponse): void => {
    const error = toSliceFetchError(caught);
    // A client that went away is not a failure to report or answer.
    if (res.destroyed && error.code === 'ERR_SLICE_ABORTED') return;
    onError?.(error, req);
    if (res.headersSent) res.destroy(error);
    else sendText(res, error.status, `${STATUS_CODES[error.status] ?? 'Error'} (${error.code})`);
  };

  const proxy = (req: IncomingMessage, res: ServerResponse, url: string): void => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    pass.proxy(req, res, url, controller.signal, (error) => report(error, req, res));
  };

  /** Writes an answer's head and body. */
  const respond = (req: IncomingMessage, res: ServerResponse, url: string, result: SliceResult): void => {
    if (minSize > 0) remember(small, url, result, minSize);
    try {
      writeHead(res, result);
    } catch (error) {
      // Another layer sent the head already, or a header value cannot be sent: answer what can be
      // answered, never throw out of this callback (an unhandled rejection ends the process).
      if (result.pieces === undefined) result.body?.destroy();
      report(error, req, res);
      return;
    }
    if (result.pieces !== undefined) {
      writeInHand(result.pieces, res);
      return;
    }
    const body = result.body;
    if (body === undefined) res.end();
    else
      writePieces(body, res, {
        onError: (error) => report(error, req, res),
        release: result.release,
        sendTimeoutMs,
      });
  };

  const sliced = (req: IncomingMessage, res: ServerResponse, url: string, method: 'GET' | 'HEAD'): void => {
    const range = req.headers.range;
    // Node refuses raw CR/LF in a field itself; this guards a server that was told to be lenient. The engine
    // caps the length (R15) and answers 400 above it, whichever door the range came through.
    if (range !== undefined && CRLF.test(range)) {
      sendText(res, 400, 'Bad Request (Range)');
      return;
    }
    const headers = pickHeaders(req, forward);
    // A client's Range travels as a header: judged by RFC 9110 (malformed → the whole object), not as an argument.
    if (range !== undefined) headers.range = range;
    const init: InternalOpenInit = {
      headers,
      lowerCaseHeaders: true,
      method,
      recycle: writesThrough(req, res),
      redirect: followRedirects ? 'follow' : 'manual',
    };
    // From memory first (design.md "Small-range fast path"): answered here and now, so no controller, no
    // 'close' listener and no promise — there is nothing to cancel.
    const answered = fromMemory ? fetcher[answerNowSymbol](url, init) : undefined;
    if (answered !== undefined) {
      if (!res.destroyed) respond(req, res, url, answered);
      return;
    }
    const controller = new AbortController();
    let body: SliceResult['body'];
    res.once('close', () => {
      if (res.writableFinished) return;
      controller.abort(); // cancels a request still opening
      body?.destroy(); // cancels the slice sub-requests of one that streams
    });
    init.signal = controller.signal;
    init.triedMemory = fromMemory;
    fetcher[openSymbol](url, init).then(
      (result) => {
        if (res.destroyed) {
          result.body?.destroy();
          return;
        }
        if (result.pieces === undefined) body = result.body;
        respond(req, res, url, result);
      },
      (error: unknown) => report(error, req, res),
    );
  };

  const purgeObject = (req: IncomingMessage, res: ServerResponse, url: string): void => {
    if (authorized === undefined) sendText(res, 405, 'Method Not Allowed', allow);
    else if (!authorized(req.headers.authorization)) sendText(res, 401, 'Unauthorized', undefined, true);
    else {
      small.delete(url);
      fetcher.purge(url).then(
        (n) => sendPurged(res, n),
        (error: unknown) => report(error, req, res),
      );
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    const path = targetPath(req.url);
    if (path === undefined) {
      sendText(res, 400, 'Bad Request (target)');
      return;
    }
    const url = urlOf(path);
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') {
      // `small` stays empty without `minSize`: no lookup then.
      if (eligible(path, includes, excludes) && (minSize === 0 || !small.has(url)))
        sliced(req, res, url, method);
      else if (next !== undefined) next();
      else proxy(req, res, url);
    } else if (method === 'PURGE') purgeObject(req, res, url);
    else if (passThroughMethods === 'refuse') sendText(res, 405, 'Method Not Allowed', allow);
    else proxy(req, res, url);
  };

  const handler = ((req, res, next) => {
    try {
      handle(req, res, next);
    } catch (error) {
      report(error, req, res);
    }
  }) as SliceHandler;
  Object.defineProperties(handler, {
    fetcher: { value: fetcher, enumerable: true },
    close: {
      value: async (): Promise<void> => {
        await pass.close();
        if (given === undefined) await fetcher.close();
      },
    },
  });
  return handler;
}

// ---------------------------------------------------------------------------------------------------------

const DEFAULT_FORWARD = ['authorization', 'cookie', 'user-agent', 'accept-language'];
const DEFAULT_SEND_TIMEOUT_MS = 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const CRLF = /[\r\n]/;
/** Object URLs remembered as smaller than `minSize`; bounded so a scan of URLs cannot grow memory. */
const MAX_SMALL = 10_000;

function checkOptions(
  minSize: number,
  passThroughMethods: string,
  purge: SliceHandlerOptions['purge'],
  sendTimeoutMs: number,
  given: SliceFetcher | undefined,
  fetcherOptions: SliceFetcherOptions,
): void {
  const fail = (path: string, expected: string, got: unknown): never => {
    throw optionError(path, expected, got);
  };
  if (!Number.isSafeInteger(minSize) || minSize < 0) fail('minSize', 'a non-negative integer', minSize);
  if (passThroughMethods !== 'proxy' && passThroughMethods !== 'refuse')
    fail('passThroughMethods', "'proxy' or 'refuse'", passThroughMethods);
  if (purge !== undefined && (typeof purge.token !== 'string' || purge.token === ''))
    fail('purge.token', 'a non-empty string', purge.token);
  // A Node timer waits at most 2^31 − 1 ms; a longer one fires at once.
  if (!Number.isSafeInteger(sendTimeoutMs) || sendTimeoutMs < 0 || sendTimeoutMs > MAX_TIMER_MS)
    fail('sendTimeoutMs', `an integer between 0 and ${MAX_TIMER_MS}`, sendTimeoutMs);
  const extra = Object.keys(fetcherOptions);
  if (given !== undefined && extra.length > 0)
    fail(extra[0] as string, 'absent when `fetcher` is given (configure that fetcher instead)', 'set');
}

function eligible(path: string, includes: readonly RegExp[], excludes: readonly RegExp[]): boolean {
  if (includes.length > 0 && !matches(path, includes)) return false;
  return excludes.length === 0 || !matches(path, excludes);
}

function matches(path: string, patterns: readonly RegExp[]): boolean {
  for (const pattern of patterns) if (pattern.test(path)) return true;
  return false;
}

/** Learns the object size from the head (`Content-Range` total, or a 200's length) and remembers small ones. */
function remember(small: Set<string>, url: string, result: SliceResult, minSize: number): void {
  const { status, headers } = result;
  let size = Number.NaN;
  if (status === 200) size = Number(headers['content-length']);
  else if (status === 206 || status === 416) {
    const slash = headers['content-range']?.lastIndexOf('/') ?? -1;
    if (slash !== -1) size = Number(headers['content-range']?.slice(slash + 1));
  }
  if (!(size < minSize)) return;
  if (small.size >= MAX_SMALL) small.delete(small.values().next().value as string);
  small.add(url);
}

function sendText(res: ServerResponse, status: number, text: string, allow?: string, bearer?: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${text}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
  };
  if (allow !== undefined) headers.allow = allow;
  if (bearer === true) headers['www-authenticate'] = 'Bearer';
  res.writeHead(status, headers);
  res.end(body);
}
