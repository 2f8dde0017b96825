/**
 * `createSliceFetcher()`: validates options once, wires the default adapters (undici transport, memory
 * store), and exposes `fetch` (a WHATWG `Response`), `purge`, `stats` and `close`. The handler uses the
 * internal entry points instead: the answer from memory, synchronously, else `open()`, which yields the same
 * result as `fetch()` with a Node stream body and no web-stream cost. The types live in `fetcher-types.ts`,
 * a request's life in `request-lifecycle.ts`.
 *
 * @module
 */
import { parseConfig } from '../core/config.js';
import type { SliceFetchConfig } from '../core/config-types.js';
import { optionError, SliceFetchError } from '../core/errors.js';
import type { Logger } from '../ports.js';
import { memoryStorage } from '../storage/memory.js';
import { undiciTransport } from '../transport/undici.js';
import { ByteBudget } from './byte-budget.js';
import { CacheGate } from './cache-gate.js';
import { checkAdapters } from './check-adapters.js';
import {
  answerNowSymbol,
  type InternalSliceFetcher,
  openSymbol,
  type SliceFetcher,
  type SliceFetcherOptions,
} from './fetcher-types.js';
import { MetadataCache } from './metadata.js';
import { ObjectFence } from './object-fence.js';
import { OriginScheduler } from './origin-scheduler.js';
import type { PieceStream } from './piece-stream.js';
import { ReadBufferPool } from './read-buffer-pool.js';
import { createLocator } from './request-input.js';
import { createOpener } from './request-lifecycle.js';
import type { Engine } from './request-types.js';
import { followPurges, retireObject } from './retire-object.js';
import { SingleFlight } from './single-flight.js';
import { Telemetry } from './telemetry.js';
import { toResponse } from './to-response.js';

export type { MemoryAnswer } from './answer-from-memory.js';
// The internal entry points (`openSymbol`, `answerNowSymbol`, `InternalSliceFetcher`, `InternalOpenInit`) are
// imported from fetcher-types.ts, never re-exported here: internal declarations are stripped from the
// published types, and a re-export of a stripped name breaks them. (This comment must not name the TSDoc tag
// that marks them: TypeScript would strip the statement it is attached to.)
export type { RangeInput, SliceFetcher, SliceFetcherOptions, SliceFetchInit } from './fetcher-types.js';
/** The result of the internal entry point: the response head and a Node object-mode stream of pieces. */
export type { SliceResult } from './request-types.js';

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
  // Purges made through other processes sharing the store reach this engine's memory too (P27).
  const stopFollowingPurges = followPurges(engine);
  const abandoned = new FinalizationRegistry<PieceStream>((body) => body.destroy());
  const locate = createLocator(cacheKey);
  const { open, answerNow } = createOpener({
    engine,
    locate,
    inFlight,
    closed: () => closed,
    logs: logger !== undefined,
  });

  const fetcher: InternalSliceFetcher = {
    config,
    [openSymbol]: open,
    [answerNowSymbol]: answerNow,
    async fetch(url, init) {
      // A body of copies (the default) gives each slice's memory back once copied, so slices are read into
      // recycled memory, as for the Node handler; `zeroCopy` hands over the engine's memory itself.
      const zeroCopy = init?.zeroCopy === true;
      const result = await open(url, zeroCopy ? init : { ...init, recycle: true });
      const response = toResponse(result, zeroCopy);
      const body = result.pieces === undefined ? result.body : undefined;
      if (body !== undefined && response.body !== null) {
        // A body dropped unread would keep its request (and its reader's memory) until close(): when the
        // collector takes the web stream, the Node body is destroyed and the request ends as aborted. The web
        // stream, not the Response: a caller may keep only `response.body` or its reader and drop the Response.
        abandoned.register(response.body, body, body);
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
      stopFollowingPurges();
      if (ownsTransport) await wire.close?.();
      if (ownsStore) await store?.close();
    },
  };
  return fetcher;
}

// ---------------------------------------------------------------------------------------------------------

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

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
