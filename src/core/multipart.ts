/**
 * `multipart/byteranges` framing (R10, RFC 9110 §14.6): the bytes written around each range's body, and
 * the exact `Content-Length` of the whole, computed before any body byte exists so the response can be
 * streamed slice by slice. The layout matches nginx's range filter byte for byte: every part head starts
 * with CRLF, and the body ends with CRLF `--boundary--` CRLF.
 *
 * @module
 */
import { formatContentRange } from './content-range.js';
import { SliceFetchError } from './errors.js';
import { type ByteRange, rangeLength } from './range.js';

/** The framing of a `multipart/byteranges` body; the range bodies go between the strings. */
export interface MultipartLayout {
  /** The boundary, as given. */
  readonly boundary: string;
  /** The response's `Content-Type`: `multipart/byteranges; boundary=…`. */
  readonly contentType: string;
  /**
   * For each range, the bytes to write before its body: CRLF, `--boundary`, the part headers, an empty
   * line. Pure ASCII, so its string length is its byte length.
   */
  readonly partHeads: readonly string[];
  /** Written after the last body: CRLF `--boundary--` CRLF. */
  readonly tail: string;
  /** The exact length of heads, range bodies and tail together, in bytes. */
  readonly contentLength: number;
}

/**
 * Lays out a `multipart/byteranges` body for `ranges` of an object of `size` bytes. Each part carries
 * `Content-Type: partContentType` (when known) and `Content-Range: bytes a-b/size`. The boundary comes from
 * the caller — the core has no randomness — and must be 1–70 characters of `[0-9A-Za-z'+_.-]`, which need
 * no quoting in the `Content-Type` parameter (RFC 2046 §5.1.1 allows more, but these suffice).
 *
 * A part content type that is not printable ASCII is left out rather than risk a broken head: a CR or LF
 * would let an origin inject lines, and a non-ASCII character would make the byte count wrong.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` for an invalid boundary; `ERR_SLICE_RANGE` for no ranges or
 * a range outside `[0, size − 1]`.
 * @example
 * ```ts
 * const layout = multipartLayout([{ start: 0, end: 1 }, { start: 8, end: 9 }], 10, 'text/plain', 'b0undary');
 * layout.contentType; // 'multipart/byteranges; boundary=b0undary'
 * layout.partHeads[0]; // '\r\n--b0undary\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n'
 * layout.tail; // '\r\n--b0undary--\r\n'
 * layout.contentLength; // 2 heads of 71 + 2 + 2 body bytes + a tail of 16 = 162
 * ```
 */
export function multipartLayout(
  ranges: readonly ByteRange[],
  size: number,
  partContentType: string | undefined,
  boundary: string,
): MultipartLayout {
  if (!BOUNDARY.test(boundary)) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected \`boundary\` to be 1 to 70 characters of [0-9A-Za-z'+_.-], got \`${boundary}\`.`,
    );
  }
  if (ranges.length === 0) {
    throw new SliceFetchError(
      'ERR_SLICE_RANGE',
      'Expected at least one range for a multipart/byteranges body.',
    );
  }
  const typeLine =
    partContentType !== undefined && PRINTABLE.test(partContentType)
      ? `Content-Type: ${partContentType}\r\n`
      : '';
  const prefix = `\r\n--${boundary}\r\n${typeLine}Content-Range: `;
  const tail = `\r\n--${boundary}--\r\n`;
  const partHeads: string[] = new Array(ranges.length);
  let contentLength = tail.length;
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i] as ByteRange;
    // formatContentRange validates 0 <= start <= end < size, all safe integers.
    const head = `${prefix}${formatContentRange(range, size)}\r\n\r\n`;
    partHeads[i] = head;
    contentLength += head.length + rangeLength(range);
  }
  return {
    boundary,
    contentType: `multipart/byteranges; boundary=${boundary}`,
    partHeads,
    tail,
    contentLength,
  };
}

// ---------------------------------------------------------------------------------------------------------

const BOUNDARY = /^[0-9A-Za-z'+_.-]{1,70}$/;
/** A field value that is visible ASCII with inner spaces or tabs: no CR, LF, NUL or non-ASCII. */
const PRINTABLE = /^[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?$/;
