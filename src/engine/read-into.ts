/**
 * Reads one slice straight into memory its reader will give back for reuse ({@link Transport.requestInto}): the
 * head is checked before any memory is handed out, and exactly the announced number of bytes must arrive (R8) —
 * fewer is a truncation (retryable), more an invalid response (the transport refuses them).
 *
 * @module
 */
import type { Chunks } from '../core/chunks.js';
import type { SliceFetchError, SliceFetchErrorDetails } from '../core/errors.js';
import type { ResponseHead } from '../core/head-checks.js';
import { formatRange } from '../core/range.js';
import type { ByteRange, Transport } from '../ports.js';
import { truncated } from './read-body.js';

/** Records a response's status for telemetry and returns it unchanged. */
export type Seen = <R extends ResponseHead>(response: R) => R;

/** What to ask for and where it goes. */
export interface IntoRequest {
  readonly url: string;
  /** Headers of the sub-request, without `range`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly range: ByteRange;
  /** Bytes the body must have. */
  readonly expected: number;
  /** Memory for the body: exactly `bytes` long, given back by the slice's reader once consumed. */
  readonly allocate: (bytes: number) => Uint8Array;
}

/**
 * Sends the slice request through `transport.requestInto` and resolves the slice as one chunk of the memory
 * `allocate` lent. `check` judges the head: a returned error refuses the response (and is what rejects).
 *
 * @example
 * ```ts
 * const chunks = await readInto(transport, into, signal, (head) => validate(head), { url, slice: 3 });
 * ```
 */
export async function readInto(
  transport: Transport,
  into: IntoRequest,
  signal: AbortSignal,
  check: (head: ResponseHead) => SliceFetchError | undefined,
  details: SliceFetchErrorDetails,
  progress?: { received: number },
): Promise<Chunks> {
  const requestInto = transport.requestInto;
  if (requestInto === undefined) throw new Error('readInto() needs a transport with requestInto()');
  let memory: Uint8Array | undefined;
  const bytes = await requestInto.call(
    transport,
    { url: into.url, method: 'GET', headers: { ...into.headers, range: formatRange([into.range]) }, signal },
    {
      head: (head) => {
        const error = check(head);
        if (error !== undefined) throw error;
        memory = into.allocate(into.expected);
        return memory;
      },
      ...(progress === undefined
        ? {}
        : {
            progress: (received: number) => {
              progress.received = received;
            },
          }),
    },
  );
  if (memory === undefined || bytes !== into.expected) throw truncated(details, into.expected, bytes);
  return [memory];
}
