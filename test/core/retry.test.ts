import { describe, expect, it } from 'vitest';
import { SliceFetchError } from '../../src/core/errors.js';
import {
  backoffDelay,
  decideRetry,
  givenUpError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
} from '../../src/core/retry.js';

const policy: RetryPolicy = { retries: 3, baseDelayMs: 100, maxDelayMs: 5000, deadlineMs: 60_000 };
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const half = () => 0.5;

function networkError(details: { retryAfterMs?: number } = {}): SliceFetchError {
  return new SliceFetchError('ERR_SLICE_NETWORK', 'Slice 2 of https://cdn.test/a.bin: socket hang up', {
    url: 'https://cdn.test/a.bin',
    slice: 2,
    range: '2097152-3145727',
    ...details,
  });
}

describe('isRetryableStatus', () => {
  it.each([500, 502, 503, 504, 599, 429, 408])('retries status %i', (status) => {
    expect(isRetryableStatus(status)).toBe(true);
  });
  it.each([200, 206, 304, 400, 401, 403, 404, 410, 412, 416, 499, 600])(
    'does not retry status %i',
    (status) => {
      expect(isRetryableStatus(status)).toBe(false);
    },
  );
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds as milliseconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('  7 ', NOW)).toBe(7000);
  });

  it('reads an IMF-fixdate relative to now', () => {
    expect(parseRetryAfter('Mon, 15 Jan 2024 12:00:30 GMT', NOW)).toBe(30_000);
  });

  it('reads the obsolete RFC 850 form, placing a two-digit year in the right century', () => {
    expect(parseRetryAfter('Monday, 15-Jan-24 12:01:00 GMT', NOW)).toBe(60_000);
  });

  it('reads the obsolete asctime form as UTC', () => {
    expect(parseRetryAfter('Mon Jan 15 12:00:05 2024', NOW)).toBe(5000);
    expect(parseRetryAfter('Thu Feb  1 12:00:00 2024', NOW)).toBe(17 * 24 * 3600 * 1000);
  });

  it('gives 0 for a date in the past', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
  });

  it.each([
    '-5',
    '1.5',
    '1e3',
    '0x10',
    'soon',
    '',
    'Mon, 31 Feb 2024 12:00:00 GMT',
    'Mon, 15 Jan 2024 25:00:00 GMT',
    'Mon, 15 Jan 2024 12:00:00 UTC',
    '2024-01-15T12:00:30Z',
  ])('ignores the malformed value %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });

  it('ignores an absent header', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter([], NOW)).toBeUndefined();
  });

  it('accepts a repeated header only when every copy agrees', () => {
    expect(parseRetryAfter(['3', '3'], NOW)).toBe(3000);
    expect(parseRetryAfter(['3', '4'], NOW)).toBeUndefined();
  });

  it('caps an absurd delay at a safe integer', () => {
    expect(parseRetryAfter('9'.repeat(40), NOW)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('backoffDelay', () => {
  it('doubles the jitter cap per failed attempt', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(policy, n, half))).toEqual([50, 100, 200, 400]);
  });

  it('never exceeds maxDelayMs', () => {
    expect(backoffDelay(policy, 30, () => 0.999999)).toBe(4999);
  });

  it('stays finite for huge attempt counts and a zero base', () => {
    expect(backoffDelay(policy, 10_000, half)).toBe(2500);
    expect(backoffDelay({ ...policy, baseDelayMs: 0 }, 10_000, half)).toBe(0);
  });
});

describe('decideRetry', () => {
  it('retries a network error with jitter inside the deadline', () => {
    expect(decideRetry({ policy, error: networkError(), attempts: 1, elapsedMs: 10, random: half })).toEqual({
      retry: true,
      delayMs: 50,
    });
  });

  it('gives up on an error that is not retryable', () => {
    const error = new SliceFetchError('ERR_SLICE_VERSION_CHANGED', 'changed');
    expect(decideRetry({ policy, error, attempts: 1, elapsedMs: 0, random: half })).toEqual({
      retry: false,
      reason: 'not-retryable',
    });
  });

  it('gives up after retries + 1 attempts', () => {
    const input = { policy, error: networkError(), elapsedMs: 0, random: half };
    expect(decideRetry({ ...input, attempts: 3 }).retry).toBe(true);
    expect(decideRetry({ ...input, attempts: 4 })).toEqual({ retry: false, reason: 'attempts' });
  });

  it('makes exactly one attempt when retries is 0', () => {
    const error = networkError();
    expect(
      decideRetry({ policy: { ...policy, retries: 0 }, error, attempts: 1, elapsedMs: 0, random: half }),
    ).toEqual({ retry: false, reason: 'attempts' });
  });

  it('gives up when the next attempt would start at or past the deadline', () => {
    const input = { policy, error: networkError(), attempts: 1, random: half };
    expect(decideRetry({ ...input, elapsedMs: 59_949 })).toEqual({ retry: true, delayMs: 50 });
    expect(decideRetry({ ...input, elapsedMs: 59_950 })).toEqual({ retry: false, reason: 'deadline' });
  });

  it('honours a Retry-After longer than the backoff exactly', () => {
    const error = networkError({ retryAfterMs: 12_000 });
    expect(decideRetry({ policy, error, attempts: 1, elapsedMs: 0, random: half })).toEqual({
      retry: true,
      delayMs: 12_000,
    });
  });

  it('keeps the backoff when Retry-After asks for less', () => {
    const error = networkError({ retryAfterMs: 10 });
    expect(decideRetry({ policy, error, attempts: 3, elapsedMs: 0, random: half })).toEqual({
      retry: true,
      delayMs: 200,
    });
  });

  it('refuses a Retry-After that would pass the deadline instead of retrying early', () => {
    const error = networkError({ retryAfterMs: 120_000 });
    expect(decideRetry({ policy, error, attempts: 1, elapsedMs: 0, random: half })).toEqual({
      retry: false,
      reason: 'deadline',
    });
  });
});

describe('givenUpError', () => {
  it('names the URL, slice, attempts and last reason, keeping the last error as cause', () => {
    const last = networkError();
    const error = givenUpError(last, { retry: false, reason: 'attempts' }, 4);
    expect(error.code).toBe('ERR_SLICE_RETRIES_EXHAUSTED');
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(false);
    expect(error.cause).toBe(last);
    expect(error.details).toMatchObject({ url: 'https://cdn.test/a.bin', slice: 2, attempts: 4 });
    expect(error.message).toBe(
      'Slice 2 of https://cdn.test/a.bin failed after 4 attempts; last error: Slice 2 of https://cdn.test/a.bin: socket hang up',
    );
  });

  it('answers 504 when the last attempt timed out', () => {
    const last = new SliceFetchError('ERR_SLICE_TIMEOUT', 'no headers in 15000 ms', {
      url: 'https://o/x',
      slice: 0,
    });
    const error = givenUpError(last, { retry: false, reason: 'deadline' }, 2);
    expect(error.status).toBe(504);
    expect(error.message).toContain('the next would pass the retry deadline');
  });

  it('keeps the origin status of the last attempt', () => {
    const last = new SliceFetchError('ERR_SLICE_ORIGIN_STATUS', 'expected status 206, got 503', {
      originStatus: 503,
      retryable: true,
    });
    const error = givenUpError(last, { retry: false, reason: 'attempts' }, 1);
    expect(error.details.originStatus).toBe(503);
    expect(error.message).toMatch(/^Request to the origin failed after 1 attempt;/);
  });

  it('returns a non-retryable error unchanged', () => {
    const last = new SliceFetchError('ERR_SLICE_VERSION_CHANGED', 'changed');
    expect(givenUpError(last, { retry: false, reason: 'not-retryable' }, 1)).toBe(last);
  });
});
