/**
 * The body of a sliced response: one reader per range (`slice-reader.ts`), framed as `multipart/byteranges`
 * when there are several (RFC 9110 §14.6), with the head's framing fields and the slice indexes it will read.
 * Readers are made lazily, one range after the other.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { SliceFetchError } from '../core/errors.js';
import { multipartLayout } from '../core/multipart.js';
import { planSlices } from '../core/plan.js';
import { type ByteRange, rangeLength } from '../core/range.js';
import { withoutCredentials } from '../core/scope.js';
import type { ObjectMetadata } from './metadata.js';
import { type PieceSource, staticSource } from './piece-stream.js';
import type { Engine, OpenInput } from './request-types.js';
import { singleRangeHeaders } from './response-heads.js';
import { type ReadContext, SliceReader } from './slice-reader.js';
import { versionKeys } from './version-keys.js';

/** The head fields and the lazily made sources of a body of one or several ranges. */
export interface Body {
  readonly headers: Record<string, string>;
  readonly makers: (() => PieceSource)[];
  readonly sources: { cache: number; origin: number };
  /** The slice indexes the body reads, each once. */
  readonly indexes: ReadonlySet<number>;
  /** Pieces up to and including the first slice's (a multipart body starts with a part head). */
  readonly primeCount: number;
  readonly keyOf: (index: number) => string;
}

export function bodyOf(
  engine: Engine,
  input: OpenInput,
  meta: ObjectMetadata,
  ranges: readonly ByteRange[],
  status: number,
  base: Record<string, string>,
): Body {
  const { sliceSize } = engine.deps.config;
  const total = ranges.reduce((sum, range) => sum + rangeLength(range), 0);
  const sources = { cache: 0, origin: 0 };
  const keyOf = versionKeys(meta, sliceSize);
  const ctx: ReadContext = {
    engine,
    meta,
    keyOf,
    // Slices come from where redirects led, without credentials if one crossed to another origin.
    url: meta.location ?? input.url,
    requestId: input.requestId,
    headers: meta.withoutCredentials === true ? withoutCredentials(input.forward) : input.forward,
    signal: input.signal,
    sources,
    recycle: input.recycle === true,
    // Scan resistance: a response larger than the store's budget would only flush it (`CacheStorage.maxBytes`).
    store: meta.cacheable && engine.cache.admits(total),
  };
  const indexes = new Set<number>();
  const reader = (range: ByteRange): (() => PieceSource) => {
    const plan = planSlices(meta.size, sliceSize, range);
    for (let index = plan.firstIndex; index <= plan.lastIndex && plan.count > 0; index++) indexes.add(index);
    return () => readerSource(new SliceReader(ctx, plan));
  };
  if (ranges.length <= 1) {
    const range = ranges[0];
    return {
      headers: singleRangeHeaders(base, range, status, meta.size),
      makers: range === undefined ? [] : [reader(range)],
      sources,
      indexes,
      keyOf,
      primeCount: 1,
    };
  }
  const boundary = randomBytes(12).toString('hex');
  const layout = multipartLayout(ranges, meta.size, meta.headers['content-type'], boundary);
  const headers = {
    ...base,
    'content-type': layout.contentType,
    'content-length': String(layout.contentLength),
  };
  const makers: (() => PieceSource)[] = [];
  ranges.forEach((range, i) => {
    makers.push(() => staticSource([[Buffer.from(layout.partHeads[i] as string, 'latin1')]]));
    makers.push(reader(range));
  });
  makers.push(() => staticSource([[Buffer.from(layout.tail, 'latin1')]]));
  return { headers, makers, sources, indexes, keyOf, primeCount: 2 };
}

function readerSource(reader: SliceReader): PieceSource {
  return {
    next: () => reader.next(),
    cancel: (error) => reader.cancel(error instanceof SliceFetchError ? error : undefined),
  };
}
