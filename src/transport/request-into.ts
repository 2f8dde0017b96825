/**
 * {@link Transport.requestInto} over undici's `dispatch`: no body stream, no chunk kept — each chunk is copied
 * into the memory the caller handed out for the body the moment the socket delivers it.
 *
 * @module
 */
import type { Dispatcher } from 'undici';
import { abortError, SliceFetchError, toSliceFetchError } from '../core/errors.js';
import type { HeaderRecord } from '../core/headers.js';
import type { BodyTarget, TransportRequest } from '../ports.js';
import { noteDelivery } from './reused-reads.js';

/** Where and how {@link dispatchInto} sends (the parts of undici's dispatch options the transport decides). */
export interface DispatchTarget {
  readonly origin: string;
  readonly path: string;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
}

/**
 * Sends `request` (a `GET`) on `dispatcher` and copies its body into the memory `target.head` returns; resolves
 * the number of bytes written when the response ended.
 *
 * @example
 * ```ts
 * const bytes = await dispatchInto(agent, { origin, path, headersTimeout: 15e3, bodyTimeout: 30e3 }, req, {
 *   head: () => Buffer.allocUnsafe(1 << 20),
 * });
 * ```
 */
export function dispatchInto(
  dispatcher: Dispatcher,
  where: DispatchTarget,
  request: TransportRequest,
  target: BodyTarget,
): Promise<number> {
  const details = { url: request.url, range: request.headers.range };
  return new Promise<number>((resolve, reject) => {
    const { signal } = request;
    let controller: Dispatcher.DispatchController | undefined;
    let memory: Uint8Array | undefined;
    let received = 0;
    let settled = false;
    const settle = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) {
        resolve(received);
        return;
      }
      // Drops the response and its connection: nobody reads the rest of this body.
      if (controller !== undefined && !controller.aborted) controller.abort(asError(error));
      reject(error);
    };
    const onAbort = (): void => settle(abortError(signal.reason, `Request for ${request.url}`, details));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(started) {
        controller = started;
        if (settled) started.abort(abortError(signal.reason, `Request for ${request.url}`, details));
      },
      onResponseStart(_controller, status, headers) {
        if (status < 200) {
          noteDelivery('informational');
          return;
        }
        noteDelivery('head');
        if (settled) return;
        try {
          memory = target.head({ status, headers: headers as HeaderRecord });
        } catch (error) {
          settle(error);
        }
      },
      onResponseData(_controller, chunk) {
        if (settled || memory === undefined) {
          noteDelivery('body');
          return;
        }
        if (received + chunk.byteLength > memory.byteLength) {
          noteDelivery('body');
          settle(tooLong(request, memory.byteLength));
          return;
        }
        memory.set(chunk, received);
        received += chunk.byteLength;
        // The last byte: a chunked body's trailers may follow in this very read (see DeliveryEvent).
        noteDelivery(received === memory.byteLength ? 'last-body' : 'body');
        target.progress?.(received);
      },
      onResponseEnd() {
        noteDelivery('end');
        settle();
      },
      onResponseError(_controller, error) {
        settle(
          signal.aborted
            ? abortError(signal.reason, `Request for ${request.url}`, details)
            : toSliceFetchError(error, details),
        );
      },
    };
    try {
      dispatcher.dispatch(
        {
          origin: where.origin,
          path: where.path,
          method: 'GET',
          headers: { 'accept-encoding': 'identity', ...request.headers },
          headersTimeout: where.headersTimeout,
          bodyTimeout: where.bodyTimeout,
        },
        handler,
      );
    } catch (error) {
      settle(toSliceFetchError(error, details));
    }
  });
}

function tooLong(request: TransportRequest, bytes: number): SliceFetchError {
  return new SliceFetchError(
    'ERR_SLICE_INVALID_RESPONSE',
    `Body of ${request.url} is longer than the ${bytes} bytes announced.`,
    {
      url: request.url,
      ...(request.headers.range === undefined ? {} : { range: request.headers.range }),
      expected: `${bytes} bytes`,
      actual: `more than ${bytes} bytes`,
    },
  );
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
