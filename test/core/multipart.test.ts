import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { type MultipartLayout, multipartLayout } from '../../src/core/multipart.js';
import type { ByteRange } from '../../src/core/range.js';

const RUNS = { numRuns: 1000 };

describe('multipartLayout', () => {
  it('frames parts exactly like nginx: CRLF before every delimiter, CRLF after the close delimiter', () => {
    const layout = multipartLayout(
      [
        { start: 0, end: 1 },
        { start: 8, end: 9 },
      ],
      10,
      'text/plain',
      '00000000000000000001',
    );
    expect(layout).toEqual({
      boundary: '00000000000000000001',
      contentType: 'multipart/byteranges; boundary=00000000000000000001',
      partHeads: [
        '\r\n--00000000000000000001\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n',
        '\r\n--00000000000000000001\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n',
      ],
      tail: '\r\n--00000000000000000001--\r\n',
      contentLength: 2 * 83 + 4 + 28,
    });
    const body = frame(layout, ascii('0123456789'), [
      { start: 0, end: 1 },
      { start: 8, end: 9 },
    ]);
    expect(body.length).toBe(layout.contentLength);
  });

  it('leaves out the part Content-Type when it is unknown', () => {
    const layout = multipartLayout([{ start: 5, end: 5 }], 6, undefined, 'b');
    expect(layout.partHeads).toEqual(['\r\n--b\r\nContent-Range: bytes 5-5/6\r\n\r\n']);
    expect(layout.contentLength).toBe((layout.partHeads[0]?.length ?? 0) + 1 + layout.tail.length);
  });

  it.each([
    'text/html\r\nX-Injected: 1',
    'text/plain\n',
    '',
    ' text/plain',
    'text/plain; name=caf\u00e9',
    'a\u0000b',
  ])('leaves out a part Content-Type that is not printable ASCII: %j', (type) => {
    const layout = multipartLayout([{ start: 0, end: 0 }], 1, type, 'b');
    expect(layout.partHeads[0]).toBe('\r\n--b\r\nContent-Range: bytes 0-0/1\r\n\r\n');
  });

  it('keeps a content type with parameters', () => {
    const layout = multipartLayout([{ start: 0, end: 0 }], 1, 'text/plain; charset=utf-8', 'b');
    expect(layout.partHeads[0]).toContain('\r\nContent-Type: text/plain; charset=utf-8\r\n');
  });

  it('counts offsets up to 2^53 - 1 exactly', () => {
    const size = Number.MAX_SAFE_INTEGER;
    const range = { start: size - 10, end: size - 1 };
    const layout = multipartLayout([range], size, undefined, 'b');
    expect(layout.partHeads[0]).toBe(
      `\r\n--b\r\nContent-Range: bytes ${size - 10}-${size - 1}/${size}\r\n\r\n`,
    );
    expect(layout.contentLength).toBe((layout.partHeads[0]?.length ?? 0) + 10 + layout.tail.length);
  });

  it.each(['', 'a'.repeat(71), 'has space', 'semi;colon', 'quote"', 'caf\u00e9', 'line\r\nbreak'])(
    'rejects the boundary %j with ERR_SLICE_CONFIG',
    (boundary) => {
      expect(codeOf(() => multipartLayout([{ start: 0, end: 0 }], 1, undefined, boundary))).toBe(
        'ERR_SLICE_CONFIG',
      );
    },
  );

  it('accepts a 70-character boundary', () => {
    expect(multipartLayout([{ start: 0, end: 0 }], 1, undefined, 'a'.repeat(70)).boundary).toHaveLength(70);
  });

  it.each<[string, ByteRange[], number]>([
    ['no range', [], 10],
    ['a range past the end', [{ start: 5, end: 10 }], 10],
    ['an inverted range', [{ start: 5, end: 4 }], 10],
    ['a negative start', [{ start: -1, end: 4 }], 10],
    ['a fractional offset', [{ start: 0.5, end: 4 }], 10],
  ])('rejects %s with ERR_SLICE_RANGE', (_title, ranges, size) => {
    expect(codeOf(() => multipartLayout(ranges, size, undefined, 'b'))).toBe('ERR_SLICE_RANGE');
  });

  it('announces the exact length of the framed body for any ranges (P19, P11)', () => {
    fc.assert(
      fc.property(layoutCase, ({ object, ranges, type, boundary }) => {
        const layout = multipartLayout(ranges, object.length, type, boundary);
        expect(frame(layout, object, ranges).length).toBe(layout.contentLength);
        expect(layout.contentType).toBe(`multipart/byteranges; boundary=${boundary}`);
      }),
      RUNS,
    );
  });

  it('frames a body that a multipart parser reads back into the requested ranges (P19)', () => {
    fc.assert(
      fc.property(layoutCase, ({ object, ranges, type, boundary }) => {
        const body = frame(multipartLayout(ranges, object.length, type, boundary), object, ranges);
        fc.pre(!latin1(object).includes(`\r\n--${boundary}`));
        const parts = parseMultipart(body, boundary);
        expect(parts).toHaveLength(ranges.length);
        parts.forEach((part, i) => {
          const range = ranges[i] as ByteRange;
          const expected: Record<string, string> = {
            'content-range': `bytes ${range.start}-${range.end}/${object.length}`,
          };
          if (type !== undefined) expected['content-type'] = type;
          expect(part.headers).toEqual(expected);
          expect(part.body).toEqual(object.subarray(range.start, range.end + 1));
        });
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------

const BCHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'+_.-";

/** An object, some ranges inside it (any order, overlaps allowed), a part type and a boundary. */
const layoutCase = fc.uint8Array({ minLength: 1, maxLength: 300 }).chain((object) =>
  fc.record({
    object: fc.constant(object),
    ranges: fc.array(
      fc
        .tuple(fc.nat({ max: object.length - 1 }), fc.nat({ max: object.length - 1 }))
        .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) })),
      { minLength: 1, maxLength: 8 },
    ),
    type: fc.option(fc.constantFrom('application/octet-stream', 'video/mp4', 'text/plain; charset=utf-8'), {
      nil: undefined,
    }),
    boundary: fc.string({ unit: fc.constantFrom(...BCHARS), minLength: 1, maxLength: 70 }),
  }),
);

/** Writes heads, range bodies and tail the way the engine streams them. */
function frame(layout: MultipartLayout, object: Uint8Array, ranges: readonly ByteRange[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  ranges.forEach((range, i) => {
    chunks.push(ascii(layout.partHeads[i] ?? ''), object.subarray(range.start, range.end + 1));
  });
  chunks.push(ascii(layout.tail));
  const body = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/**
 * A strict `multipart/byteranges` reader (RFC 2046 §5.1.1, RFC 9110 §14.6): the CRLF before each
 * delimiter belongs to the delimiter; after the close delimiter only CRLF may follow.
 */
function parseMultipart(
  body: Uint8Array,
  boundary: string,
): Array<{ headers: Record<string, string>; body: Uint8Array }> {
  const text = latin1(body);
  const delimiter = `\r\n--${boundary}`;
  const parts: Array<{ headers: Record<string, string>; body: Uint8Array }> = [];
  // The first delimiter may omit its CRLF when it opens the body.
  let position = text.startsWith(delimiter) ? 0 : text.startsWith(`--${boundary}`) ? -2 : -1;
  if (position === -1) throw new Error('body does not start with a delimiter');
  for (;;) {
    position += delimiter.length;
    if (text.startsWith('--', position)) {
      if (text.slice(position + 2) !== '\r\n') throw new Error('unexpected bytes after the close delimiter');
      return parts;
    }
    if (!text.startsWith('\r\n', position)) throw new Error(`no CRLF after the delimiter at ${position}`);
    const headerEnd = text.indexOf('\r\n\r\n', position);
    if (headerEnd < 0) throw new Error('unterminated part headers');
    const headers: Record<string, string> = {};
    for (const line of text.slice(position + 2, headerEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed part header ${JSON.stringify(line)}`);
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = text.indexOf(delimiter, headerEnd + 4);
    if (next < 0) throw new Error('missing close delimiter');
    parts.push({ headers, body: body.subarray(headerEnd + 4, next) });
    position = next;
  }
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isSliceFetchError(error) ? error.code : 'not a SliceFetchError';
  }
  return undefined;
}
