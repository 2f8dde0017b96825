import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SliceFetchError, type SliceFetchErrorCode } from '../../src/core/errors.js';
import {
  backoffDelay,
  decideRetry,
  givenUpError,
  parseRetryAfter,
  type RetryPolicy,
} from '../../src/core/retry.js';

const policyArb: fc.Arbitrary<RetryPolicy> = fc.record({
  retries: fc.integer({ min: 0, max: 20 }),
  baseDelayMs: fc.integer({ min: 0, max: 60_000 }),
  maxDelayMs: fc.integer({ min: 0, max: 600_000 }),
  deadlineMs: fc.integer({ min: 100, max: 3_600_000 }),
});

/** A random draw in [0, 1), as Math.random gives. */
const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const failureArb = fc.record({
  code: fc.constantFrom<SliceFetchErrorCode>(
    'ERR_SLICE_NETWORK',
    'ERR_SLICE_TIMEOUT',
    'ERR_SLICE_INVALID_RESPONSE',
    'ERR_SLICE_CONTENT_RANGE',
    'ERR_SLICE_ORIGIN_STATUS',
    'ERR_SLICE_VERSION_CHANGED',
  ),
  retryable: fc.option(fc.boolean(), { nil: undefined }),
  retryAfterMs: fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined }),
  /** How long the failed attempt took. */
  durationMs: fc.integer({ min: 0, max: 30_000 }),
  random: randomArb,
});

describe('P8: retries are bounded by attempts and deadline', () => {
  it('never allows more than retries + 1 attempts nor schedules an attempt past the deadline', () => {
    fc.assert(
      fc.property(policyArb, fc.array(failureArb, { minLength: 1, maxLength: 30 }), (policy, failures) => {
        let attempts = 1;
        let elapsedMs = 0;
        for (const failure of failures) {
          const error = new SliceFetchError(failure.code, 'failed', {
            retryable: failure.retryable,
            retryAfterMs: failure.retryAfterMs,
          });
          elapsedMs += failure.durationMs;
          const decision = decideRetry({ policy, error, attempts, elapsedMs, random: () => failure.random });
          if (!decision.retry) {
            if (!error.retryable) expect(decision.reason).toBe('not-retryable');
            else if (attempts === policy.retries + 1) expect(decision.reason).toBe('attempts');
            else expect(decision.reason).toBe('deadline');
            const final = givenUpError(error, decision, attempts);
            if (decision.reason === 'not-retryable') expect(final).toBe(error);
            else expect(final.details.attempts).toBe(attempts);
            break;
          }
          expect(error.retryable).toBe(true);
          expect(decision.delayMs).toBeGreaterThanOrEqual(0);
          // Within the backoff bounds, unless Retry-After asked for more: then exactly that.
          if (failure.retryAfterMs !== undefined && decision.delayMs > policy.maxDelayMs) {
            expect(decision.delayMs).toBe(failure.retryAfterMs);
          } else {
            expect(decision.delayMs).toBeLessThanOrEqual(policy.maxDelayMs);
          }
          if (failure.retryAfterMs !== undefined)
            expect(decision.delayMs).toBeGreaterThanOrEqual(failure.retryAfterMs);
          expect(elapsedMs + decision.delayMs).toBeLessThan(policy.deadlineMs);
          elapsedMs += decision.delayMs;
          attempts += 1;
          expect(attempts).toBeLessThanOrEqual(policy.retries + 1);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the full-jitter delay within [0, min(maxDelayMs, baseDelayMs × 2^(n−1))]', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 2000 }), randomArb, (policy, n, r) => {
        const delay = backoffDelay(policy, n, () => r);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        // 0 × 2^1999 is NaN in floating point; a zero base means a zero cap.
        const cap =
          policy.baseDelayMs === 0 ? 0 : Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
        expect(delay).toBeLessThanOrEqual(cap);
        if (cap > 0) expect(delay).toBeLessThan(cap);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Retry-After', () => {
  it('reads any delay-seconds exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (seconds, now) => {
          expect(parseRetryAfter(String(seconds), now)).toBe(seconds * 1000);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads any IMF-fixdate as the distance from now, never negative', () => {
    const secondsArb = fc.integer({ min: Date.UTC(1000, 0, 1) / 1000, max: Date.UTC(9999, 11, 31) / 1000 });
    fc.assert(
      fc.property(secondsArb, secondsArb, (dateS, nowS) => {
        // toUTCString() writes IMF-fixdate for four-digit years.
        const header = new Date(dateS * 1000).toUTCString();
        expect(parseRetryAfter(header, nowS * 1000)).toBe(Math.max(0, (dateS - nowS) * 1000));
      }),
      { numRuns: 1000 },
    );
  });

  it('returns undefined or a non-negative number for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const delay = parseRetryAfter(value, 0);
        if (delay !== undefined) expect(delay).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 1000 },
    );
  });
});
