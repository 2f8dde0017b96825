/**
 * The plain streaming proxy for requests the handler does not slice (R2, R14): other methods (`POST`,
 * `PUT`, …, with their bodies) and GETs that fail the include/exclude patterns. It talks to the upstream with
 * its own undici `Pool` rather than through the fetcher's `Transport`, because the transport port only carries
 * bodiless GET/HEAD and adapters never import each other. Memory stays bounded: both bodies are
 * streams with backpressure (`pipeline`).
 *
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { Pool } from 'undici';
import { toSliceFetchError } from '../core/errors.js';
import { CONDITIONAL_HEADERS, connectionTokens, HOP_BY_HOP } from '../core/headers.js';

/** A lazily created pool to the upstream origin, closed with the handler. */
export interface PassThrough {
  /** Streams `req` to `url` and the answer back to `res`; `fail` gets errors that happen before the head. */
  proxy(req: IncomingMessage, res: ServerResponse, url: string, signal: AbortSignal, fail: Fail): void;
  close(): Promise<void>;
}

/** What the handler does with a pass-through failure: an error page before the head, a destroy after. */
export type Fail = (error: unknown) => void;

/**
 * Creates the pass-through for one upstream origin. The request carries the forwarded header names plus what
 * describes its own body and what the origin must evaluate itself here (`Range`, `If-*`, `Accept*`), since
 * nothing in front of it does.
 *
 * @example
 * ```ts
 * const pass = createPassThrough('http://127.0.0.1:8080', ['authorization']);
 * pass.proxy(req, res, 'http://127.0.0.1:8080/upload', signal, (error) => res.destroy(error as Error));
 * ```
 */
export function createPassThrough(origin: string, forward: readonly string[]): PassThrough {
  let pool: Pool | undefined;
  const names = [...new Set([...forward, ...PASSED])];
  return {
    proxy(req, res, url, signal, fail) {
      pool ??= new Pool(origin, { pipelining: 1, keepAliveTimeout: 30_000 });
      const hop = connectionTokens(req.headers.connection);
      const headers: Record<string, string> = {};
      for (const name of names) {
        const value = req.headers[name];
        if (value === undefined || hop.has(name)) continue;
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const hasBody =
        req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
      const { pathname, search } = new URL(url);
      pool
        .request({
          path: `${pathname}${search}`,
          method: req.method as 'POST',
          headers,
          body: hasBody ? req : undefined,
          signal,
        })
        .then(
          (response) => {
            if (res.destroyed) {
              discard(response.body);
              return;
            }
            try {
              res.writeHead(response.statusCode, responseHeaders(response.headers));
            } catch (error) {
              // Another layer already answered, or a header cannot be sent: never an uncaught throw.
              discard(response.body);
              fail(error);
              return;
            }
            if (req.method === 'HEAD') {
              discard(response.body);
              res.end();
              return;
            }
            // pipeline destroys `res` when the origin body fails: the client sees an incomplete body.
            pipeline(response.body, res, () => {});
          },
          (error: unknown) => fail(toSliceFetchError(error, { url })),
        );
    },
    async close() {
      await pool?.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** Forwarded on pass-through on top of the configured names: the body's own description and what the origin evaluates. */
const PASSED = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'accept',
  'accept-encoding',
  'range',
  ...CONDITIONAL_HEADERS,
];

/**
 * Drops a body nobody will read. undici emits `'error'` when a body is destroyed before its end, and an
 * `'error'` without a listener would be an uncaught exception: listen first.
 */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

function responseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const hop = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || hop.has(name)) continue;
    out[name] = value;
  }
  out['x-slice-cache'] = 'PASS';
  return out;
}
