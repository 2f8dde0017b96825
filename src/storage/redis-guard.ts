/**
 * Every Redis call of the store goes through one guard (R7, R22), which decides what a failure costs:
 *
 * - **Time.** A call is bounded by `timeoutMs` (a hung server keeps its socket open and answers nothing).
 * - **Circuit breaker** (core/circuit-breaker.ts). Calls that time out open it after `failureThreshold` in a
 *   row; while it is open the store does not ask Redis at all and fails open at once — a read misses, a write
 *   is skipped, a claim is granted (the fill goes uncoordinated) — and after `cooldownMs` one call probes.
 *   A hung Redis so costs the calls in flight when it hung and one probe per cooldown, not one timeout per
 *   slice. Calls that fail at once (a connection that is down) cost nothing and do not open it — in a
 *   cluster they concern one master only — but a probe that fails so keeps it open.
 * - **Refusals.** A Redis that refuses writes — `OOM` when full under `noeviction`, `READONLY` (a replica),
 *   `MISCONF` (a failed snapshot) — is not a failure of the request: the write is skipped, the claim granted,
 *   and it is counted and logged once per episode (until a write is accepted again), not once per slice.
 * - **Healing.** A timeout or a lost connection asks the link to heal (a cluster re-reads its slot map).
 *
 * @module
 */
import { type BreakerState, createCircuitBreaker } from '../core/circuit-breaker.js';
import { SliceFetchError } from '../core/errors.js';
import type { Logger } from '../ports.js';
import type { RedisLink } from './redis-client.js';

/** Counters of the guard, reported by the store's `stats()`. */
export interface RedisGuardStats {
  /** `closed` (calls go to Redis), `open` (they fail open at once) or `half-open` (one probe in flight). */
  readonly breaker: BreakerState;
  /** Times the breaker opened. */
  readonly breakerOpened: number;
  /** Calls answered without asking Redis because the breaker was open. */
  readonly shortCircuited: number;
  /** Calls that timed out. */
  readonly timeouts: number;
  /** Calls that failed on a lost or missing connection. */
  readonly connectionErrors: number;
  /** Writes and claims Redis refused (`OOM`, `READONLY`, `MISCONF`), each skipped or granted. */
  readonly refusals: number;
}

/** How one call fails open. */
export interface Fallbacks<T> {
  /** The answer while the breaker is open (throw to fail instead). */
  readonly open: () => T;
  /** The answer when Redis refuses the write; omitted: the refusal rejects like any error reply. */
  readonly refused?: () => T;
}

/** See the module notes. */
export interface RedisGuard {
  /** Runs `command` under the guard; rejects with `ERR_SLICE_CACHE` on a failure it does not turn into a fallback. */
  run<T>(what: string, command: () => Promise<T>, fallbacks: Fallbacks<T>): Promise<T>;
  /** The counters. */
  stats(): RedisGuardStats;
}

/** Options of {@link createRedisGuard}, validated by redis-options.ts. */
export interface RedisGuardOptions {
  readonly link: RedisLink;
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly logger: Logger | undefined;
  /** Whether the link is one server, which answers `MOVED` only when it is in fact a cluster node. */
  readonly single: boolean;
}

/**
 * Creates the guard of one store.
 *
 * @example
 * ```ts
 * const guard = createRedisGuard({ link, timeoutMs: 2000, failureThreshold: 3, cooldownMs: 5000, logger, single: true });
 * const value = await guard.run('GET', () => link.send(key, ['GET', key], BUFFERS), { open: () => null });
 * ```
 */
export function createRedisGuard(options: RedisGuardOptions): RedisGuard {
  const { link, timeoutMs, logger, single } = options;
  const breaker = createCircuitBreaker({
    failureThreshold: options.failureThreshold,
    cooldownMs: options.cooldownMs,
    now: () => performance.now(),
  });
  let timeouts = 0;
  let connectionErrors = 0;
  let refusals = 0;
  let refusing = false;
  let warnedMoved = false;
  let lastState: BreakerState = 'closed';

  function noteState(): void {
    const { state, opened } = breaker.stats();
    if (state === lastState) return;
    if (state === 'open' && lastState === 'closed')
      logger?.warn(
        { breaker: state, opened, timeouts },
        `Redis timed out ${options.failureThreshold} times in a row: the cache is bypassed (fail-open) and probed every ${options.cooldownMs} ms`,
      );
    else if (state === 'closed') logger?.info({ breaker: state }, 'Redis answers again: the cache is back');
    lastState = state;
  }

  function answered(): void {
    breaker.succeeded();
    noteState();
  }

  async function run<T>(what: string, command: () => Promise<T>, fallbacks: Fallbacks<T>): Promise<T> {
    if (!breaker.allow()) return fallbacks.open();
    const probe = breaker.stats().state === 'half-open';
    let outcome: Outcome<T>;
    try {
      outcome = await withTimeout(command(), timeoutMs);
    } catch (error) {
      outcome = { kind: 'error', error };
    }
    if (outcome.kind === 'value') {
      answered();
      if (refusing && WRITES.has(what)) {
        refusing = false;
        logger?.info({ refusals }, 'Redis accepts writes again');
      }
      return outcome.value;
    }
    if (outcome.kind === 'timeout') {
      timeouts++;
      breaker.failed();
      noteState();
      link.heal();
      throw new SliceFetchError('ERR_SLICE_CACHE', `Redis did not answer ${what} within ${timeoutMs} ms.`);
    }
    const { error } = outcome;
    if (isReply(error)) {
      answered(); // the server is there and said no
      if (isRefusal(error) && fallbacks.refused !== undefined) {
        refusals++;
        if (!refusing) {
          refusing = true;
          logger?.warn(
            { err: error, refusals },
            'Redis refuses writes: slices are served, fetched without coordination and not cached until it accepts them again',
          );
        }
        return fallbacks.refused();
      }
      if (single && !warnedMoved && messageOf(error).startsWith('MOVED')) {
        warnedMoved = true;
        logger?.warn({ err: error }, 'Redis answered MOVED: it is a cluster node, give the store `cluster`');
      }
    } else {
      connectionErrors++;
      if (probe) breaker.failed();
      noteState();
      link.heal();
    }
    throw new SliceFetchError('ERR_SLICE_CACHE', `Redis ${what} failed: ${messageOf(error)}`, {
      cause: error,
    });
  }

  return {
    run,
    stats() {
      const { state, opened, refused } = breaker.stats();
      return {
        breaker: state,
        breakerOpened: opened,
        shortCircuited: refused,
        timeouts,
        connectionErrors,
        refusals,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** The calls that write: one accepted ends a refusal episode. */
const WRITES = new Set(['SET', 'lock', 'UNLINK', 'purge']);

type Outcome<T> =
  | { readonly kind: 'value'; readonly value: T }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly error: unknown };

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve({ kind: 'value', value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ kind: 'error', error });
      },
    );
  });
}

/**
 * Whether the server answered with an error reply. Redis error replies start with an upper-case code
 * (`OOM command not allowed…`, `MOVED 3999 …`, `EXECABORT …`); node-redis's own errors ("The client is
 * offline", "Socket closed unexpectedly") do not. Read from the message, so a client from another copy of
 * node-redis is classified the same way.
 */
function isReply(error: unknown): boolean {
  return /^[A-Z][A-Z_-]+ /.test(messageOf(error));
}

/**
 * Redis refuses writes: full (`OOM`), a replica (`READONLY`), a failed snapshot (`MISCONF`); inside a `MULTI`
 * the refused command aborts the transaction (`EXECABORT … previous errors`).
 */
function isRefusal(error: unknown): boolean {
  return /^(OOM|READONLY|MISCONF|EXECABORT)\b/.test(messageOf(error));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
