import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatContentRange,
  formatUnsatisfiedRange,
  parseContentRange,
} from '../../src/core/content-range.js';
import {
  type ByteRange,
  formatRange,
  type ParsedRange,
  parseRange,
  type RangeSpec,
  resolveRange,
} from '../../src/core/range.js';

const RUNS = { numRuns: 1000 };
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

// ---- An independent reference: the RFC 9110 ABNF as regular expressions, values as BigInt -------------

/** `"bytes=" 1#range-spec` with the recipient's list rule of RFC 9110 §5.6.1.2. */
const RANGES_ABNF = /^bytes=(?:,[ \t]*)*(?:\d+-\d*|-\d+)(?:[ \t]*,(?:[ \t]*(?:\d+-\d*|-\d+))?)*$/i;

function toNumber(digits: string): number {
  const value = BigInt(digits);
  return value > MAX ? Infinity : Number(value);
}

function referenceParse(header: string): ParsedRange {
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!RANGES_ABNF.test(value)) return { type: 'ignored', reason: 'reference' };
  const specs: RangeSpec[] = [];
  for (const element of value.slice(6).split(',')) {
    const text = element.replace(/^[ \t]+|[ \t]+$/g, '');
    if (text === '') continue;
    const suffix = /^-(\d+)$/.exec(text);
    if (suffix) {
      specs.push({ suffix: toNumber(suffix[1] as string) });
      continue;
    }
    const [, first = '', last = ''] = /^(\d+)-(\d*)$/.exec(text) ?? [];
    if (last === '') specs.push({ first: toNumber(first) });
    else if (BigInt(last) < BigInt(first)) return { type: 'ignored', reason: 'reference' };
    else specs.push({ first: toNumber(first), last: toNumber(last) });
  }
  return { type: 'specs', specs };
}

/** Strict `bytes first-last/length` or `bytes *\/length` (RFC 9110 §14.4). */
function referenceContentRange(value: string): string {
  const trimmed = value.replace(/^[ \t]+|[ \t]+$/g, '');
  const unsatisfied = /^bytes \*\/(\d+)$/i.exec(trimmed);
  if (unsatisfied) return BigInt(unsatisfied[1] as string) > MAX ? 'invalid' : 'unsatisfied';
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/i.exec(trimmed);
  if (!match) return 'invalid';
  const [start, end, size] = match.slice(1).map((digits) => BigInt(digits)) as [bigint, bigint, bigint];
  if (start > MAX || end > MAX || size > MAX || start > end || end >= size) return 'invalid';
  return 'range';
}

/** The sorted elementary intervals between all boundaries, each marked covered or not. */
function coverage(ranges: readonly ByteRange[], boundaries: readonly number[]): boolean[] {
  return boundaries.slice(0, -1).map((from) => ranges.some((r) => r.start <= from && from <= r.end));
}

function resolveOne(spec: RangeSpec, size: number): ByteRange | undefined {
  if ('suffix' in spec) {
    return spec.suffix === 0 || size === 0
      ? undefined
      : { start: Math.max(0, size - spec.suffix), end: size - 1 };
  }
  if (spec.first >= size) return undefined;
  return { start: spec.first, end: Math.min(spec.last ?? Infinity, size - 1) };
}

/** What the parser makes of a value: past 2^53 - 1 it is Infinity. */
function capped(value: number): number {
  return value > Number.MAX_SAFE_INTEGER ? Infinity : value;
}

// ---- Arbitraries --------------------------------------------------------------------------------------

const offset = fc.oneof(fc.nat(2000), fc.maxSafeNat());

const spec: fc.Arbitrary<RangeSpec> = fc.oneof(
  fc.tuple(offset, offset).map(([a, b]) => ({ first: Math.min(a, b), last: Math.max(a, b) })),
  offset.map((first) => ({ first })),
  offset.map((suffix) => ({ suffix })),
);

const TOKENS = [
  'bytes=',
  'bytes',
  'BYTES',
  'Bytes=',
  '=',
  '-',
  '-',
  ',',
  ',',
  ' ',
  '\t',
  '0',
  '1',
  '7',
  '42',
  '007',
  '9007199254740991',
  '9007199254740992',
  '99999999999999999999',
  'a',
  '+',
  '*',
  '/',
];

/** A soup of the grammar's characters after a plausible head: mostly malformed. */
const soup = fc
  .tuple(
    fc.constantFrom('bytes=', 'Bytes=', '', ' bytes=', 'bytes= ', 'bytes =', 'items='),
    fc.array(fc.constantFrom(...TOKENS), { maxLength: 24 }),
  )
  .map(([head, tokens]) => head + tokens.join(''));

const ows = fc.constantFrom('', '', ' ', '\t', '  ');
const digits = fc.oneof(
  fc.nat(1000).map(String),
  fc.maxSafeNat().map(String),
  fc.tuple(fc.constantFrom('0', '00', '000000000000000000'), fc.nat(99)).map(([zeros, n]) => zeros + n),
  fc.constantFrom('9007199254740991', '9007199254740992', '99999999999999999999', '99999999999999999998'),
);
const element = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(digits, digits).map(([a, b]) => `${a}-${b}`) },
  { weight: 3, arbitrary: digits.map((a) => `${a}-`) },
  { weight: 3, arbitrary: digits.map((n) => `-${n}`) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...TOKENS), { maxLength: 3 }).map((t) => t.join('')) },
);
const separator = fc.oneof(
  { weight: 12, arbitrary: fc.constant(',') },
  { weight: 1, arbitrary: fc.constantFrom(';', ' ', '=', ',,') },
);

/** Strings that follow the list structure of a Range field, with occasional wrong pieces: often valid. */
const grammarBiased = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('bytes=', 'Bytes=', 'BYTES=', 'bytes=,', 'bytes=, ') },
      { weight: 1, arbitrary: fc.constantFrom(' bytes=', 'bytes= ', 'bytes =', 'items=', 'bytes', '') },
    ),
    fc.array(fc.tuple(element, ows, separator, ows), { maxLength: 6 }),
    element,
    ows,
  )
  .map(([head, parts, last, tail]) => head + parts.map((p) => p.join('')).join('') + last + tail);

const specList = fc.array(
  fc.oneof(
    fc.tuple(fc.nat(300), fc.nat(300)).map(([a, b]) => ({ first: Math.min(a, b), last: Math.max(a, b) })),
    fc.nat(300).map((first): RangeSpec => ({ first })),
    fc.nat(300).map((suffix): RangeSpec => ({ suffix })),
  ),
  { minLength: 1, maxLength: 20 },
);

// ---- Properties ---------------------------------------------------------------------------------------

describe('P17 Range parse ∘ format', () => {
  it('round-trips any list of specs with safe-integer offsets', () => {
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 40 }), (specs) => {
        expect(parseRange(formatRange(specs), { maxLength: Infinity })).toEqual({ type: 'specs', specs });
      }),
      RUNS,
    );
  });

  it('formats byte ranges as int ranges that parse back to the same offsets', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(offset, offset), { minLength: 1, maxLength: 20 }), (pairs) => {
        const ranges = pairs.map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
        const parsed = parseRange(formatRange(ranges), { maxLength: Infinity });
        expect(parsed).toEqual({
          type: 'specs',
          specs: ranges.map((r) => ({ first: r.start, last: r.end })),
        });
      }),
      RUNS,
    );
  });

  it('never throws on arbitrary strings and agrees with the RFC 9110 ABNF', () => {
    const anyString = fc.oneof(
      { weight: 1, arbitrary: fc.string() },
      { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
      { weight: 1, arbitrary: soup },
      { weight: 4, arbitrary: grammarBiased },
    );
    fc.assert(
      fc.property(anyString, (header) => {
        const actual = parseRange(header);
        const expected = referenceParse(header);
        expect(actual.type).toBe(expected.type);
        if (expected.type === 'specs') expect(actual).toEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('P20 and resolution', () => {
  it('finds a list of specs that all start at or past the end, or are -0, unsatisfiable', () => {
    const unsatisfiable = fc
      .tuple(
        fc.oneof(fc.nat(1000), fc.maxSafeNat()),
        fc.array(fc.oneof(fc.constant(-1), fc.nat(1000), fc.constant(Infinity)), {
          minLength: 1,
          maxLength: 10,
        }),
      )
      .map(([size, extras]) => {
        const specs = extras.map((extra): RangeSpec => {
          if (extra === -1) return { suffix: 0 };
          const first = capped(size + extra);
          return extra % 2 === 0 ? { first } : { first, last: capped(first + extra) };
        });
        return { size, specs };
      });
    fc.assert(
      fc.property(unsatisfiable, ({ size, specs }) => {
        expect(resolveRange({ type: 'specs', specs }, size)).toEqual({ type: 'unsatisfiable' });
        expect(formatUnsatisfiedRange(size)).toBe(`bytes */${BigInt(size)}`);
      }),
      RUNS,
    );
  });

  it('resolves to disjoint, non-adjacent ranges inside the object covering the specs exactly, in request order', () => {
    fc.assert(
      fc.property(fc.nat(300), specList, (size, specs) => {
        const resolved = resolveRange({ type: 'specs', specs }, size, { maxRanges: Infinity });
        const individual = specs.map((s) => resolveOne(s, size)).filter((r) => r !== undefined);
        if (individual.length === 0) {
          expect(resolved).toEqual({ type: 'unsatisfiable' });
          return;
        }
        expect(resolved.type).toBe('satisfiable');
        if (resolved.type !== 'satisfiable') return;
        const { ranges } = resolved;
        const sorted = [...ranges].sort((a, b) => a.start - b.start);
        sorted.forEach((r, k) => {
          expect(0 <= r.start && r.start <= r.end && r.end <= size - 1).toBe(true);
          if (k > 0) expect(r.start).toBeGreaterThan((sorted[k - 1] as ByteRange).end + 1);
        });
        // RFC 9110 §15.3.7.2: each range stands where the first spec it covers was asked for.
        const firstAsked = (r: ByteRange) =>
          individual.findIndex((one) => one !== undefined && one.start >= r.start && one.end <= r.end);
        const positions = ranges.map(firstAsked);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
        const edges = [...new Set([...individual, ...ranges].flatMap((r) => [r.start, r.end + 1]))].sort(
          (a, b) => a - b,
        );
        expect(coverage(ranges, edges)).toEqual(coverage(individual, edges));
      }),
      RUNS,
    );
  });

  it('ignores exactly the requests with more coalesced ranges than maxRanges', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        specList,
        fc.integer({ min: 1, max: 8 }),
        (size, specs, max) => {
          const uncapped = resolveRange({ type: 'specs', specs }, size, { maxRanges: Infinity });
          const capped = resolveRange({ type: 'specs', specs }, size, { maxRanges: max });
          if (uncapped.type === 'satisfiable' && uncapped.ranges.length > max)
            expect(capped.type).toBe('ignored');
          else expect(capped).toEqual(uncapped);
        },
      ),
      RUNS,
    );
  });
});

describe('P19 Content-Range', () => {
  const inside = fc
    .tuple(fc.oneof(fc.nat(5000), fc.maxSafeNat()), fc.nat(), fc.nat())
    .filter(([size]) => size > 0)
    .map(([size, a, b]) => {
      const x = a % size;
      const y = b % size;
      return { range: { start: Math.min(x, y), end: Math.max(x, y) }, size };
    });

  it('formats exactly and parses back to the same range', () => {
    fc.assert(
      fc.property(inside, ({ range, size }) => {
        const value = formatContentRange(range, size);
        expect(value).toBe(`bytes ${BigInt(range.start)}-${BigInt(range.end)}/${BigInt(size)}`);
        expect(parseContentRange(value)).toEqual({ kind: 'range', start: range.start, end: range.end, size });
      }),
      RUNS,
    );
  });

  it('round-trips the 416 form', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (size) => {
        expect(parseContentRange(formatUnsatisfiedRange(size))).toEqual({ kind: 'unsatisfied', size });
      }),
      RUNS,
    );
  });

  it('never throws on arbitrary values and agrees with the strict grammar', () => {
    const pieces = fc
      .array(
        fc.constantFrom(
          'bytes',
          'BYTES',
          ' ',
          '0',
          '1',
          '9',
          '-',
          '/',
          '*',
          '9007199254740992',
          '99',
          'x',
          '\t',
        ),
        { maxLength: 14 },
      )
      .map((list) => list.join(''));
    const soup = fc.tuple(fc.constantFrom('bytes ', 'Bytes ', 'bytes', ''), pieces).map(([h, t]) => h + t);
    const number = fc.oneof(
      { weight: 4, arbitrary: fc.nat(20).map(String) },
      { weight: 1, arbitrary: fc.maxSafeNat().map(String) },
      { weight: 1, arbitrary: fc.constantFrom('', '007', '9007199254740991', '9007199254740992', '*') },
    );
    const structured = fc
      .tuple(
        fc.constantFrom('bytes ', 'bytes ', 'Bytes ', 'BYTES ', ' bytes ', 'bytes  ', 'bytes=', 'bytes\t'),
        fc.oneof(
          { weight: 3, arbitrary: fc.tuple(number, number, number).map(([a, b, c]) => `${a}-${b}/${c}`) },
          { weight: 1, arbitrary: number.map((n) => `*/${n}`) },
        ),
        fc.constantFrom('', '', '', '', ' ', 'x', '/1', '-', ',bytes 0-1/2'),
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), soup, structured, structured), (value) => {
        expect(parseContentRange(value).kind).toBe(referenceContentRange(value));
      }),
      { numRuns: 5000 },
    );
  });
});
