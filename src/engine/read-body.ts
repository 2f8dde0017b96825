/**
 * Reads one slice body into the chunks it arrives in — no concatenation — checking that exactly the
 * announced number of bytes arrives (R8): fewer is a truncation (retryable network error), more is an
 * invalid response. Listeners instead of `for await`: one callback per chunk is the cheapest path in Node.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import {
  abortError,
  SliceFetchError,
  type SliceFetchErrorDetails,
  toSliceFetchError,
} from '../core/errors.js';

/**
 * Collects exactly `expected` bytes from `body`, counting them in `progress` as they come. Destroys the body
 * on any failure or abort.
 */
export function readBody(
  body: Readable,
  expected: number,
  signal: AbortSignal,
  details: SliceFetchErrorDetails,
  progress?: { received: number },
): Promise<Uint8Array[]> {
  return new Promise<Uint8Array[]>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let received = 0;
    let settled = false;
    const finish = (error?: SliceFetchError): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) {
        resolve(chunks);
      } else {
        discardBody(body);
        reject(error);
      }
    };
    const onData = (chunk: Uint8Array): void => {
      received += chunk.byteLength;
      if (received > expected) {
        finish(
          new SliceFetchError(
            'ERR_SLICE_INVALID_RESPONSE',
            `Body of ${describe(details)} is longer than the ${expected} bytes announced.`,
            {
              ...details,
              expected: `${expected} bytes`,
              actual: `more than ${expected} bytes`,
            },
          ),
        );
        return;
      }
      chunks.push(chunk);
      if (progress !== undefined) progress.received = received;
    };
    const onEnd = (): void => {
      if (received === expected) finish();
      else finish(truncated(details, expected, received));
    };
    const onError = (error: unknown): void =>
      finish(signal.aborted ? aborted(signal, details) : toSliceFetchError(error, details));
    const onClose = (): void =>
      finish(signal.aborted ? aborted(signal, details) : truncated(details, expected, received));
    const onAbort = (): void => finish(aborted(signal, details));
    if (signal.aborted) {
      finish(aborted(signal, details));
      return;
    }
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Releases a body nobody will read. undici's body emits `'error'` (RequestAbortedError) when destroyed before
 * its end, and an `'error'` with no listener is an uncaught exception that kills the process: listen first.
 *
 * @example
 * ```ts
 * if (response.status !== 206) discardBody(response.body);
 * ```
 */
export function discardBody(body: Readable): void {
  body.on('error', ignore);
  body.destroy();
}

// ---------------------------------------------------------------------------------------------------------

function ignore(): void {}

function describe(details: SliceFetchErrorDetails): string {
  return details.slice === undefined
    ? (details.url ?? 'the response')
    : `slice ${details.slice} of ${details.url}`;
}

/**
 * The error of a body that ended after `received` of the `expected` bytes: a network failure, retryable.
 *
 * @example
 * ```ts
 * if (bytes !== expected) throw truncated({ url, slice: 3 }, expected, bytes);
 * ```
 */
export function truncated(
  details: SliceFetchErrorDetails,
  expected: number,
  received: number,
): SliceFetchError {
  return new SliceFetchError(
    'ERR_SLICE_NETWORK',
    `Body of ${describe(details)} ended after ${received} of ${expected} bytes.`,
    {
      ...details,
      expected: `${expected} bytes`,
      actual: `${received} bytes`,
    },
  );
}

function aborted(signal: AbortSignal, details: SliceFetchErrorDetails): SliceFetchError {
  return abortError(signal.reason, `Reading ${describe(details)}`, details);
}
