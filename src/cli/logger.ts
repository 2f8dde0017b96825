/**
 * The CLIs' logger: pino (bundled into the CLI builds, so it is always there) writing JSON lines to stdout,
 * with Errors serialised under both keys the code base uses (`err`, `error`) — never `{}` — and the proxy's
 * request id joined onto the engine's lines.
 *
 * The join: the proxy gives every HTTP request an id (`reqId`, echoed as `x-request-id`); the engine numbers its
 * requests itself (`requestId`). {@link RequestIds} runs each proxy request in an async context holding its
 * id, learns the engine's id for it from the `onRequestStart` hook (called synchronously inside the handler
 * call, so inside that context), and a pino `mixin` adds `reqId` to every engine line that names a known
 * engine `requestId` — `request start`, retries, cache failures and the `request done` summary.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, stdSerializers } from 'pino';
import type { Logger, Metrics } from '../ports.js';

/** A pino level, or `silent`. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Maps the engine's request ids to the proxy's for the duration of each request.
 *
 * @example
 * ```ts
 * const ids = new RequestIds();
 * const log = createLogger('info', 'slice-proxy', ids);
 * const fetcher = createSliceFetcher({ logger: log, hooks: combineHooks(metrics, ids.hooks) });
 * server.on('request', (req, res) => ids.run(reqIdOf(req), () => handler(req, res)));
 * ```
 */
export class RequestIds {
  readonly #current = new AsyncLocalStorage<string>();
  /** Engine `requestId` → proxy `reqId`, for requests in progress only. */
  readonly #byEngineId = new Map<string, string>();

  /** Hooks for the fetcher (combine them with the metrics hooks). */
  readonly hooks: Metrics = {
    onRequestStart: (event) => {
      const reqId = this.#current.getStore();
      if (reqId !== undefined) this.#byEngineId.set(event.requestId, reqId);
    },
    onRequestEnd: (event) => {
      // The engine logs its `request done` line right after this hook, in the same turn: forget the id after.
      queueMicrotask(() => this.#byEngineId.delete(event.requestId));
    },
  };

  /** Runs `fn` (which calls the handler) as the request `reqId`. */
  run<T>(reqId: string, fn: () => T): T {
    return this.#current.run(reqId, fn);
  }

  /** The proxy's id for an engine request id, while that request runs. */
  reqIdOf(engineRequestId: unknown): string | undefined {
    return typeof engineRequestId === 'string' ? this.#byEngineId.get(engineRequestId) : undefined;
  }

  /** Requests being tracked (for tests: it must fall back to zero). */
  get size(): number {
    return this.#byEngineId.size;
  }
}

/**
 * A pino logger named `name` at `level` on stdout; with `ids`, engine lines carry the proxy's `reqId`.
 *
 * @example
 * ```ts
 * const log = createLogger('info', 'slice-proxy');
 * log.error({ err: new Error('boom') }, 'failed'); // "err":{"type":"Error","message":"boom","stack":…}
 * ```
 */
export function createLogger(level: LogLevel, name: string, ids?: RequestIds): Logger {
  return pino({
    level,
    base: { name },
    // pino serialises `err` only; fsStorage and others log Errors under `error` too.
    serializers: { err: stdSerializers.err, error: stdSerializers.err },
    ...(ids === undefined
      ? {}
      : {
          mixin: (object: object): Record<string, unknown> => {
            const reqId = ids.reqIdOf((object as { requestId?: unknown }).requestId);
            return reqId === undefined ? {} : { reqId };
          },
        }),
  });
}
