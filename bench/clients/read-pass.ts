/**
 * One timed pass of a slice-fetch benchmark client: fetch `url` through the internal Node entry (`open`; or
 * `recycled`, giving each piece back as the handler does) or the public `fetch()` Response, count (and optionally
 * hash) the bytes, drop them.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { type InternalSliceFetcher, openSymbol } from '../../src/engine/fetcher-types.js';
import { byteSink, type PassResult, startPass } from './protocol.js';

/** Reads `url` once through `fetcher` by the chosen entry. */
export async function readPass(
  fetcher: InternalSliceFetcher,
  url: string,
  entry: 'open' | 'recycled' | 'response',
  verify: boolean,
): Promise<PassResult> {
  const sink = byteSink(verify ? createHash('sha256') : undefined);
  const stop = startPass();
  if (entry === 'open' || entry === 'recycled') {
    // `recycled`: as createSliceHandler() reads, giving each piece back once its bytes are out.
    const recycle = entry === 'recycled';
    const result = await fetcher[openSymbol](url, { recycle });
    // for-await over an object-mode stream costs one promise per piece (one per 1 MiB slice): negligible.
    if (result.body !== undefined)
      for await (const piece of result.body) {
        for (const chunk of piece) sink.add(chunk);
        if (recycle) result.release?.(piece);
      }
    return { ...stop(), bytes: sink.bytes, status: result.status, sha256: sink.digest() };
  }
  const response = await fetcher.fetch(url);
  const reader = response.body?.getReader();
  if (reader !== undefined) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.add(value);
    }
  }
  return { ...stop(), bytes: sink.bytes, status: response.status, sha256: sink.digest() };
}
