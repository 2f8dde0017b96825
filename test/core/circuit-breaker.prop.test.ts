import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCircuitBreaker } from '../../src/core/circuit-breaker.js';

/** One step of a run: a call that answers or fails, or time passing. */
type Step = { kind: 'call'; ok: boolean } | { kind: 'wait'; ms: number };

const step = fc.oneof(
  fc.record({ kind: fc.constant('call' as const), ok: fc.boolean() }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 3000 }) }),
);

/** Runs `steps` against a breaker; each allowed call reports back before the next step. */
function run(steps: readonly Step[], failureThreshold: number, cooldownMs: number) {
  let clock = 0;
  const breaker = createCircuitBreaker({ failureThreshold, cooldownMs, now: () => clock });
  const trace: { allowed: boolean; ok: boolean; before: string; after: string; sinceOpen: number }[] = [];
  let openedAt = Number.NaN;
  for (const s of steps) {
    if (s.kind === 'wait') {
      clock += s.ms;
      continue;
    }
    const before = breaker.stats().state;
    const allowed = breaker.allow();
    if (allowed) {
      if (s.ok) breaker.succeeded();
      else breaker.failed();
    }
    const after = breaker.stats().state;
    trace.push({ allowed, ok: s.ok, before, after, sinceOpen: clock - openedAt });
    if (after === 'open' && (before !== 'open' || allowed)) openedAt = clock;
  }
  return { breaker, trace };
}

describe('circuit breaker', () => {
  it('opens exactly after failureThreshold failures in a row, and a success in between resets the count', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (oks, n) => {
        const { trace } = run(
          oks.map((ok) => ({ kind: 'call', ok })),
          n,
          1000,
        );
        // No time passes: the first opening is final, and it comes at the n-th failure in a row.
        let streak = 0;
        let open = false;
        for (const t of trace) {
          if (open) {
            expect(t.allowed).toBe(false);
            continue;
          }
          expect(t.allowed).toBe(true);
          streak = t.ok ? 0 : streak + 1;
          open = streak >= n;
          expect(t.after).toBe(open ? 'open' : 'closed');
        }
      }),
    );
  });

  it('lets at most one probe through per cooldown while open, and refuses calls only when not closed', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), fc.integer({ min: 1, max: 5 }), (steps, n) => {
        const cooldownMs = 1000;
        const { breaker, trace } = run(steps, n, cooldownMs);
        for (const t of trace) {
          if (!t.allowed) expect(t.before).not.toBe('closed');
          // A call let through while open is the probe: only once the cooldown has passed.
          if (t.allowed && t.before === 'open') expect(t.sinceOpen).toBeGreaterThanOrEqual(cooldownMs);
          // The probe decides: a success closes, a failure opens again.
          if (t.allowed && t.before === 'open') expect(t.after).toBe(t.ok ? 'closed' : 'open');
          if (t.allowed && t.ok) expect(t.after).toBe('closed');
        }
        const stats = breaker.stats();
        expect(stats.refused).toBe(trace.filter((t) => !t.allowed).length);
        // Calls that failed while the breaker was not closed: one probe per opening at most.
        const probes = trace.filter((t) => t.allowed && t.before === 'open').length;
        expect(probes).toBeLessThanOrEqual(stats.opened);
      }),
    );
  });

  it('counts a failure reported after the breaker opened as nothing new', () => {
    let clock = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 2, cooldownMs: 100, now: () => clock });
    const calls = [breaker.allow(), breaker.allow(), breaker.allow()];
    expect(calls).toEqual([true, true, true]);
    breaker.failed();
    breaker.failed(); // opens
    breaker.failed(); // the third call, in flight when it opened
    expect(breaker.stats()).toEqual({ state: 'open', opened: 1, refused: 0 });
    expect(breaker.allow()).toBe(false);
    clock = 100;
    expect(breaker.allow()).toBe(true);
    expect(breaker.stats().state).toBe('half-open');
    expect(breaker.allow()).toBe(false); // one probe at a time
    breaker.succeeded();
    expect(breaker.stats()).toEqual({ state: 'closed', opened: 1, refused: 2 });
  });
});
