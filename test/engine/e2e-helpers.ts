/**
 * @module Shared pieces of the engine's end-to-end tests: a fetcher registry closed after each test, body
 * readers that report a failure instead of throwing (so a test can tell "ended cleanly" from "errored"),
 * gates for deterministic concurrency, a multipart parser and a resource snapshot for leak checks.
 */
import type { Readable } from 'node:stream';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import { createSliceFetcher, type SliceFetcher, type SliceFetcherOptions } from '../../src/index.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Fetchers made by {@link makeFetcher}, closed by {@link closeFetchers}. */
const open = new Set<SliceFetcher>();

/**
 * Creates a fetcher (typed with the internal entry point) that {@link closeFetchers} closes.
 *
 * @example
 * const fetcher = makeFetcher({ sliceSize: 64 * KiB });
 */
export function makeFetcher(options: SliceFetcherOptions = {}): InternalSliceFetcher {
  const fetcher = createSliceFetcher(options) as InternalSliceFetcher;
  open.add(fetcher);
  return fetcher;
}

/**
 * Closes every fetcher made by {@link makeFetcher}; call it from `afterEach`.
 *
 * @example
 * afterEach(closeFetchers);
 */
export async function closeFetchers(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((fetcher) => fetcher.close()));
}

/** A body read to its end or to its failure. */
export interface Drained {
  readonly bytes: Buffer;
  /** Set when the body errored instead of ending cleanly. */
  readonly error?: unknown;
}

/**
 * Reads a `Response` body to its end; a body that errors resolves with the bytes before the error.
 *
 * @example
 * const { bytes, error } = await drain(await fetcher.fetch(url));
 */
export async function drain(res: Response): Promise<Drained> {
  const chunks: Uint8Array[] = [];
  if (res.body === null) return { bytes: Buffer.alloc(0) };
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { bytes: Buffer.concat(chunks) };
      chunks.push(value);
    }
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

/**
 * Reads a piece stream (object mode, items are arrays of chunks) to its end or failure.
 *
 * @example
 * const { bytes } = await drainPieces(result.body!);
 */
export async function drainPieces(stream: Readable): Promise<Drained> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const piece of stream) for (const chunk of piece as Uint8Array[]) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

/** A promise opened by hand: hand `promise` to an origin `wait` fault, call `open()` to release it. */
export interface Gate {
  readonly promise: Promise<void>;
  open(): void;
}

/**
 * Creates a {@link Gate}.
 *
 * @example
 * const gate = makeGate();
 * origin.addFault({ path, times: Infinity, fault: { type: 'wait', until: gate.promise } });
 * gate.open();
 */
export function makeGate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** One part of a `multipart/byteranges` body. */
export interface Part {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * Splits a `multipart/byteranges` body (RFC 9110 §14.6) into its parts, strictly: CRLF before each
 * delimiter, headers, an empty line, the body, and the closing delimiter at the very end.
 *
 * @example
 * const parts = parseMultipart(bytes, boundaryOf(res.headers.get('content-type')!));
 */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  if (at !== 0) throw new Error(`body does not start with the delimiter (found at ${at})`);
  for (;;) {
    at += delimiter.length;
    const after = body.subarray(at, at + 2).toString('latin1');
    if (after === '--') {
      if (at + 4 !== body.length || body.subarray(at + 2).toString('latin1') !== '\r\n')
        throw new Error('bytes after the closing delimiter');
      return parts;
    }
    if (after !== '\r\n') throw new Error(`expected CRLF after the delimiter, got ${JSON.stringify(after)}`);
    const headEnd = body.indexOf('\r\n\r\n', at + 2, 'latin1');
    if (headEnd < 0) throw new Error('part headers never end');
    const headers: Record<string, string> = {};
    for (const line of body
      .subarray(at + 2, headEnd)
      .toString('latin1')
      .split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const range = /^bytes (\d+)-(\d+)\/\d+$/.exec(headers['content-range'] ?? '');
    if (range === null) throw new Error(`part without a Content-Range: ${JSON.stringify(headers)}`);
    const length = Number(range[2]) - Number(range[1]) + 1;
    const start = headEnd + 4;
    parts.push({ headers, body: body.subarray(start, start + length) });
    at = start + length;
    if (body.indexOf(delimiter, at) !== at) throw new Error(`part body is not ${length} bytes long`);
  }
}

/**
 * The boundary parameter of a `multipart/byteranges` content type.
 *
 * @example
 * boundaryOf('multipart/byteranges; boundary=abc'); // 'abc'
 */
export function boundaryOf(contentType: string): string {
  const match = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/i.exec(contentType);
  if (match === null) throw new Error(`not multipart/byteranges: ${contentType}`);
  return match[2] as string;
}

/**
 * The active resources keeping the event loop alive, as a sorted multiset of type names.
 *
 * @example
 * const before = activeResources();
 */
export function activeResources(): string[] {
  return process.getActiveResourcesInfo().sort();
}

/**
 * Waits (a bounded number of `setImmediate` turns, no timers) until no resource type is more numerous than in
 * `before`, and returns the resources that are still in excess — empty unless something leaked. Resources
 * of `before` may be gone (the test runner's own timers come and go); new ones may not stay.
 *
 * @example
 * expect(await leakedResources(before)).toEqual([]);
 */
export async function leakedResources(before: readonly string[], turns = 200): Promise<string[]> {
  let extra = excess(activeResources(), before);
  for (let i = 0; i < turns && extra.length > 0; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    extra = excess(activeResources(), before);
  }
  return extra;
}

/**
 * The fetcher's stats once its own bookkeeping has caught up: waits (a bounded number of `setImmediate` turns,
 * no timers) until no request, sub-request or budget byte is left, and returns the stats either way — what the
 * origin sees as closed can still be settling in the fetcher's promise chains for a few turns.
 *
 * @example
 * expect((await quiescent(fetcher)).inFlightSlices).toBe(0);
 */
export async function quiescent(
  fetcher: SliceFetcher,
  turns = 500,
): Promise<ReturnType<SliceFetcher['stats']>> {
  const idle = (s: ReturnType<SliceFetcher['stats']>) =>
    s.activeRequests === 0 && s.inFlightSlices === 0 && s.bufferedBytes === 0;
  for (let i = 0; i < turns && !idle(fetcher.stats()); i++)
    await new Promise<void>((resolve) => setImmediate(resolve));
  return fetcher.stats();
}

// ---- module-private helpers

/** The items of `now` beyond their count in `before` (multiset difference). */
function excess(now: readonly string[], before: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const name of before) left.set(name, (left.get(name) ?? 0) + 1);
  const out: string[] = [];
  for (const name of now) {
    const n = left.get(name) ?? 0;
    if (n > 0) left.set(name, n - 1);
    else out.push(name);
  }
  return out;
}
