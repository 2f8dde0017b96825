import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SliceFetchErrorCode } from '../../src/core/errors.js';
import type { ResponseHead } from '../../src/core/head-checks.js';
import type { HeaderRecord } from '../../src/core/headers.js';
import { classifyReference, type ReferenceFacts } from '../../src/core/reference-slice.js';
import { validateSlice } from '../../src/core/validate.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

interface Scenario {
  readonly requested: { readonly start: number; readonly end: number };
  readonly end: number;
  readonly facts: ReferenceFacts;
  readonly head: ResponseHead;
}

const etagArb = fc.oneof(
  fc.stringMatching(/^"[a-z0-9]{1,40}"$/),
  fc.stringMatching(/^W\/"[a-z0-9]{1,40}"$/),
  fc.constant(`"${'e'.repeat(3998)}"`),
);
const dateArb = fc.integer({ min: 0, max: 4_000_000_000 }).map((s) => new Date(s * 1000).toUTCString());

/** A requested aligned slice with room for a wrong end (start ≤ size − 2), and a valid 206 head for it. */
const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    sliceSize: fc.integer({ min: 1, max: 4 * 1024 * 1024 }),
    size: fc.integer({ min: 2, max: 2 ** 40 }),
    indexSeed: fc.nat(),
    etag: fc.option(etagArb, { nil: undefined }),
    lastModified: fc.option(dateArb, { nil: undefined }),
    withLength: fc.boolean(),
    identity: fc.boolean(),
  })
  .map(({ sliceSize, size, indexSeed, etag, lastModified, withLength, identity }) => {
    const index = indexSeed % (Math.floor((size - 2) / sliceSize) + 1);
    const requested = { start: index * sliceSize, end: index * sliceSize + sliceSize - 1 };
    const end = Math.min(requested.end, size - 1);
    const headers: Record<string, string> = { 'content-range': `bytes ${requested.start}-${end}/${size}` };
    if (withLength) headers['content-length'] = String(end - requested.start + 1);
    if (identity) headers['content-encoding'] = 'identity';
    if (etag !== undefined) headers.etag = etag;
    if (lastModified !== undefined) headers['last-modified'] = lastModified;
    return { requested, end, facts: { size, etag, lastModified }, head: { status: 206, headers } };
  });

type Mutation =
  | 'wrong-start'
  | 'wrong-end'
  | 'wrong-total'
  | 'missing-content-range'
  | 'duplicated-content-range'
  | 'wrong-content-length'
  | 'encoded'
  | 'etag'
  | 'last-modified'
  | 'status-200';

const EXPECTED_CODE: Record<Mutation, SliceFetchErrorCode> = {
  'wrong-start': 'ERR_SLICE_INVALID_RESPONSE',
  'wrong-end': 'ERR_SLICE_INVALID_RESPONSE',
  'wrong-total': 'ERR_SLICE_VERSION_CHANGED',
  'missing-content-range': 'ERR_SLICE_CONTENT_RANGE',
  'duplicated-content-range': 'ERR_SLICE_CONTENT_RANGE',
  'wrong-content-length': 'ERR_SLICE_INVALID_RESPONSE',
  encoded: 'ERR_SLICE_INVALID_RESPONSE',
  etag: 'ERR_SLICE_VERSION_CHANGED',
  'last-modified': 'ERR_SLICE_VERSION_CHANGED',
  'status-200': 'ERR_SLICE_INVALID_RESPONSE',
};

const mutationArb = fc.constantFrom(...(Object.keys(EXPECTED_CODE) as Mutation[]));

/** Applies one mutation; `seed` picks the wrong value, always different from the right one. */
function mutate(s: Scenario, mutation: Mutation, seed: number): ResponseHead {
  const { requested, end, facts } = s;
  const size = facts.size;
  const headers: Record<string, string | readonly string[] | undefined> = { ...s.head.headers };
  const cr = (a: number, b: number, total = size) => `bytes ${a}-${b}/${total}`;
  switch (mutation) {
    case 'wrong-start': {
      const start = (requested.start + 1 + (seed % (size - 1))) % size;
      headers['content-range'] = cr(start, Math.max(end, start));
      break;
    }
    case 'wrong-end': {
      const n = size - requested.start; // ≥ 2 choices in [start, size − 1]
      const offset = (end - requested.start + 1 + (seed % (n - 1))) % n;
      headers['content-range'] = cr(requested.start, requested.start + offset);
      break;
    }
    case 'wrong-total': {
      const room = size - 1 - end; // totals in [end + 1, size − 1] keep the header parseable
      const total = seed % 2 === 0 && room > 0 ? end + 1 + (seed % room) : size + 1 + (seed % 1_000_000);
      headers['content-range'] = cr(requested.start, end, total);
      break;
    }
    case 'missing-content-range':
      headers['content-range'] = undefined;
      break;
    case 'duplicated-content-range': {
      const value = cr(requested.start, end);
      headers['content-range'] = seed % 2 === 0 ? [value, value] : [value, cr(0, 0)];
      break;
    }
    case 'wrong-content-length': {
      const length = end - requested.start + 1;
      headers['content-length'] = String(seed % 2 === 0 ? seed % length : length + 1 + (seed % 1_000_000));
      break;
    }
    case 'encoded':
      headers['content-encoding'] = ['gzip', 'br', 'deflate', 'zstd', 'identity, gzip'][seed % 5];
      break;
    case 'etag':
      if (facts.etag === undefined) headers.etag = `"added-${seed}"`;
      else if (seed % 3 === 0) headers.etag = undefined;
      else if (seed % 3 === 1)
        headers.etag = facts.etag.startsWith('W/') ? facts.etag.slice(2) : `W/${facts.etag}`;
      else headers.etag = `"changed-${seed}"`;
      break;
    case 'last-modified':
      if (facts.lastModified === undefined) headers['last-modified'] = new Date(seed * 1000).toUTCString();
      else if (seed % 2 === 0) headers['last-modified'] = undefined;
      else {
        const ms = Date.parse(facts.lastModified) + (1 + (seed % 1_000_000)) * 1000;
        headers['last-modified'] = new Date(ms).toUTCString();
      }
      break;
    case 'status-200':
      return { status: 200, headers };
  }
  return { status: 206, headers: headers as HeaderRecord };
}

describe('P16: a slice with a wrong Content-Range, length, total or validator is rejected', () => {
  it('accepts every unmutated valid head', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        expect(
          validateSlice(s.head, s.requested, s.facts, { url: 'https://o/x', index: 1 }, NOW),
        ).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects one mutation with the error code of its class', () => {
    fc.assert(
      fc.property(scenarioArb, mutationArb, fc.nat(), (s, mutation, seed) => {
        const head = mutate(s, mutation, seed);
        const error = validateSlice(head, s.requested, s.facts, { url: 'https://o/x', index: 7 }, NOW);
        expect(error?.code).toBe(EXPECTED_CODE[mutation]);
        expect(error?.details).toMatchObject({ url: 'https://o/x', slice: 7 });
        expect(error?.message.startsWith('Slice 7 of https://o/x: expected ')).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('classifies a valid head as sliced with the facts it carries, and validateSlice agrees with them', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = classifyReference(s.head, s.requested, { url: 'https://o/x', index: 0 }, NOW);
        expect(verdict).toEqual({
          kind: 'sliced',
          facts: s.facts,
          range: { start: s.requested.start, end: s.end },
        });
        if (verdict.kind === 'sliced') {
          expect(
            validateSlice(s.head, s.requested, verdict.facts, { url: 'https://o/x', index: 0 }, NOW),
          ).toBeUndefined();
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never slices a reference whose range, length or encoding is wrong', () => {
    const headMutations = fc.constantFrom<Mutation>(
      'wrong-start',
      'wrong-end',
      'missing-content-range',
      'duplicated-content-range',
      'wrong-content-length',
      'encoded',
      'status-200',
    );
    fc.assert(
      fc.property(scenarioArb, headMutations, fc.nat(), (s, mutation, seed) => {
        const verdict = classifyReference(
          mutate(s, mutation, seed),
          s.requested,
          { url: 'https://o/x', index: 0 },
          NOW,
        );
        expect(verdict.kind).not.toBe('sliced');
      }),
      { numRuns: 1000 },
    );
  });
});
