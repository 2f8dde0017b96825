/**
 * One request's life inside a fetcher, from the call to its last event: a request id, the start and end events
 * and log lines (R9), the caller's signal tied to the request, the fetcher's registry of requests in flight
 * (aborted by `close()`), and the choice between the answer from memory and the general path.
 *
 * The answer from memory is synchronous and has nothing to cancel, so it takes none of the abort plumbing —
 * no controller, no listener, no promise — and {@link Opener.answerNow} hands it over directly (design.md
 * "Small-range fast path"). A request it cannot answer leaves no trace: no event, no request id used.
 *
 * @module
 */
import { abortError, SliceFetchError, toSliceFetchError } from '../core/errors.js';
import { MAX_RANGE_FIELD_LENGTH, parseRange } from '../core/range.js';
import type { RequestOutcome } from '../ports.js';
import { answerFromMemory, findInMemory, type MemoryAnswer } from './answer-from-memory.js';
import type { InternalOpenInit } from './fetcher-types.js';
import { openRequest } from './open-request.js';
import { type Location, lowerCaseHeaders, rangeHeader, requestInput } from './request-input.js';
import type { Engine, SliceResult } from './request-types.js';

/** What {@link createOpener} runs requests on. */
export interface OpenerParts {
  readonly engine: Engine;
  /** The fetcher's URL parser and keyer (`createLocator`). */
  readonly locate: (target: string | URL) => Location;
  /** Requests in progress, aborted by `close()`: one entry each, removed when the request ends (no leak). */
  readonly inFlight: Set<AbortController>;
  /** Whether the fetcher was closed. */
  readonly closed: () => boolean;
  /** Whether a logger was given: without one, no log line is built. */
  readonly logs: boolean;
}

/** The two ways into a fetcher's requests. */
export interface Opener {
  /** Opens a request: resolves the response head once the first byte of the body is in hand. */
  open(target: string | URL, init?: InternalOpenInit): Promise<SliceResult>;
  /** The answer from memory, or `undefined` (then nothing happened: call {@link Opener.open}). */
  answerNow(target: string | URL, init?: InternalOpenInit): MemoryAnswer | undefined;
}

/**
 * Creates the request entry points of one fetcher.
 *
 * @example
 * ```ts
 * const opener = createOpener({ engine, locate, inFlight, closed: () => closed, logs: false });
 * const result = opener.answerNow(url, init) ?? (await opener.open(url, init));
 * ```
 */
export function createOpener(parts: OpenerParts): Opener {
  const { engine, locate, inFlight, closed, logs } = parts;
  const { telemetry, logger: log, config } = engine.deps;
  const cacheAuthorized = config.cachePolicy.cacheAuthorized;
  let sequence = 0;

  const answerNow = (target: string | URL, init: InternalOpenInit = {}): MemoryAnswer | undefined => {
    if (closed() || init.signal?.aborted === true) return undefined;
    let found: ReturnType<typeof findInMemory>;
    let input: ReturnType<typeof requestInput>;
    try {
      const location = locate(target);
      const headers = lowerCaseHeaders(init);
      const range = rangeHeader(init.range, headers.range);
      if (range !== undefined && range.length > MAX_RANGE_FIELD_LENGTH) return undefined;
      // The id this request gets if memory answers it; taken only then.
      const requestId = (sequence + 1).toString(36);
      input = requestInput(
        init,
        { location, requestId, headers, range, signal: UNUSED_SIGNAL },
        cacheAuthorized,
      );
      found = findInMemory(engine, input, parseRange(range));
    } catch {
      return undefined; // the general path meets the same error and reports it, events included
    }
    if (found === undefined) return undefined;
    sequence++;
    const { requestId, url, range } = input;
    const started = Date.now();
    telemetry.onRequestStart({ requestId, url, range });
    if (logs) log.debug({ requestId, url, range }, 'request start');
    const answer = answerFromMemory(engine, input, found);
    const { status, outcome } = answer;
    const bytes = answer.bytes;
    const durationMs = Date.now() - started;
    telemetry.onRequestEnd({ requestId, url, status, outcome, bytes, durationMs, error: undefined });
    if (logs)
      log.info({ requestId, url, range, status, outcome, bytes, durationMs, err: undefined }, 'request done');
    return answer;
  };

  const open = async (target: string | URL, init: InternalOpenInit = {}): Promise<SliceResult> => {
    const answered = init.triedMemory === true ? undefined : answerNow(target, init);
    if (answered !== undefined) return answered;
    if (closed()) throw new SliceFetchError('ERR_SLICE_CLOSED', 'This slice fetcher is closed.');
    const location = locate(target);
    const href = location.href;
    const requestId = `${(++sequence).toString(36)}`;
    const headers = lowerCaseHeaders(init);
    const started = Date.now();
    const range = rangeHeader(init.range, headers.range);
    const given = init.signal;
    // One controller per request, tied to the caller's signal by a listener removed when the request ends:
    // `AbortSignal.any()` with a fetcher-lifetime signal would keep a registration per request for good.
    const controller = new AbortController();
    // Before the start event: an invalid option (a `redirect` mode) rejects a request that never started.
    const input = requestInput(
      init,
      { location, requestId, headers, range, signal: controller.signal },
      cacheAuthorized,
    );
    telemetry.onRequestStart({ requestId, url: href, range });
    if (logs) log.debug({ requestId, url: href, range }, 'request start');
    const relay = (): void => controller.abort(given?.reason);
    let ended = false;
    const end = (status: number, outcome: RequestOutcome, bytes: number, error?: SliceFetchError): void => {
      if (ended) return;
      ended = true;
      inFlight.delete(controller);
      given?.removeEventListener('abort', relay);
      const durationMs = Date.now() - started;
      telemetry.onRequestEnd({ requestId, url: href, status, outcome, bytes, durationMs, error });
      if (logs)
        log.info(
          { requestId, url: href, range, status, outcome, bytes, durationMs, err: error?.message },
          'request done',
        );
    };
    try {
      if (given?.aborted === true) controller.abort(given.reason);
      else given?.addEventListener('abort', relay, { once: true });
      inFlight.add(controller);
      const result = await openRequest(engine, input);
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
      const error = controller.signal.aborted
        ? abortError(controller.signal.reason, `Request for ${href}`, { url: href })
        : toSliceFetchError(caught, { url: href });
      end(error.status, error.code === 'ERR_SLICE_ABORTED' ? 'aborted' : 'error', 0, error);
      throw error;
    }
  };

  return { open, answerNow };
}

// ---------------------------------------------------------------------------------------------------------

/** The signal of a request answered from memory: it has nothing to abort, and nobody listens to it. */
const UNUSED_SIGNAL = new AbortController().signal;
