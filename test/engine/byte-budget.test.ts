import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { ByteBudget, type Reclaimable } from '../../src/engine/byte-budget.js';
import { abortListeners, observe } from './unit-helpers.js';

/** A reader holding bytes of a budget, which gives them all back when reclaimed. */
class Holder implements Reclaimable {
  held = 0;
  reclaimed = 0;
  readonly #budget: ByteBudget;

  constructor(budget: ByteBudget) {
    this.#budget = budget;
  }

  take(bytes: number): number {
    const got = this.#budget.tryAcquire(bytes);
    this.held += got;
    return got;
  }

  reclaim(): void {
    this.reclaimed++;
    this.#budget.release(this.held);
    this.held = 0;
  }

  /** Gives back everything and reads no more. */
  drop(): void {
    this.#budget.release(this.held);
    this.held = 0;
    this.#budget.busy(this);
  }
}

/** Lets pending promise reactions run (no timer advances). */
async function ticks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** What `promise` resolved to once pending reactions ran, or `'pending'`: a test fails fast, never hangs. */
async function served<T>(promise: Promise<T>): Promise<T | 'pending'> {
  const box = observe(promise);
  await ticks();
  if (box.error !== undefined) throw box.error;
  return box.settled ? (box.value as T) : 'pending';
}

/** A budget on the fake clock. */
function budgetOf(total: number, idleMs = 100): ByteBudget {
  return new ByteBudget(total, { idleMs, now: () => Date.now() });
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('ByteBudget', () => {
  describe('tryAcquire and release', () => {
    it('reserves what fits at once, refuses what does not, and counts releases back', () => {
      const budget = budgetOf(100);
      expect(budget.tryAcquire(30)).toBe(30);
      expect(budget.used).toBe(30);
      expect(budget.tryAcquire(80)).toBe(0);
      expect(budget.used).toBe(30);
      expect(budget.tryAcquire(70)).toBe(70);
      expect(budget.used).toBe(100);
      budget.release(30);
      expect(budget.used).toBe(70);
    });

    it('clamps a request to the total, so a slice larger than the budget takes it whole instead of deadlocking', async () => {
      const budget = budgetOf(100);
      expect(budget.tryAcquire(250)).toBe(100);
      const big = observe(budget.acquire(1000));
      await ticks();
      expect(big.settled).toBe(false);
      budget.release(100);
      await ticks();
      expect(big.value).toBe(100);
      expect(budget.used).toBe(100);
    });

    it('reserves at least one byte for an empty request', async () => {
      const budget = budgetOf(10);
      expect(budget.tryAcquire(0)).toBe(1);
      await expect(budget.acquire(-5)).resolves.toBe(1);
      expect(budget.used).toBe(2);
    });

    it('ignores releases of nothing and never counts below zero', () => {
      const budget = budgetOf(100);
      budget.tryAcquire(10);
      budget.release(0);
      budget.release(-3);
      expect(budget.used).toBe(10);
      budget.release(1000);
      expect(budget.used).toBe(0);
    });

    it('keeps the peak reservation, which never exceeds the total', async () => {
      const budget = budgetOf(100);
      budget.tryAcquire(40);
      budget.tryAcquire(50);
      expect(budget.peak).toBe(90);
      budget.release(90);
      expect(budget.peak).toBe(90);
      budget.tryAcquire(100);
      const waiting = budget.acquire(70);
      budget.release(100);
      await expect(waiting).resolves.toBe(70);
      expect(budget.peak).toBe(100);
      expect(budget.used).toBe(70);
    });
  });

  describe('waiting', () => {
    it('resolves at once when the bytes are free and nobody waits', async () => {
      const budget = budgetOf(100);
      await expect(budget.acquire(60)).resolves.toBe(60);
      expect(budget.waiting).toBe(0);
    });

    it('serves waiters first in, first out: a small request never overtakes a large one', async () => {
      const budget = budgetOf(100);
      budget.tryAcquire(90);
      const order: string[] = [];
      const a = budget.acquire(50).then((n) => order.push(`a${n}`));
      const b = budget.acquire(5).then((n) => order.push(`b${n}`));
      expect(budget.waiting).toBe(2);
      expect(budget.tryAcquire(1)).toBe(0); // nobody jumps the queue, even when the bytes are there
      budget.release(40);
      await a;
      await ticks();
      expect(order).toEqual(['a50']);
      budget.release(5);
      await b;
      expect(order).toEqual(['a50', 'b5']);
      expect(budget.waiting).toBe(0);
    });

    it('wakes every waiter that fits after one release, in order', async () => {
      const budget = budgetOf(100);
      budget.tryAcquire(100);
      const order: number[] = [];
      const all = [30, 30, 30, 30].map((n, i) => budget.acquire(n).then(() => order.push(i)));
      budget.release(100);
      await ticks();
      expect(order).toEqual([0, 1, 2]);
      expect(budget.used).toBe(90);
      budget.release(30);
      await Promise.all(all);
      expect(order).toEqual([0, 1, 2, 3]);
    });

    it('rejects an aborted waiter with ERR_SLICE_ABORTED carrying the reason, and lets the next one in', async () => {
      const budget = budgetOf(100);
      budget.tryAcquire(60);
      const controller = new AbortController();
      const big = budget.acquire(80, controller.signal);
      const small = observe(budget.acquire(40));
      await ticks();
      expect(small.settled).toBe(false);
      const reason = new Error('client left');
      controller.abort(reason);
      await expect(big).rejects.toSatisfy((error) => {
        expect(isSliceFetchError(error)).toBe(true);
        expect((error as { code: string }).code).toBe('ERR_SLICE_ABORTED');
        expect((error as Error).cause).toBe(reason);
        return true;
      });
      await ticks();
      expect(small.value).toBe(40);
      expect(budget.waiting).toBe(0);
      expect(budget.used).toBe(100);
      expect(abortListeners(controller.signal)).toBe(0);
    });

    it('rejects at once a request that would wait with an already aborted signal, queueing nothing', async () => {
      const budget = budgetOf(100);
      budget.tryAcquire(100);
      const controller = new AbortController();
      controller.abort('gone');
      await expect(budget.acquire(10, controller.signal)).rejects.toMatchObject({
        code: 'ERR_SLICE_ABORTED',
        cause: 'gone',
      });
      expect(budget.waiting).toBe(0);
      expect(abortListeners(controller.signal)).toBe(0);
    });

    it("removes a served waiter's abort listener, so a later abort changes nothing", async () => {
      const budget = budgetOf(100);
      budget.tryAcquire(100);
      const controller = new AbortController();
      const waiting = budget.acquire(50, controller.signal);
      expect(abortListeners(controller.signal)).toBe(1);
      budget.release(50);
      await expect(waiting).resolves.toBe(50);
      expect(abortListeners(controller.signal)).toBe(0);
      controller.abort();
      expect(budget.used).toBe(100);
    });
  });

  describe('reclaiming from idle holders', () => {
    it('makes holders idle past the grace give back, longest idle first, only as many as needed', async () => {
      const budget = budgetOf(100, 100);
      const first = new Holder(budget);
      const second = new Holder(budget);
      const third = new Holder(budget);
      first.take(30);
      second.take(30);
      third.take(40);
      budget.idle(second); // t=0: second is the longest idle
      vi.advanceTimersByTime(10);
      budget.idle(first); // t=10
      vi.advanceTimersByTime(10);
      budget.idle(third); // t=20
      vi.advanceTimersByTime(500);
      expect(await served(budget.acquire(30))).toBe(30);
      expect([first.reclaimed, second.reclaimed, third.reclaimed]).toEqual([0, 1, 0]);
      expect(budget.reclaims).toBe(1);
      expect(await served(budget.acquire(60))).toBe(60);
      expect([first.reclaimed, second.reclaimed, third.reclaimed]).toEqual([1, 1, 1]);
      expect(budget.reclaims).toBe(3);
      expect(budget.used).toBe(90);
    });

    it('reclaims a holder idle for less than idleMs only once its grace has passed', async () => {
      const budget = budgetOf(100, 100);
      const holder = new Holder(budget);
      holder.take(100);
      budget.idle(holder); // t=0
      vi.advanceTimersByTime(30);
      const waiting = observe(budget.acquire(10)); // t=30: 70 ms of grace left
      expect(holder.reclaimed).toBe(0);
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(69);
      expect(holder.reclaimed).toBe(0);
      expect(waiting.settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(holder.reclaimed).toBe(1);
      expect(waiting.value).toBe(10);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('starts the grace over when a holder reads again and then stalls again', async () => {
      const budget = budgetOf(100, 100);
      const holder = new Holder(budget);
      holder.take(100);
      budget.idle(holder); // t=0
      vi.advanceTimersByTime(50);
      budget.busy(holder);
      vi.advanceTimersByTime(10);
      budget.idle(holder); // t=60: reclaimable from t=160
      const waiting = observe(budget.acquire(50));
      await vi.advanceTimersByTimeAsync(99);
      expect(holder.reclaimed).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(holder.reclaimed).toBe(1);
      expect(waiting.value).toBe(50);
    });

    it('orders holders by when they last said idle: one that says it again goes to the back', async () => {
      const budget = budgetOf(100, 100);
      const first = new Holder(budget);
      const second = new Holder(budget);
      first.take(50);
      second.take(50);
      budget.idle(first); // t=0
      vi.advanceTimersByTime(10);
      budget.idle(second); // t=10
      vi.advanceTimersByTime(40);
      budget.idle(first); // t=50: idle again, from now
      vi.advanceTimersByTime(60); // t=110: only second has passed its grace
      expect(await served(budget.acquire(50))).toBe(50);
      expect(second.reclaimed).toBe(1);
      expect(first.reclaimed).toBe(0);
    });

    it('reclaims a holder that stalls while somebody already waits, after its grace', async () => {
      const budget = budgetOf(100, 100);
      const holder = new Holder(budget);
      holder.take(100);
      const waiting = observe(budget.acquire(20));
      expect(vi.getTimerCount()).toBe(0); // nobody idle: nothing to come back for
      vi.advanceTimersByTime(1000);
      budget.idle(holder);
      expect(holder.reclaimed).toBe(0);
      await vi.advanceTimersByTimeAsync(100);
      expect(holder.reclaimed).toBe(1);
      expect(waiting.value).toBe(20);
    });

    it('never reclaims busy holders, however long somebody waits', async () => {
      const budget = budgetOf(100, 100);
      const holder = new Holder(budget);
      holder.take(100);
      budget.idle(holder);
      budget.busy(holder);
      const waiting = observe(budget.acquire(10));
      await vi.advanceTimersByTimeAsync(60_000);
      expect(holder.reclaimed).toBe(0);
      expect(waiting.settled).toBe(false);
      expect(vi.getTimerCount()).toBe(0);
      holder.drop();
      await ticks();
      expect(waiting.value).toBe(10);
    });

    it('reclaims nothing while nobody waits or while the waiter fits', async () => {
      const budget = budgetOf(100, 100);
      const holder = new Holder(budget);
      holder.take(50);
      budget.idle(holder);
      await vi.advanceTimersByTimeAsync(1000);
      expect(await served(budget.acquire(50))).toBe(50);
      expect(holder.reclaimed).toBe(0);
      expect(budget.reclaims).toBe(0);
    });

    it('moves on to the next idle holder when a reclaimed one held nothing', async () => {
      const budget = budgetOf(100, 100);
      const empty = new Holder(budget);
      const full = new Holder(budget);
      full.take(100);
      budget.idle(empty);
      budget.idle(full);
      vi.advanceTimersByTime(100);
      expect(await served(budget.acquire(10))).toBe(10);
      expect(empty.reclaimed).toBe(1);
      expect(full.reclaimed).toBe(1);
    });

    it('leaves no timer behind once the waiter it was set for aborts', async () => {
      const budget = budgetOf(100, 100);
      const holder = new Holder(budget);
      holder.take(100);
      budget.idle(holder);
      const controller = new AbortController();
      const waiting = budget.acquire(10, controller.signal);
      expect(vi.getTimerCount()).toBe(1);
      controller.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'ERR_SLICE_ABORTED' });
      expect(vi.getTimerCount()).toBe(0);
      expect(holder.reclaimed).toBe(0);
    });

    it('leaves no timer behind once the last waiter is served by an ordinary release', async () => {
      const budget = budgetOf(100, 100);
      const idle = new Holder(budget);
      const busy = new Holder(budget);
      idle.take(50);
      busy.take(50);
      budget.idle(idle);
      const waiting = budget.acquire(40);
      expect(vi.getTimerCount()).toBe(1);
      busy.drop();
      await expect(waiting).resolves.toBe(40);
      expect(vi.getTimerCount()).toBe(0);
      expect(idle.reclaimed).toBe(0);
    });

    it('keeps coming back for a second waiter after the first was served', async () => {
      const budget = budgetOf(100, 100);
      const idle = new Holder(budget);
      const busy = new Holder(budget);
      idle.take(50);
      busy.take(50);
      budget.idle(idle);
      const a = observe(budget.acquire(50));
      const b = observe(budget.acquire(50));
      busy.drop(); // serves a, not b
      await ticks();
      expect(a.value).toBe(50);
      expect(b.settled).toBe(false);
      await vi.advanceTimersByTimeAsync(100);
      expect(idle.reclaimed).toBe(1);
      expect(b.value).toBe(50);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('waits 250 ms by default before reclaiming', async () => {
      const budget = new ByteBudget(10, { now: () => Date.now() });
      const holder = new Holder(budget);
      holder.take(10);
      budget.idle(holder);
      const waiting = observe(budget.acquire(1));
      await vi.advanceTimersByTimeAsync(249);
      expect(waiting.settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(waiting.value).toBe(1);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('ByteBudget (property)', () => {
  type Op =
    | { readonly kind: 'take'; readonly holder: number; readonly bytes: number }
    | { readonly kind: 'idle' | 'busy' | 'drop'; readonly holder: number }
    | { readonly kind: 'wait'; readonly bytes: number; readonly abortable: boolean }
    | { readonly kind: 'abort'; readonly waiter: number }
    | { readonly kind: 'advance'; readonly ms: number };

  const TOTAL = 100;
  const IDLE_MS = 50;
  const bytes = fc.integer({ min: 0, max: 2 * TOTAL });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('take' as const), holder: fc.nat(5), bytes }),
    fc.record({
      kind: fc.constantFrom('idle' as const, 'busy' as const, 'drop' as const),
      holder: fc.nat(20),
    }),
    fc.record({ kind: fc.constant('wait' as const), bytes, abortable: fc.boolean() }),
    fc.record({ kind: fc.constant('abort' as const), waiter: fc.nat(20) }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2 * IDLE_MS }) }),
  );

  /** A holder that knows whether it said idle (and since when), and notices a reclaim while it reads. */
  class Tracked extends Holder {
    idleSince: number | undefined;
    reclaimedWhileBusy = false;

    override reclaim(): void {
      if (this.idleSince === undefined) this.reclaimedWhileBusy = true;
      this.idleSince = undefined; // the budget forgets a holder it reclaimed
      super.reclaim();
    }
  }

  it('never reserves more than the total, never takes from busy holders, and serves every waiter in order once enough holders stall', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        vi.setSystemTime(0);
        const budget = budgetOf(TOTAL, IDLE_MS);
        const holders = Array.from({ length: 6 }, () => new Tracked(budget));
        const waiters: {
          controller: AbortController;
          abortable: boolean;
          box: ReturnType<typeof observe<number>>;
        }[] = [];
        const served: number[] = [];
        let stallOnArrival = false;

        const idle = (h: Tracked): void => {
          budget.idle(h);
          h.idleSince = Date.now();
        };
        const check = (): void => {
          expect(budget.used).toBeLessThanOrEqual(TOTAL);
          expect(budget.peak).toBeLessThanOrEqual(TOTAL);
          expect(budget.used).toBe(holders.reduce((sum, h) => sum + h.held, 0));
          for (const h of holders) expect(h.reclaimedWhileBusy).toBe(false);
          // Nobody waits while a holder past its grace still sits on bytes.
          if (budget.waiting > 0)
            for (const h of holders)
              if (h.idleSince !== undefined && h.held > 0)
                expect(Date.now() - h.idleSince).toBeLessThan(IDLE_MS);
        };

        for (const o of ops) {
          switch (o.kind) {
            case 'take': {
              const queued = budget.waiting > 0;
              const got = holders[o.holder % holders.length]?.take(o.bytes);
              if (queued) expect(got).toBe(0); // nobody jumps the queue
              break;
            }
            case 'idle':
            case 'busy':
            case 'drop': {
              const h = holders[o.holder % holders.length] as Tracked;
              if (o.kind === 'idle') idle(h);
              else {
                if (o.kind === 'drop') h.drop();
                else budget.busy(h);
                h.idleSince = undefined;
              }
              break;
            }
            case 'wait': {
              const controller = new AbortController();
              const index = waiters.length;
              // A served waiter becomes a holder that reads (busy), or stalls at once in the final phase.
              const holder = new Tracked(budget);
              const promise = budget
                .acquire(o.bytes, o.abortable ? controller.signal : undefined)
                .then((n) => {
                  served.push(index);
                  holder.held += n;
                  holders.push(holder);
                  if (stallOnArrival) idle(holder);
                  return n;
                });
              waiters.push({ controller, abortable: o.abortable, box: observe(promise) });
              break;
            }
            case 'abort':
              waiters[o.waiter % Math.max(waiters.length, 1)]?.controller.abort('give up');
              break;
            case 'advance':
              await vi.advanceTimersByTimeAsync(o.ms);
              break;
          }
          await ticks();
          check();
        }

        // Every holder stalls: the budget must then reach every waiter that did not give up.
        stallOnArrival = true;
        for (const h of holders) idle(h);
        for (let round = 0; round <= waiters.length + 1 && budget.waiting > 0; round++) {
          await vi.advanceTimersByTimeAsync(IDLE_MS + 1);
          await ticks();
          check();
        }
        expect(budget.waiting).toBe(0);
        expect(served).toEqual([...served].sort((a, b) => a - b)); // first in, first out
        for (const w of waiters) {
          expect(w.box.settled).toBe(true);
          if (!(w.abortable && w.controller.signal.aborted)) expect(w.box.value).toBeGreaterThan(0);
          expect(abortListeners(w.controller.signal)).toBe(0);
        }
        expect(vi.getTimerCount()).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
