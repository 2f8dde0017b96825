/**
 * Bad options are refused where they are given, with a typed error (`ERR_SLICE_CONFIG`) naming the option —
 * never accepted to fail later, never a bare `TypeError` or `RangeError` (R17, R21).
 */
import { describe, expect, it } from 'vitest';
import {
  createSliceFetcher,
  fsStorage,
  isSliceFetchError,
  memoryStorage,
  tieredStorage,
} from '../../src/index.js';
import { redisStorage } from '../../src/storage/redis.js';

function thrown(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('options refused at construction', () => {
  const cases: [string, () => unknown, string][] = [
    ['createSliceFetcher(null)', () => createSliceFetcher(null as never), 'options'],
    ['createSliceFetcher({ cache: {} })', () => createSliceFetcher({ cache: {} as never }), 'cache'],
    [
      'createSliceFetcher({ transport: {} })',
      () => createSliceFetcher({ transport: {} as never }),
      'transport',
    ],
    ['createSliceFetcher({ hooks: 5 })', () => createSliceFetcher({ hooks: 5 as never }), 'hooks'],
    ['createSliceFetcher({ logger: {} })', () => createSliceFetcher({ logger: {} as never }), 'logger'],
    [
      'createSliceFetcher({ cacheKey: "x" })',
      () => createSliceFetcher({ cacheKey: 'x' as never }),
      'cacheKey',
    ],
    ['memoryStorage({ maxBytes: -1 })', () => memoryStorage({ maxBytes: -1 }), 'maxBytes'],
    ['memoryStorage({ bogus: 1 })', () => memoryStorage({ bogus: 1 } as never), 'bogus'],
    ['fsStorage({ dir: "" })', () => fsStorage({ dir: '' }), 'dir'],
    ['tieredStorage([], {})', () => tieredStorage([]), 'tiers'],
    ['redisStorage({ url: "http://x" })', () => redisStorage({ url: 'http://x' }), 'url'],
    ['redisStorage({ bogus: 1 })', () => redisStorage({ bogus: 1 } as never), 'bogus'],
  ];
  for (const [name, make, path] of cases) {
    it(`refuses ${name} with ERR_SLICE_CONFIG naming \`${path}\``, () => {
      const error = thrown(make);
      expect(isSliceFetchError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'ERR_SLICE_CONFIG', details: { paths: [path] } });
      expect((error as Error).message).toContain(`\`${path}\``);
    });
  }
});
