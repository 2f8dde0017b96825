/**
 * The retry policy of slice sub-requests: which failures may be retried, how long to wait (exponential
 * backoff with full jitter, or longer when the origin asks through `Retry-After`), and when to give up —
 * after `retries + 1` attempts or when the next attempt would start past the deadline (R5, P8).
 *
 * Pure: the clock (`nowMs`, `elapsedMs`) and the random source are parameters.
 *
 * @module
 */
import { SliceFetchError } from './errors.js';
import { singleHeader } from './headers.js';

/** How a failed sub-request is retried; the resolved `retry` section of the configuration. */
export interface RetryPolicy {
  /** Retries after the first attempt; at most `retries + 1` attempts are made. */
  readonly retries: number;
  /** The backoff cap of the first retry, doubled on each later one. */
  readonly baseDelayMs: number;
  /** The largest backoff cap (a `Retry-After` may still ask for more). */
  readonly maxDelayMs: number;
  /** No attempt starts later than this after the first attempt started. */
  readonly deadlineMs: number;
}

/** The outcome of {@link decideRetry}: wait `delayMs` and try again, or give up and why. */
export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | { readonly retry: false; readonly reason: 'not-retryable' | 'attempts' | 'deadline' };

/**
 * Whether an origin status may succeed when the same request is sent again: every 5xx, `429 Too Many
 * Requests` and `408 Request Timeout` (RFC 9110 §15.5.9: the server closed an idle connection). Other 4xx
 * statuses describe the request itself and would fail the same way.
 *
 * @example
 * ```ts
 * isRetryableStatus(503); // true
 * isRetryableStatus(404); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return (status >= 500 && status <= 599) || status === 429 || status === 408;
}

/**
 * Reads `Retry-After` (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date (IMF-fixdate, or the obsolete
 * RFC 850 and asctime forms a recipient must accept, §5.6.7). Returns the delay in milliseconds from `nowMs`
 * (a date in the past gives 0), or `undefined` when the header is absent, repeated with different values, or
 * malformed.
 *
 * @example
 * ```ts
 * parseRetryAfter('120', 0); // 120000
 * parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 7)); // 30000
 * ```
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number,
): number | undefined {
  const header = singleHeader({ 'retry-after': value }, 'retry-after');
  let text: string;
  if (header.state === 'absent') return undefined;
  if (header.state === 'present') text = header.value;
  else {
    // A field that must occur once, repeated: trust it only when every copy says the same.
    const first = header.values[0] as string;
    if (header.values.some((v) => v.trim() !== first.trim())) return undefined;
    text = first;
  }
  text = text.trim();
  if (DELAY_SECONDS.test(text)) return Math.min(Number(text) * 1000, Number.MAX_SAFE_INTEGER);
  const dateMs = parseHttpDate(text, nowMs);
  return dateMs === undefined ? undefined : Math.max(0, dateMs - nowMs);
}

/**
 * The backoff before the next attempt, with "full jitter" (AWS Architecture Blog, *Exponential Backoff And
 * Jitter*): a uniform draw in `[0, min(maxDelayMs, baseDelayMs × 2^(failedAttempts−1)))`, floored to whole
 * milliseconds. Jitter spreads the retries of many clients so they do not hit a recovering origin together.
 *
 * @example
 * ```ts
 * backoffDelay({ retries: 3, baseDelayMs: 100, maxDelayMs: 5000, deadlineMs: 60000 }, 3, () => 0.5); // 200
 * ```
 */
export function backoffDelay(policy: RetryPolicy, failedAttempts: number, random: () => number): number {
  // Cap the exponent: 2^62 × any base already exceeds every allowed maxDelayMs, and 0 × Infinity would be NaN.
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 62);
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.floor(random() * cap);
}

/**
 * Decides whether a failed attempt is retried. Gives up when the error is not retryable, when
 * `retries + 1` attempts have been made (P8), or when the next attempt would start at or past the deadline.
 * A `Retry-After` carried by the error (`details.retryAfterMs`) is honoured exactly when it asks for more
 * than the jittered backoff — or, if that would pass the deadline, the slice gives up instead of retrying
 * early against the origin's wish.
 *
 * @example
 * ```ts
 * const decision = decideRetry({ policy, error, attempts: 1, elapsedMs: 250, random: Math.random });
 * if (decision.retry) setTimeout(retryNow, decision.delayMs);
 * ```
 */
export function decideRetry(input: {
  readonly policy: RetryPolicy;
  readonly error: SliceFetchError;
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly random: () => number;
}): RetryDecision {
  const { policy, error, attempts, elapsedMs } = input;
  if (!error.retryable) return NOT_RETRYABLE;
  if (attempts >= policy.retries + 1) return ATTEMPTS;
  const jitter = backoffDelay(policy, attempts, input.random);
  const retryAfterMs = error.details.retryAfterMs;
  const delayMs = retryAfterMs !== undefined && retryAfterMs > jitter ? retryAfterMs : jitter;
  if (elapsedMs + delayMs >= policy.deadlineMs) return DEADLINE;
  return { retry: true, delayMs };
}

/**
 * The error a slice fails with once {@link decideRetry} gave up: `ERR_SLICE_RETRIES_EXHAUSTED` (status 504 when
 * the last attempt timed out, else 502) naming the URL, slice, attempts and the last reason, with the last
 * error as `cause`. A non-retryable error is returned as it is: its own code and status say more.
 *
 * @example
 * ```ts
 * const decision = decideRetry({ policy, error, attempts, elapsedMs, random });
 * if (!decision.retry) throw givenUpError(error, decision, attempts);
 * ```
 */
export function givenUpError(
  last: SliceFetchError,
  decision: RetryDecision & { retry: false },
  attempts: number,
): SliceFetchError {
  if (decision.reason === 'not-retryable') return last;
  const { url, slice, range, originStatus } = last.details;
  const subject =
    slice === undefined ? `Request to ${url ?? 'the origin'}` : `Slice ${slice} of ${url ?? 'the object'}`;
  const why = decision.reason === 'deadline' ? ', the next would pass the retry deadline' : '';
  const noun = attempts === 1 ? 'attempt' : 'attempts';
  return new SliceFetchError(
    'ERR_SLICE_RETRIES_EXHAUSTED',
    `${subject} failed after ${attempts} ${noun}${why}; last error: ${last.message}`,
    {
      url,
      slice,
      range,
      originStatus,
      attempts,
      cause: last,
      status: last.code === 'ERR_SLICE_TIMEOUT' ? 504 : 502,
    },
  );
}

// ---------------------------------------------------------------------------------------------------------

const NOT_RETRYABLE: RetryDecision = { retry: false, reason: 'not-retryable' };
const ATTEMPTS: RetryDecision = { retry: false, reason: 'attempts' };
const DEADLINE: RetryDecision = { retry: false, reason: 'deadline' };

/** delay-seconds = 1*DIGIT (RFC 9110 §10.2.3). */
const DELAY_SECONDS = /^\d+$/;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^[A-Z][a-z]{2}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** rfc850-date: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = new RegExp(`^[A-Z][a-z]{5,8}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** asctime-date: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME_DATE = new RegExp(`^[A-Z][a-z]{2} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * Parses the three HTTP-date forms of RFC 9110 §5.6.7 as UTC. Hand-written rather than `Date.parse`, which
 * reads asctime (it has no zone) as local time and accepts strings that are no HTTP-date at all.
 */
function parseHttpDate(text: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m !== null) return utc(Number(m[3]), m[2], Number(m[1]), m[4], m[5], m[6]);
  m = RFC850_DATE.exec(text);
  if (m !== null) {
    // §5.6.7: a two-digit year that looks more than 50 years ahead is the most recent past year with those digits.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[2], Number(m[1]), m[4], m[5], m[6]);
  }
  m = ASCTIME_DATE.exec(text);
  if (m !== null) return utc(Number(m[6]), m[1], Number((m[2] as string).trim()), m[3], m[4], m[5]);
  return undefined;
}

function utc(
  year: number,
  month: string | undefined,
  day: number,
  hh: string | undefined,
  mm: string | undefined,
  ss: string | undefined,
): number | undefined {
  const monthIndex = MONTHS.indexOf(month as string);
  const hours = Number(hh);
  const minutes = Number(mm);
  const seconds = Number(ss);
  // Seconds up to 60 admit a leap second (§5.6.7 allows it); Date.UTC rolls it into the next minute.
  if (day < 1 || hours > 23 || minutes > 59 || seconds > 60) return undefined;
  // Date.UTC silently rolls 31 Feb into March; such a date is malformed.
  if (new Date(Date.UTC(year, monthIndex, day)).getUTCDate() !== day) return undefined;
  return Date.UTC(year, monthIndex, day, hours, minutes, seconds);
}
