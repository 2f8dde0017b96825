/**
 * Byte chunk lists: a slice is kept as the chunks it arrived in, never concatenated (a copy of every byte
 * costs more than the network on loopback — see design.md "Never copy slice bytes"). Sub-ranges are `subarray` views.
 *
 * @module
 */

/** The chunks of one slice or part of it, in order. */
export type Chunks = readonly Uint8Array[];

/**
 * Total length of `chunks` in bytes.
 *
 * @example
 * ```ts
 * chunksLength([new Uint8Array(3), new Uint8Array(4)]); // 7
 * ```
 */
export function chunksLength(chunks: Chunks): number {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  return total;
}

/**
 * The bytes `[start, end]` (inclusive, relative to the first chunk's first byte) of `chunks` as views —
 * no byte is copied. Returns `chunks` itself when the whole list is asked for.
 *
 * @example
 * ```ts
 * sliceChunks([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)], 1, 3); // [ [2, 3], [4] ]
 * ```
 */
export function sliceChunks(chunks: Chunks, start: number, end: number): Chunks {
  if (start === 0 && end === chunksLength(chunks) - 1) return chunks;
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const chunkEnd = offset + chunk.byteLength; // exclusive
    if (chunkEnd > start && offset <= end) {
      const from = Math.max(start - offset, 0);
      const to = Math.min(end + 1 - offset, chunk.byteLength);
      out.push(from === 0 && to === chunk.byteLength ? chunk : chunk.subarray(from, to));
    }
    if (chunkEnd > end) break;
    offset = chunkEnd;
  }
  return out;
}
