import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type FenceTicket, ObjectFence } from '../../src/engine/object-fence.js';
import { deferred, flush, observe } from './unit-helpers.js';

describe('ObjectFence', () => {
  describe('tickets', () => {
    it('is current until a purge of its object, and a purge of another object changes nothing', async () => {
      const fence = new ObjectFence();
      const a = fence.enter('a');
      const b = fence.enter('b');
      expect(a.current).toBe(true);
      await fence.purge('b', async () => 0);
      expect(a.current).toBe(true);
      expect(b.current).toBe(false);
      const purging = fence.purge('a', async () => 0);
      expect(a.current).toBe(false); // fenced off the moment the purge begins
      await purging;
      a.leave();
      b.leave();
    });

    it('gives a fill entering after a purge a current ticket', async () => {
      const fence = new ObjectFence();
      const before = fence.enter('a');
      const purge = deferred<number>();
      const purging = fence.purge('a', () => purge.promise);
      const after = fence.enter('a');
      expect(before.current).toBe(false);
      expect(after.current).toBe(true);
      purge.resolve(3);
      await expect(purging).resolves.toBe(3);
      expect(after.current).toBe(true);
      before.leave();
      after.leave();
    });
  });

  describe('write', () => {
    it('runs the write of a current ticket and resolves true once it has landed', async () => {
      const fence = new ObjectFence();
      const ticket = fence.enter('a');
      const landed = deferred();
      const write = vi.fn(() => landed.promise);
      const result = observe(ticket.write(write));
      await flush();
      expect(write).toHaveBeenCalledTimes(1);
      expect(result.settled).toBe(false);
      landed.resolve();
      await flush();
      expect(result.value).toBe(true);
      ticket.leave();
    });

    it('counts a write that fails as done: it resolves true and never rejects', async () => {
      const fence = new ObjectFence();
      const ticket = fence.enter('a');
      await expect(ticket.write(() => Promise.reject(new Error('disk full')))).resolves.toBe(true);
      ticket.leave();
    });

    it('fences off the writes of a ticket taken before a purge: resolves false without writing', async () => {
      const fence = new ObjectFence();
      const ticket = fence.enter('a');
      await fence.purge('a', async () => 1);
      const write = vi.fn(async () => {});
      await expect(ticket.write(write)).resolves.toBe(false);
      expect(write).not.toHaveBeenCalled();
      ticket.leave();
    });

    it('fences off a write called just before a purge began, when it had not run yet', async () => {
      const fence = new ObjectFence();
      const ticket = fence.enter('a');
      const write = vi.fn(async () => {});
      const result = ticket.write(write);
      const purging = fence.purge('a', async () => 0); // same tick: the write has not started
      await expect(result).resolves.toBe(false);
      expect(write).not.toHaveBeenCalled();
      await purging;
      ticket.leave();
    });

    it('fences off a write of an old ticket called while a purge runs', async () => {
      const fence = new ObjectFence();
      const ticket = fence.enter('a');
      const purge = deferred<number>();
      const purging = fence.purge('a', () => purge.promise);
      const write = vi.fn(async () => {});
      const result = observe(ticket.write(write));
      await flush();
      expect(result.value).toBe(false);
      purge.resolve(0);
      await purging;
      expect(write).not.toHaveBeenCalled();
      ticket.leave();
    });

    it('makes a write of a new ticket that starts during a purge wait for the purge, then run', async () => {
      const fence = new ObjectFence();
      const events: string[] = [];
      const purge = deferred<number>();
      const purging = fence.purge('a', () => {
        events.push('purge started');
        return purge.promise.then((n) => {
          events.push('purge done');
          return n;
        });
      });
      const ticket = fence.enter('a');
      const result = ticket.write(async () => {
        events.push('write');
      });
      await flush();
      expect(events).toEqual(['purge started']);
      purge.resolve(5);
      await expect(result).resolves.toBe(true);
      await expect(purging).resolves.toBe(5);
      expect(events).toEqual(['purge started', 'purge done', 'write']);
      ticket.leave();
    });

    it('lets writes of new tickets run after a purge that failed', async () => {
      const fence = new ObjectFence();
      const failing = fence.purge('a', async () => {
        throw new Error('store down');
      });
      const ticket = fence.enter('a');
      const write = vi.fn(async () => {});
      await expect(failing).rejects.toThrow('store down');
      await expect(ticket.write(write)).resolves.toBe(true);
      expect(write).toHaveBeenCalledTimes(1);
      ticket.leave();
    });
  });

  describe('purge', () => {
    it('waits for the writes already under way before running its purge function', async () => {
      const fence = new ObjectFence();
      const first = fence.enter('a');
      const second = fence.enter('a');
      const landed1 = deferred();
      const landed2 = deferred();
      const writing1 = first.write(() => landed1.promise);
      const writing2 = second.write(() => landed2.promise);
      await flush();
      const purgeFn = vi.fn(async () => 2);
      const purging = observe(fence.purge('a', purgeFn));
      await flush();
      expect(purgeFn).not.toHaveBeenCalled();
      landed1.resolve();
      await flush();
      expect(purgeFn).not.toHaveBeenCalled();
      landed2.reject(new Error('a failed write counts as landed'));
      await flush();
      expect(purgeFn).toHaveBeenCalledTimes(1);
      expect(purging.value).toBe(2);
      await expect(writing1).resolves.toBe(true);
      await expect(writing2).resolves.toBe(true);
      first.leave();
      second.leave();
    });

    it('waits for a write that started only a microtask before the purge began', async () => {
      const fence = new ObjectFence();
      const ticket = fence.enter('a');
      const landed = deferred();
      const purgeFn = vi.fn(async () => 1);
      let purging: Promise<number> | undefined;
      const writing = ticket.write(() => {
        queueMicrotask(() => {
          purging = fence.purge('a', purgeFn);
        });
        return landed.promise;
      });
      await flush();
      expect(purging).toBeDefined();
      expect(purgeFn).not.toHaveBeenCalled();
      landed.resolve();
      await expect(writing).resolves.toBe(true);
      await expect(purging).resolves.toBe(1);
      ticket.leave();
    });

    it('does not wait for writes to other objects', async () => {
      const fence = new ObjectFence();
      const other = fence.enter('b');
      const landed = deferred();
      const writing = other.write(() => landed.promise);
      await flush();
      await expect(fence.purge('a', async () => 7)).resolves.toBe(7);
      landed.resolve();
      await writing;
      other.leave();
    });

    it('runs the purge functions of one object one after the other', async () => {
      const fence = new ObjectFence();
      const events: string[] = [];
      const first = deferred<number>();
      const p1 = fence.purge('a', () => {
        events.push('first started');
        return first.promise;
      });
      const p2 = fence.purge('a', async () => {
        events.push('second started');
        return 2;
      });
      await flush();
      expect(events).toEqual(['first started']);
      first.resolve(1);
      await expect(p1).resolves.toBe(1);
      await expect(p2).resolves.toBe(2);
      expect(events).toEqual(['first started', 'second started']);
    });

    it('hands the caller its purge function’s failure', async () => {
      const fence = new ObjectFence();
      await expect(fence.purge('a', () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
      expect(fence.size).toBe(0);
    });
  });

  describe('size', () => {
    it('drops an object once no fill and no purge is left', async () => {
      const fence = new ObjectFence();
      expect(fence.size).toBe(0);
      const a1 = fence.enter('a');
      const a2 = fence.enter('a');
      fence.enter('b').leave();
      expect(fence.size).toBe(1);
      a1.leave();
      a1.leave(); // idempotent: a2 still holds the entry
      expect(fence.size).toBe(1);
      const purge = deferred<number>();
      const purging = fence.purge('a', () => purge.promise);
      a2.leave();
      expect(fence.size).toBe(1); // the purge is still waiting
      purge.resolve(0);
      await purging;
      expect(fence.size).toBe(0);
    });

    it('tracks a purge of an object nobody fills only while it runs', async () => {
      const fence = new ObjectFence();
      const purge = deferred<number>();
      const purging = fence.purge('x', () => purge.promise);
      expect(fence.size).toBe(1);
      purge.resolve(0);
      await purging;
      expect(fence.size).toBe(0);
    });

    it('starts an object dropped and entered again at a generation no earlier ticket holds', async () => {
      const fence = new ObjectFence();
      const old = fence.enter('a');
      await fence.purge('a', async () => 0);
      const ticket = fence.enter('a');
      ticket.leave();
      old.leave();
      expect(fence.size).toBe(0);
      const fresh = fence.enter('a');
      expect(fresh.current).toBe(true);
      await fence.purge('a', async () => 0);
      expect(fresh.current).toBe(false);
      fresh.leave();
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('ObjectFence (property)', () => {
  type Op =
    | { readonly kind: 'enter'; readonly object: number }
    | { readonly kind: 'write'; readonly ticket: number }
    | { readonly kind: 'finishWrite'; readonly index: number; readonly ok: boolean }
    | { readonly kind: 'purge'; readonly object: number }
    | { readonly kind: 'finishPurge'; readonly index: number; readonly ok: boolean }
    | { readonly kind: 'leave'; readonly ticket: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('enter' as const), object: fc.nat(1) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), ticket: fc.nat(30) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('finishWrite' as const),
        index: fc.nat(30),
        ok: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('purge' as const), object: fc.nat(1) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('finishPurge' as const),
        index: fc.nat(30),
        ok: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('leave' as const), ticket: fc.nat(30) }) },
  );

  interface TicketModel {
    readonly object: number;
    readonly ticket: FenceTicket;
    readonly enteredAt: number;
    left: boolean;
    /** `write()` promises not settled yet: a fill leaves only after its writes (as slice-fill does). */
    pending: number;
  }
  interface WriteModel {
    readonly ticket: TicketModel;
    readonly calledAt: number;
    startedAt?: number;
    finishedAt?: number;
    landed?: ReturnType<typeof deferred<void>>;
    resolvedAt?: number;
    result: ReturnType<typeof observe<boolean>>;
  }
  interface PurgeModel {
    readonly object: number;
    readonly calledAt: number;
    startedAt?: number;
    finishedAt?: number;
    done?: ReturnType<typeof deferred<number>>;
    result: ReturnType<typeof observe<number>>;
  }

  it('never runs a write fenced off by a purge, and runs every purge after the writes begun before it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 50 }), async (ops) => {
        const fence = new ObjectFence();
        let clock = 0;
        const tickets: TicketModel[] = [];
        const writes: WriteModel[] = [];
        const purges: PurgeModel[] = [];

        const finishWrite = (w: WriteModel, ok: boolean): void => {
          w.finishedAt = ++clock;
          if (ok) w.landed?.resolve();
          else w.landed?.reject(new Error('write failed'));
        };
        const finishPurge = (p: PurgeModel, ok: boolean): void => {
          p.finishedAt = ++clock;
          if (ok) p.done?.resolve(1);
          else p.done?.reject(new Error('purge failed'));
        };

        const run = async (o: Op): Promise<void> => {
          switch (o.kind) {
            case 'enter':
              tickets.push({
                object: o.object,
                ticket: fence.enter(`o${o.object}`),
                enteredAt: ++clock,
                left: false,
                pending: 0,
              });
              break;
            case 'write': {
              const t = tickets[o.ticket % Math.max(tickets.length, 1)];
              if (t === undefined || t.left) break;
              const w: Partial<WriteModel> & { ticket: TicketModel; calledAt: number } = {
                ticket: t,
                calledAt: ++clock,
              };
              t.pending++;
              const promise = t.ticket.write(() => {
                w.startedAt = ++clock;
                w.landed = deferred();
                return w.landed.promise;
              });
              void promise.finally(() => {
                t.pending--;
                w.resolvedAt = ++clock;
              });
              w.result = observe(promise);
              writes.push(w as WriteModel);
              break;
            }
            case 'finishWrite': {
              const open = writes.filter((w) => w.startedAt !== undefined && w.finishedAt === undefined);
              const w = open[o.index % Math.max(open.length, 1)];
              if (w !== undefined) finishWrite(w, o.ok);
              break;
            }
            case 'purge': {
              const p: Partial<PurgeModel> & { object: number; calledAt: number } = {
                object: o.object,
                calledAt: ++clock,
              };
              p.result = observe(
                fence.purge(`o${o.object}`, () => {
                  p.startedAt = ++clock;
                  p.done = deferred<number>();
                  return p.done.promise;
                }),
              );
              purges.push(p as PurgeModel);
              break;
            }
            case 'finishPurge': {
              const open = purges.filter((p) => p.startedAt !== undefined && p.finishedAt === undefined);
              const p = open[o.index % Math.max(open.length, 1)];
              if (p !== undefined) finishPurge(p, o.ok);
              break;
            }
            case 'leave': {
              const t = tickets[o.ticket % Math.max(tickets.length, 1)];
              if (t === undefined || t.left || t.pending > 0) break;
              t.left = true;
              t.ticket.leave();
              break;
            }
          }
          await flush();
        };

        for (const o of ops) await run(o);
        // Everything lands, then every fill leaves.
        for (let progress = true; progress; ) {
          progress = false;
          for (const w of writes)
            if (w.startedAt !== undefined && w.finishedAt === undefined) {
              finishWrite(w, true);
              progress = true;
            }
          for (const p of purges)
            if (p.startedAt !== undefined && p.finishedAt === undefined) {
              finishPurge(p, true);
              progress = true;
            }
          await flush();
        }
        for (const t of tickets) {
          expect(t.pending).toBe(0);
          if (!t.left) t.ticket.leave();
        }

        for (const w of writes) {
          expect(w.result.settled).toBe(true);
          const same = purges.filter((p) => p.object === w.ticket.object);
          const fencedBy = same.filter((p) => p.calledAt > w.ticket.enteredAt);
          if (w.startedAt === undefined) {
            // Fenced off: resolved false, and only because a purge began after its ticket was taken.
            expect(w.result.value).toBe(false);
            expect(fencedBy.some((p) => p.calledAt < (w.resolvedAt as number))).toBe(true);
            continue;
          }
          expect(w.result.value).toBe(true);
          // A write called after a purge of its object began (its ticket taken before) never runs...
          expect(fencedBy.filter((p) => p.calledAt < w.calledAt)).toEqual([]);
          // ...nor does one that a purge overtook before it ran.
          for (const p of fencedBy) expect(p.calledAt).toBeGreaterThan(w.startedAt);
          // Purges that began before the ticket was taken had finished before the write ran.
          for (const p of same.filter((p) => p.calledAt < w.ticket.enteredAt))
            expect(p.finishedAt).toBeLessThan(w.startedAt);
        }
        for (const p of purges) {
          expect(p.result.settled).toBe(true);
          expect(p.startedAt).toBeDefined();
          // Every write of the object begun before the purge function ran had landed by then.
          for (const w of writes)
            if (
              w.ticket.object === p.object &&
              w.startedAt !== undefined &&
              w.startedAt < (p.startedAt as number)
            )
              expect(w.finishedAt).toBeLessThan(p.startedAt as number);
          // Purge functions of one object never overlap.
          for (const q of purges)
            if (q.object === p.object && q.calledAt < p.calledAt)
              expect(q.finishedAt).toBeLessThan(p.startedAt as number);
        }
        expect(fence.size).toBe(0);
      }),
      { numRuns: 1000 },
    );
  });
});
