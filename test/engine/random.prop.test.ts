/**
 * The end-to-end property (P10, P21): for a random object size, slice size, concurrency, client range and
 * schedule of origin faults, every response is either the exact bytes of one version of the object for the
 * range its head announces, or a failure (`fetch` rejects, the body errors, or the origin's own error status
 * passes through) — never wrong bytes, never bytes of two versions, never a clean end short of the length.
 * fast-check prints the seed and the shrunk counterexample on failure.
 */
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/index.js';
import { contentBytes, contentEtag } from '../support/content.js';
import { type Fault, type FaultRequest, startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drain, KiB, MiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await closeFetchers();
  await origin.close();
});

/** A client range, placed relative to the object size once it is known. */
type RangeShape =
  | { readonly kind: 'absent' }
  | { readonly kind: 'closed'; readonly p: number; readonly q: number }
  | { readonly kind: 'open'; readonly p: number }
  | { readonly kind: 'suffix'; readonly q: number }
  | { readonly kind: 'past-eof'; readonly p: number };

/** When a fault rule applies. */
type Trigger =
  | { readonly on: 'nth'; readonly n: number }
  | { readonly on: 'from'; readonly n: number }
  | { readonly on: 'slice'; readonly k: number }
  | { readonly on: 'any' };

/** A fault as generated; `change` gets its explicit seed and size when the run is set up. */
type FaultShape =
  | Exclude<Fault, { type: 'wait' | 'change-object' }>
  | { readonly type: 'change'; readonly resize: number };

interface RuleShape {
  readonly trigger: Trigger;
  readonly times: number;
  readonly fault: FaultShape;
}

const size = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 400 * KiB }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 * MiB }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 64 * MiB }) },
);

const rangeShape: fc.Arbitrary<RangeShape> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'absent' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('closed' as const), p: fc.nat(), q: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const), p: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('suffix' as const), q: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('past-eof' as const), p: fc.nat({ max: 3 * MiB }) }),
  },
);

const trigger: fc.Arbitrary<Trigger> = fc.oneof(
  fc.record({ on: fc.constant('nth' as const), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ on: fc.constant('from' as const), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ on: fc.constant('slice' as const), k: fc.nat() }),
  fc.constant({ on: 'any' as const }),
);

const faultShape: fc.Arbitrary<FaultShape> = fc.oneof(
  fc.record({
    type: fc.constant('status' as const),
    status: fc.constantFrom(500, 502, 503, 429, 404),
    retryAfter: fc.constant('0'),
  }),
  fc.record({ type: fc.constant('reset' as const), afterBytes: fc.nat({ max: 200 * KiB }) }),
  fc.record({
    type: fc.constant('reset' as const),
    afterBytes: fc.constant(0),
    beforeHeaders: fc.constant(true),
  }),
  fc.record({ type: fc.constant('truncate' as const), afterBytes: fc.nat({ max: 200 * KiB }) }),
  fc.record(
    {
      type: fc.constant('content-range' as const),
      start: fc.nat({ max: 2 * MiB }),
      end: fc.nat({ max: 2 * MiB }),
      total: fc.oneof(fc.nat({ max: 64 * MiB }), fc.constant('*' as const)),
    },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.constant('etag' as const), value: fc.constantFrom('"imposter"', null) }),
  fc.record({
    type: fc.constant('last-modified' as const),
    value: fc.constant('Tue, 02 Jan 2024 00:00:00 GMT'),
  }),
  fc.constant({ type: 'ignore-range' as const }),
  fc.constant({ type: 'no-length' as const }),
  fc.constant({ type: 'gzip' as const }),
  fc.constant({ type: 'past-eof-416' as const }),
  fc.record({ type: fc.constant('latency' as const), ms: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ type: fc.constant('change' as const), resize: fc.integer({ min: -1, max: 2 }) }),
);

const rule: fc.Arbitrary<RuleShape> = fc.record({
  trigger,
  times: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 }) },
    { weight: 1, arbitrary: fc.constant(Infinity) },
  ),
  fault: faultShape,
});

const scenario = fc.record({
  size,
  sliceSize: fc.constantFrom(64 * KiB, 128 * KiB, MiB),
  concurrency: fc.integer({ min: 1, max: 8 }),
  range: rangeShape,
  rules: fc.array(rule, { maxLength: 4 }),
  hang: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  cache: fc.boolean(),
  retries: fc.integer({ min: 0, max: 3 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** One version the object can be served as. */
interface Version {
  readonly seed: number;
  readonly size: number;
  readonly etag: string;
}

type Resolution =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

function rangeHeader(shape: RangeShape, objectSize: number): string | undefined {
  const span = Math.max(objectSize, 1);
  switch (shape.kind) {
    case 'absent':
      return undefined;
    case 'closed': {
      const start = shape.p % span;
      return `bytes=${start}-${start + (shape.q % (span + 2 * KiB))}`;
    }
    case 'open':
      return `bytes=${shape.p % span}-`;
    case 'suffix':
      return `bytes=-${shape.q % (span + 2 * KiB)}`;
    case 'past-eof':
      return `bytes=${objectSize + shape.p}-`;
  }
}

/** RFC 9110 §14.1.2 for the single ranges generated here. */
function resolve(header: string | undefined, objectSize: number): Resolution {
  if (header === undefined) return { kind: 'full' };
  const [, first = '', last = ''] = /^bytes=(\d*)-(\d*)$/.exec(header) ?? [];
  if (first === '') {
    const n = Number(last);
    if (n === 0 || objectSize === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, objectSize - n), end: objectSize - 1 };
  }
  const start = Number(first);
  if (start >= objectSize) return { kind: 'unsatisfiable' };
  const end = last === '' ? objectSize - 1 : Math.min(Number(last), objectSize - 1);
  return { kind: 'partial', start, end };
}

function matcher(t: Trigger, sliceSize: number, objectSize: number): (r: FaultRequest) => boolean {
  switch (t.on) {
    case 'nth':
      return (r) => r.n === t.n;
    case 'from':
      return (r) => r.n >= t.n;
    case 'slice': {
      const start = (t.k % Math.max(1, Math.ceil(objectSize / sliceSize))) * sliceSize;
      return (r) => r.range?.start === start;
    }
    case 'any':
      return () => true;
  }
}

let runs = 0;

async function check(s: Scenario): Promise<void> {
  const path = `/random/${runs++}.bin`;
  const initial = origin.setObject(path, { size: s.size });
  const versions: Version[] = [{ seed: initial.seed, size: s.size, etag: initial.etag as string }];
  for (const { trigger: t, times, fault } of s.rules) {
    let applied: Fault;
    if (fault.type === 'change') {
      const seed = initial.seed + versions.length;
      const changed = Math.max(0, s.size + fault.resize * s.sliceSize + (fault.resize === 0 ? 0 : 7));
      versions.push({ seed, size: changed, etag: contentEtag(seed, changed) });
      applied = { type: 'change-object', seed, size: changed };
    } else {
      applied = fault;
    }
    const match = matcher(t, s.sliceSize, s.size);
    // gzip is built in memory: only for responses of at most 2 MiB.
    const guarded =
      applied.type === 'gzip'
        ? (r: FaultRequest) => r.range !== undefined && r.range.end - r.range.start < 2 * MiB && match(r)
        : match;
    origin.addFault({ path, times, match: guarded, fault: applied });
  }
  if (s.hang) origin.addFault({ path, match: (r) => r.n === 2, fault: { type: 'hang' } });

  const fetcher = makeFetcher({
    sliceSize: s.sliceSize,
    concurrency: s.concurrency,
    cache: s.cache ? undefined : false,
    retry: { retries: s.retries, baseDelayMs: 2 },
    timeouts: { headersMs: 1000, bodyMs: 2000 },
  });
  const range = rangeHeader(s.range, s.size);
  try {
    // One fetch, then two at once (coalesced, partly from the cache): each answer is checked on its own.
    for (const parallel of [1, 2]) {
      const answers = await Promise.all(
        Array.from({ length: parallel }, async () => {
          try {
            const res = await fetcher.fetch(origin.url(path), { range });
            return { res, ...(await drain(res)) };
          } catch (error) {
            return { error };
          }
        }),
      );
      for (const answer of answers) {
        if (!('res' in answer)) {
          expect(isSliceFetchError(answer.error), String(answer.error)).toBe(true);
          continue;
        }
        checkResponse(answer.res, answer.bytes, answer.error, range, versions, path);
      }
    }
  } finally {
    await closeFetchers();
    origin.clearFaults();
  }
}

function checkResponse(
  res: Response,
  raw: Buffer,
  error: unknown,
  range: string | undefined,
  versions: readonly Version[],
  path: string,
): void {
  const status = res.status;
  const clean = error === undefined;
  if (status !== 200 && status !== 206 && status !== 416) {
    // Only an error status the origin itself sent may reach the client (P15).
    expect(origin.stats.log.some((e) => e.path === path && e.status === status)).toBe(true);
    return;
  }
  // A pass-through (R14) forwards the origin's head as it is: when the origin lied in it, so does the response.
  const lied = origin.stats.log.some((e) => e.path === path && e.faults.includes('content-range'));
  if (res.headers.get('x-slice-cache') === 'PASS' && lied) return;
  const encoded = res.headers.get('content-encoding') === 'gzip';
  const declared = res.headers.get('content-length');
  if (clean && declared !== null) expect(raw.length).toBe(Number(declared));
  if (encoded && !clean) return; // a broken gzip stream has no byte offsets to compare
  const bytes = encoded ? gunzipSync(raw) : raw;

  // The candidates: the version the ETag names, or — when a lying origin sent an unknown ETag — any version.
  const named = versions.filter((v) => v.etag === res.headers.get('etag'));
  const candidates = named.length > 0 ? named : versions;

  if (status === 416) {
    const unsatisfied = /^bytes \*\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
    expect(unsatisfied).not.toBeNull();
    const total = Number(unsatisfied?.[1]);
    const byOrigin = origin.stats.log.some(
      (e) => e.path === path && e.status === 416 && e.faults.includes('past-eof-416'),
    );
    expect(
      byOrigin || versions.some((v) => v.size === total && resolve(range, total).kind === 'unsatisfiable'),
    ).toBe(true);
    return;
  }

  let start = 0;
  let total: number | '*' | undefined;
  if (status === 206) {
    const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    expect(cr, `Content-Range ${res.headers.get('content-range')}`).not.toBeNull();
    start = Number(cr?.[1]);
    const end = Number(cr?.[2]);
    total = cr?.[3] === '*' ? '*' : Number(cr?.[3]);
    if (clean) expect(bytes.length).toBe(end - start + 1);
  }
  const fits = candidates.filter((v) => {
    if (typeof total === 'number' && total !== v.size) return false;
    const resolution = resolve(range, v.size);
    if (status === 206) {
      if (resolution.kind !== 'partial' || resolution.start !== start) return false;
      if (clean && resolution.end - resolution.start + 1 !== bytes.length) return false;
    } else if (clean && bytes.length !== v.size) {
      return false;
    }
    if (bytes.length === 0) return true;
    if (start + bytes.length > v.size) return false;
    return bytes.equals(contentBytes(v.seed, start, start + bytes.length - 1));
  });
  expect(
    fits.length,
    `${status} ${clean ? 'complete' : 'failed'} body of ${bytes.length} bytes from ${start} matches no single version`,
  ).toBeGreaterThan(0);
}

describe('slice fetching end to end (P10, P21)', () => {
  it('serves exactly one version of the requested bytes, or fails, whatever the origin does', async () => {
    await fc.assert(fc.asyncProperty(scenario, check), { numRuns: 60 });
  });
});
