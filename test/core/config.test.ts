import { describe, expect, expectTypeOf, it } from 'vitest';
import * as z from 'zod/mini';
import {
  DEFAULT_CONFIG,
  describeConfig,
  parseConfig,
  sliceFetchConfigSchema,
} from '../../src/core/config.js';
import type { SliceFetchConfig, SliceFetchConfigInput } from '../../src/core/config-types.js';
import { isSliceFetchError, type SliceFetchError } from '../../src/core/errors.js';

function configError(input: unknown): SliceFetchError {
  try {
    parseConfig(input);
  } catch (error) {
    if (isSliceFetchError(error)) return error;
    throw error;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(input)}`);
}

function leaves(value: object, prefix = ''): [string, unknown][] {
  return Object.entries(value).flatMap(([key, v]): [string, unknown][] =>
    typeof v === 'object' && v !== null ? leaves(v, `${prefix}${key}.`) : [[`${prefix}${key}`, v]],
  );
}

describe('parseConfig', () => {
  it('fills every default for an empty or missing input', () => {
    expect(parseConfig({})).toEqual(DEFAULT_CONFIG);
    expect(parseConfig(undefined)).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG).toEqual({
      sliceSize: 1048576,
      concurrency: 8,
      originConnections: 16,
      maxBufferedBytes: 128 * 1048576,
      maxRanges: 16,
      maxObjectSize: Number.MAX_SAFE_INTEGER,
      coalesce: 'cancel',
      retry: { retries: 3, baseDelayMs: 100, maxDelayMs: 5000, deadlineMs: 60000 },
      timeouts: { headersMs: 15000, bodyMs: 30000, cacheMs: 2000, coalesceMs: 30000, sliceMs: 60000 },
      cachePolicy: {
        defaultTtlMs: 300000,
        maxTtlMs: 604800000,
        honorCacheControl: true,
        cacheAuthorized: false,
      },
    });
  });

  it('keeps the defaults of a nested section when only one of its options is given', () => {
    const config = parseConfig({ retry: { retries: 0 }, cachePolicy: { cacheAuthorized: true } });
    expect(config.retry).toEqual({ ...DEFAULT_CONFIG.retry, retries: 0 });
    expect(config.cachePolicy).toEqual({ ...DEFAULT_CONFIG.cachePolicy, cacheAuthorized: true });
  });

  it('returns a frozen configuration', () => {
    const config = parseConfig({ sliceSize: 65536 });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.retry)).toBe(true);
    expect(Object.isFrozen(DEFAULT_CONFIG.cachePolicy)).toBe(true);
  });

  it('words an out-of-range integer with the path and its bounds', () => {
    const error = configError({ sliceSize: 0 });
    expect(error.code).toBe('ERR_SLICE_CONFIG');
    expect(error.retryable).toBe(false);
    expect(error.details.paths).toEqual(['sliceSize']);
    expect(error.message).toBe(
      'Invalid slice-fetch configuration:\nExpected `sliceSize` to be an integer between 65536 and 67108864, got `0`.',
    );
  });

  it('words a value outside an enumeration', () => {
    expect(configError({ coalesce: 'x' }).message).toBe(
      'Invalid slice-fetch configuration:\nExpected `coalesce` to be one of `cancel`, `complete`, got `x`.',
    );
  });

  it('rejects unknown options, nested ones with their full path', () => {
    const error = configError({ foo: 1, retry: { tries: 2 } });
    expect(error.message).toContain('Unknown option `foo`.');
    expect(error.message).toContain('Unknown option `retry.tries`.');
    expect([...(error.details.paths ?? [])].sort()).toEqual(['foo', 'retry.tries']);
  });

  it('shows a string given for a boolean in quotes', () => {
    expect(configError({ cachePolicy: { honorCacheControl: 'yes' } }).message).toBe(
      'Invalid slice-fetch configuration:\nExpected `cachePolicy.honorCacheControl` to be a boolean, got `"yes"`.',
    );
  });

  it('writes one sentence per bad path, one per line', () => {
    const error = configError({
      sliceSize: 1.5,
      concurrency: '8',
      retry: { retries: 21 },
      timeouts: { bodyMs: NaN },
    });
    expect(error.message.split('\n')).toEqual([
      'Invalid slice-fetch configuration:',
      'Expected `sliceSize` to be an integer between 65536 and 67108864, got `1.5`.',
      'Expected `concurrency` to be an integer between 1 and 64, got `"8"`.',
      'Expected `retry.retries` to be an integer between 0 and 20, got `21`.',
      'Expected `timeouts.bodyMs` to be an integer between 100 and 600000, got `NaN`.',
    ]);
    expect(error.details.paths).toEqual(['sliceSize', 'concurrency', 'retry.retries', 'timeouts.bodyMs']);
  });

  it('requires the memory budget to hold at least one slice', () => {
    const error = configError({ sliceSize: 64 * 1048576, maxBufferedBytes: 32 * 1048576 });
    expect(error.details.paths).toEqual(['maxBufferedBytes']);
    expect(error.message).toContain(
      'Expected `maxBufferedBytes` to be at least `sliceSize` (67108864), got `33554432`.',
    );
    expect(parseConfig({ sliceSize: 2 * 1048576, maxBufferedBytes: 2 * 1048576 }).maxBufferedBytes).toBe(
      2 * 1048576,
    );
  });

  it('rejects a configuration or section that is not an object', () => {
    expect(configError(null).message).toContain('Expected the configuration to be an object, got `null`.');
    expect(configError([]).message).toContain('Expected the configuration to be an object, got `[]`.');
    expect(configError({ retry: 3 }).message).toContain('Expected `retry` to be an object, got `3`.');
    expect(configError({ cachePolicy: 'on' }).details.paths).toEqual(['cachePolicy']);
  });

  it('shortens a long offending value', () => {
    const message = configError({ coalesce: { a: 'x'.repeat(500) } }).message;
    expect(message.length).toBeLessThan(200);
    expect(message).toContain('...`.');
  });
});

describe('describeConfig', () => {
  it('documents every option with the default the parser applies', () => {
    const docs = describeConfig();
    expect(docs.map((d) => d.path)).toEqual(leaves(DEFAULT_CONFIG).map(([path]) => path));
    for (const [path, value] of leaves(DEFAULT_CONFIG)) {
      expect(docs.find((d) => d.path === path)?.default).toBe(value);
    }
    for (const doc of docs) expect(doc.description.length).toBeGreaterThan(10);
  });

  it('states the same bounds the parser enforces', () => {
    for (const doc of describeConfig()) {
      if (doc.type !== 'integer') continue;
      const [section, key] = doc.path.includes('.') ? doc.path.split('.') : [undefined, doc.path];
      const at = (value: number) =>
        section === undefined ? { [key as string]: value } : { [section]: { [key as string]: value } };
      const budget = doc.path === 'sliceSize' ? { maxBufferedBytes: 64 * 1024 ** 3 } : {};
      expect(() => parseConfig({ ...budget, ...at(doc.min as number) })).not.toThrow();
      expect(() => parseConfig({ ...budget, ...at(doc.max as number) })).not.toThrow();
      if ((doc.min as number) > 0) {
        expect(configError(at((doc.min as number) - 1)).message).toContain(
          `between ${doc.min} and ${doc.max}`,
        );
      }
    }
  });

  it('describes the enumeration and booleans by type', () => {
    const byPath = new Map(describeConfig().map((d) => [d.path, d]));
    expect(byPath.get('coalesce')?.type).toBe("'cancel' | 'complete'");
    expect(byPath.get('cachePolicy.cacheAuthorized')?.type).toBe('boolean');
  });
});

describe('sliceFetchConfigSchema', () => {
  it('can be extended by the CLI loader and keeps the cross-field check', () => {
    const extended = z.safeExtend(sliceFetchConfigSchema, { listen: z._default(z.string(), ':8080') });
    expect(extended.parse({}).listen).toBe(':8080');
    expect(extended.safeParse({ sliceSize: 64 * 1048576, maxBufferedBytes: 1048576 }).success).toBe(false);
    expect(sliceFetchConfigSchema.safeParse({ nope: 1 }).success).toBe(false);
  });

  it('has input and output types matching the hand-written interfaces', () => {
    expectTypeOf<SliceFetchConfigInput>().toExtend<z.input<typeof sliceFetchConfigSchema>>();
    expectTypeOf<z.output<typeof sliceFetchConfigSchema>>().toExtend<SliceFetchConfig>();
    expectTypeOf(parseConfig).returns.toEqualTypeOf<SliceFetchConfig>();
    expect(sliceFetchConfigSchema.parse({})).toEqual(DEFAULT_CONFIG);
  });
});
