import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, describeConfig, parseConfig } from '../../src/core/config.js';
import type { ConfigOptionDoc } from '../../src/core/config-types.js';
import { isSliceFetchError } from '../../src/core/errors.js';

const DOCS = describeConfig();
const INTEGERS = DOCS.filter((d) => d.type === 'integer');
const BOOLEANS = DOCS.filter((d) => d.type === 'boolean');
const KNOWN_KEYS = new Set(DOCS.flatMap((d) => d.path.split('.')));
const SECTIONS = ['retry', 'timeouts', 'cachePolicy'];
/** Lets any sliceSize and any maxBufferedBytes pass the cross-field check on their own. */
const ROOMY = { sliceSize: 65536, maxBufferedBytes: 64 * 1024 ** 3 };

function withValue(path: string, value: unknown): Record<string, unknown> {
  const [first, second] = path.split('.') as [string, string | undefined];
  return second === undefined ? { [first]: value } : { [first]: { [second]: value } };
}

function readPath(config: object, path: string): unknown {
  return path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown>)[key], config);
}

function failure(input: unknown): { message: string; paths: readonly string[] } {
  try {
    parseConfig(input);
  } catch (error) {
    if (!isSliceFetchError(error) || error.code !== 'ERR_SLICE_CONFIG') throw error;
    return { message: error.message, paths: error.details.paths ?? [] };
  }
  throw new Error(`accepted ${String(input)}`);
}

const integerOption = fc.constantFrom(...INTEGERS);
const inside = (d: ConfigOptionDoc) => fc.integer({ min: d.min as number, max: d.max as number });
const notAnInteger = fc.oneof(
  fc.double({ noInteger: true }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);

describe('P1: configuration ranges are enforced', () => {
  it('accepts every integer inside the bounds and round-trips it', () => {
    fc.assert(
      fc.property(
        integerOption.chain((d) => fc.tuple(fc.constant(d), inside(d))),
        ([doc, value]) => {
          const config = parseConfig({ ...ROOMY, ...withValue(doc.path, value) });
          expect(readPath(config, doc.path)).toBe(value);
          expect(parseConfig(config)).toEqual(config);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('rejects integers outside the bounds, naming the path and the bounds', () => {
    const outside = (d: ConfigOptionDoc) =>
      fc.oneof(
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: (d.min as number) - 1 }),
        (d.max as number) < Number.MAX_SAFE_INTEGER
          ? fc.integer({ min: (d.max as number) + 1, max: Number.MAX_SAFE_INTEGER })
          : fc.constant(2 ** 60),
      );
    fc.assert(
      fc.property(
        integerOption.chain((d) => fc.tuple(fc.constant(d), outside(d))),
        ([doc, value]) => {
          const { message, paths } = failure(withValue(doc.path, value));
          expect(paths).toEqual([doc.path]);
          expect(message).toBe(
            `Invalid slice-fetch configuration:\nExpected \`${doc.path}\` to be an integer between ${doc.min} and ${doc.max}, got \`${value}\`.`,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('rejects non-integers, NaN, infinities, strings and other types with the same sentence', () => {
    fc.assert(
      fc.property(integerOption, notAnInteger, (doc, value) => {
        const { message, paths } = failure(withValue(doc.path, value));
        expect(paths).toEqual([doc.path]);
        expect(message).toContain(
          `Expected \`${doc.path}\` to be an integer between ${doc.min} and ${doc.max}, got \``,
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects anything but a boolean for a boolean option, and unknown values of coalesce', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BOOLEANS),
        fc.anything().filter((v) => typeof v !== 'boolean' && v !== undefined),
        (doc, value) => {
          const { message, paths } = failure(withValue(doc.path, value));
          expect(paths).toEqual([doc.path]);
          expect(message).toContain(`Expected \`${doc.path}\` to be a boolean, got \``);
        },
      ),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(
        fc.string().filter((s) => s !== 'cancel' && s !== 'complete'),
        (value) => {
          expect(failure({ coalesce: value }).message).toContain(
            'Expected `coalesce` to be one of `cancel`, `complete`, got `',
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('rejects unknown keys at the top and in every section', () => {
    const unknownKey = fc
      .string({ minLength: 1, maxLength: 20 })
      .filter((k) => !KNOWN_KEYS.has(k) && !SECTIONS.includes(k));
    fc.assert(
      fc.property(fc.constantFrom(undefined, ...SECTIONS), unknownKey, (section, key) => {
        const input = section === undefined ? { [key]: 1 } : { [section]: { [key]: 1 } };
        const path = section === undefined ? key : `${section}.${key}`;
        const { message, paths } = failure(input);
        expect(paths).toEqual([path]);
        expect(message).toBe(`Invalid slice-fetch configuration:\nUnknown option \`${path}\`.`);
      }),
      { numRuns: 1000 },
    );
  });

  it('applies the default for every option left out of a random valid input', () => {
    const valid = fc.record(
      Object.fromEntries(
        DOCS.map((d) => [
          d.path,
          d.type === 'integer'
            ? inside(d)
            : d.type === 'boolean'
              ? fc.boolean()
              : fc.constantFrom('cancel', 'complete'),
        ]),
      ),
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(valid, (chosen) => {
        const sliceSize = (chosen.sliceSize as number | undefined) ?? DEFAULT_CONFIG.sliceSize;
        const budget = (chosen.maxBufferedBytes as number | undefined) ?? DEFAULT_CONFIG.maxBufferedBytes;
        fc.pre(budget >= sliceSize);
        const input: Record<string, Record<string, unknown> | unknown> = {};
        for (const [path, value] of Object.entries(chosen)) {
          const [first, second] = path.split('.') as [string, string | undefined];
          if (second === undefined) input[first] = value;
          else input[first] = { ...(input[first] as Record<string, unknown> | undefined), [second]: value };
        }
        const config = parseConfig(input);
        for (const doc of DOCS) {
          expect(readPath(config, doc.path)).toBe(doc.path in chosen ? chosen[doc.path] : doc.default);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws anything but ERR_SLICE_CONFIG on arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        try {
          parseConfig(input);
        } catch (error) {
          expect(isSliceFetchError(error) && error.code).toBe('ERR_SLICE_CONFIG');
          expect((error as Error).message.startsWith('Invalid slice-fetch configuration:\n')).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
