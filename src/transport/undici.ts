/**
 * The default {@link Transport}: undici's `Dispatcher.request` over one shared connection pool, asking for
 * `Accept-Encoding: identity` so slice bytes are the object's bytes (R8).
 *
 * @module
 */
import { Agent, type Dispatcher } from 'undici';
import { toSliceFetchError } from '../core/errors.js';
import type { BodyTarget, Transport, TransportRequest, TransportResponse } from '../ports.js';
import { dispatchInto } from './request-into.js';
import { reusedReadsConnector } from './reused-reads.js';

/** Options of {@link undiciTransport}. */
export interface UndiciTransportOptions {
  /** Use this dispatcher (an `Agent`, `Pool`, `ProxyAgent`, `MockAgent`…) instead of creating one. */
  dispatcher?: Dispatcher;
  /**
   * Connections per origin of the created agent; keep it at the fetcher's `originConnections` so undici's own
   * queue stays empty and the fetcher's scheduler decides what goes first.
   * @default 16
   */
  connections?: number;
  /** Milliseconds to wait for response headers. @default 15000 */
  headersTimeout?: number;
  /** Milliseconds of silence allowed between body chunks. @default 30000 */
  bodyTimeout?: number;
  /** Milliseconds an idle pooled connection is kept (stay below the origin's own keep-alive). @default 30000 */
  keepAliveTimeout?: number;
}

/**
 * Creates the undici transport. One instance shares one pool across every request of a fetcher.
 *
 * @example
 * ```ts
 * import { createSliceFetcher, undiciTransport } from 'slice-fetch';
 * const fetcher = createSliceFetcher({ transport: undiciTransport({ connections: 32, headersTimeout: 5000 }) });
 * ```
 */
export function undiciTransport(options: UndiciTransportOptions = {}): Transport {
  const headersTimeout = options.headersTimeout ?? 15_000;
  const bodyTimeout = options.bodyTimeout ?? 30_000;
  const owned = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    new Agent({
      connections: options.connections ?? 16,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeout ?? 30_000,
      headersTimeout,
      bodyTimeout,
    });

  // Slices read into the engine's own memory go through an agent of their own, whose plain-HTTP sockets read into
  // reused memory (reused-reads.ts): every response on it is copied out chunk by chunk as it arrives.
  const into = owned
    ? new Agent({
        connections: options.connections ?? 16,
        pipelining: 1,
        keepAliveTimeout: options.keepAliveTimeout ?? 30_000,
        headersTimeout,
        bodyTimeout,
        connect: reusedReadsConnector(),
      })
    : undefined;
  let closing: Promise<void> | undefined;
  let lastUrl = '';
  let lastOrigin = '';
  let lastPath = '';
  // Consecutive slices share one URL: parse it once, not once per slice.
  const locate = (href: string): void => {
    if (href === lastUrl) return;
    const url = new URL(href);
    lastUrl = href;
    lastOrigin = url.origin;
    lastPath = `${url.pathname}${url.search}`;
  };
  const transport: Transport = {
    async request(request: TransportRequest): Promise<TransportResponse> {
      locate(request.url);
      try {
        const response = await dispatcher.request({
          origin: lastOrigin,
          path: lastPath,
          method: request.method,
          headers: { 'accept-encoding': 'identity', ...request.headers },
          signal: request.signal,
          headersTimeout,
          bodyTimeout,
          // A 1 MiB slice arrives in a few large chunks instead of many 16 KiB ones: fewer JS callbacks per byte.
          highWaterMark: 256 * 1024,
        });
        return { status: response.statusCode, headers: response.headers, body: response.body };
      } catch (error) {
        throw toSliceFetchError(error, { url: request.url, range: request.headers.range });
      }
    },
    close(): Promise<void> {
      // Idempotent: undici rejects a second close of an agent.
      closing ??= owned ? Promise.all([dispatcher.close(), into?.close()]).then(() => {}) : Promise.resolve();
      return closing;
    },
  };
  if (into !== undefined) {
    // Not enumerable: a wrapper written as `{ ...next, request: wrapped }` must not carry it along unwrapped —
    // slices would then bypass what the wrapper adds (a signature, an allow-list, a count). A wrapper that wants
    // it forwards it by name.
    Object.defineProperty(transport, 'requestInto', {
      enumerable: false,
      value(request: TransportRequest, target: BodyTarget): Promise<number> {
        try {
          locate(request.url);
        } catch (error) {
          return Promise.reject(toSliceFetchError(error, { url: request.url }));
        }
        const where = { origin: lastOrigin, path: lastPath, headersTimeout, bodyTimeout };
        return dispatchInto(into, where, request, target);
      },
    });
  }
  return transport;
}
