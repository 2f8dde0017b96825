import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { type FlightContext, type Lease, runAlone, SingleFlight } from '../../src/engine/single-flight.js';
import { abortListeners, deferred, flush } from './unit-helpers.js';

/** How a promise ended, observed without letting it reject unhandled. */
interface Outcome<T> {
  readonly settled: boolean;
  readonly ok?: boolean;
  readonly value?: T;
  readonly error?: unknown;
}

function observe<T>(promise: Promise<T>): { readonly outcome: Outcome<T> } {
  const box: { outcome: Outcome<T> } = { outcome: { settled: false } };
  promise.then(
    (value) => {
      box.outcome = { settled: true, ok: true, value };
    },
    (error: unknown) => {
      box.outcome = { settled: true, ok: false, error };
    },
  );
  return box;
}

function expectAborted(error: unknown, cause?: unknown): void {
  expect(isSliceFetchError(error)).toBe(true);
  expect((error as { code: string }).code).toBe('ERR_SLICE_ABORTED');
  if (cause !== undefined) expect((error as Error).cause).toBe(cause);
}

/**
 * A work whose result the test decides, which records its context. `abortable`: it rejects with its signal's
 * reason as soon as that signal aborts (as a fetch would).
 */
function controllable<T, H = never>(abortable = false) {
  const result = deferred<T>();
  const calls: FlightContext<H>[] = [];
  const work = vi.fn((context: FlightContext<H>) => {
    calls.push(context);
    if (abortable)
      context.signal.addEventListener('abort', () => result.reject(context.signal.reason), { once: true });
    return result.promise;
  });
  return {
    work,
    result,
    get context(): FlightContext<H> {
      const context = calls[0];
      if (context === undefined) throw new Error('the work has not run');
      return context;
    },
  };
}

function abortable<T, H = never>() {
  return controllable<T, H>(true);
}

describe('SingleFlight', () => {
  describe('sharing', () => {
    it('runs the work once for a start and its joiners, and gives every lease the same value', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const first = flights.start('k', 'obj', w.work, new AbortController().signal);
      const second = flights.join('k', new AbortController().signal);
      const third = flights.join('k', new AbortController().signal);
      expect(second).toBeDefined();
      expect(third).toBeDefined();
      expect(w.work).toHaveBeenCalledTimes(1);
      w.result.resolve('bytes');
      await expect(first.value).resolves.toBe('bytes');
      await expect(second?.value).resolves.toBe('bytes');
      await expect(third?.value).resolves.toBe('bytes');
      expect(w.work).toHaveBeenCalledTimes(1);
    });

    it('gives a work failure to every lease', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const first = flights.start('k', 'obj', w.work, new AbortController().signal);
      const second = flights.join('k', new AbortController().signal);
      const failure = new Error('origin down');
      w.result.reject(failure);
      await expect(first.value).rejects.toBe(failure);
      await expect(second?.value).rejects.toBe(failure);
    });

    it('has nothing to join for a key no flight runs under, nor once the flight has ended', async () => {
      const flights = new SingleFlight<string>('cancel');
      expect(flights.join('k', new AbortController().signal)).toBeUndefined();
      const w = controllable<string>();
      flights.start('k', 'obj', w.work, new AbortController().signal);
      expect(flights.size).toBe(1);
      expect(flights.join('other', new AbortController().signal)).toBeUndefined();
      w.result.resolve('v');
      await flush();
      expect(flights.size).toBe(0);
      expect(flights.join('k', new AbortController().signal)).toBeUndefined();
    });

    it('marks the starter as not joined and a joiner as joined', () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const first = flights.start('k', 'obj', w.work, new AbortController().signal);
      const second = flights.join('k', new AbortController().signal);
      expect(first.joined).toBe(false);
      expect(second?.joined).toBe(true);
      w.result.resolve('v');
    });

    it('lets a waiter join a finished flight while its held write lands, and gives it the value', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const write = deferred<void>();
      flights.start('k', 'obj', w.work, new AbortController().signal);
      w.context.hold(write.promise);
      w.result.resolve('v');
      await flush();
      const late = flights.join('k', new AbortController().signal);
      expect(late?.joined).toBe(true);
      await expect(late?.value).resolves.toBe('v');
      expect(w.work).toHaveBeenCalledTimes(1);
      write.resolve();
    });

    it('turns a synchronous throw of the work into a rejected value', async () => {
      const flights = new SingleFlight<string>('cancel');
      const failure = new Error('sync');
      const lease = flights.start(
        'k',
        'obj',
        () => {
          throw failure;
        },
        new AbortController().signal,
      );
      await expect(lease.value).rejects.toBe(failure);
      await flush();
      expect(flights.size).toBe(0);
    });
  });

  describe('leaving', () => {
    it('aborts the work and makes the key unjoinable when the last lease leaves first (policy cancel)', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = abortable<string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      const b = flights.join('k', new AbortController().signal);
      a.release();
      expect(w.context.signal.aborted).toBe(false);
      const probe = flights.join('k', new AbortController().signal);
      expect(probe).toBeDefined(); // still joinable while b holds it
      probe?.release();
      b?.release();
      expect(w.context.signal.aborted).toBe(true);
      expectAborted(w.context.signal.reason);
      expect(flights.size).toBe(0);
      expect(flights.join('k', new AbortController().signal)).toBeUndefined();
      // The aborted work's own failure reaches whoever still reads the released leases' values.
      await expect(a.value).rejects.toBe(w.context.signal.reason);
    });

    it('makes room for a new flight under the key of an abandoned one, which the old one never removes', async () => {
      const flights = new SingleFlight<string>('cancel');
      const old = controllable<string>();
      flights.start('k', 'obj', old.work, new AbortController().signal).release();
      const fresh = controllable<string>();
      const lease = flights.start('k', 'obj', fresh.work, new AbortController().signal);
      old.result.resolve('old');
      await flush();
      expect(flights.size).toBe(1);
      const joiner = flights.join('k', new AbortController().signal);
      fresh.result.resolve('new');
      await expect(joiner?.value).resolves.toBe('new');
      await expect(lease.value).resolves.toBe('new');
    });

    it('lets unfinished work run on when the last lease leaves under policy complete', async () => {
      const flights = new SingleFlight<string>('complete');
      const w = controllable<string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      a.release();
      expect(w.context.signal.aborted).toBe(false);
      const again = flights.join('k', new AbortController().signal);
      expect(again?.joined).toBe(true);
      w.result.resolve('done');
      await expect(again?.value).resolves.toBe('done');
      await flush();
      expect(flights.size).toBe(0);
    });

    it('lets the work run on when finishAlone says so at the moment the last lease leaves', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      let enoughBytes = false;
      const test = vi.fn(() => enoughBytes);
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      w.context.finishAlone(test);
      enoughBytes = true;
      a.release();
      expect(test).toHaveBeenCalledTimes(1);
      expect(w.context.signal.aborted).toBe(false);
      expect(flights.size).toBe(1);
      w.result.resolve('v');
      await flush();
      expect(flights.size).toBe(0);
    });

    it('aborts the work when finishAlone answers false', () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      w.context.finishAlone(() => false);
      a.release();
      expect(w.context.signal.aborted).toBe(true);
      w.result.resolve('ignored');
    });

    it('counts a lease once however often it is released', () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      const b = flights.join('k', new AbortController().signal);
      a.release();
      a.release();
      a.release();
      expect(w.context.signal.aborted).toBe(false);
      b?.release();
      expect(w.context.signal.aborted).toBe(true);
      w.result.resolve('v');
    });

    it('does not abort a work that settled before its last lease left', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const write = deferred<void>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      w.context.hold(write.promise);
      w.result.resolve('v');
      await flush();
      const late = flights.join('k', new AbortController().signal);
      a.release();
      late?.release();
      expect(w.context.signal.aborted).toBe(false);
      expect(flights.size).toBe(1); // the held write still keeps the key
      write.resolve();
      await flush();
      expect(flights.size).toBe(0);
    });
  });

  describe('a lease whose signal aborts', () => {
    it('rejects its value and head with ERR_SLICE_ABORTED carrying the reason, while the others wait on', async () => {
      const flights = new SingleFlight<string, string>('cancel');
      const w = controllable<string, string>();
      const leaving = new AbortController();
      const a = flights.start('k', 'obj', w.work, leaving.signal);
      const b = flights.join('k', new AbortController().signal);
      const value = observe(a.value);
      const head = observe(a.head);
      const otherValue = observe(b?.value as Promise<string>);
      const reason = new Error('client went away');
      leaving.abort(reason);
      await flush();
      expect(value.outcome.ok).toBe(false);
      expectAborted(value.outcome.error, reason);
      expect(head.outcome.ok).toBe(false);
      expectAborted(head.outcome.error, reason);
      expect(w.context.signal.aborted).toBe(false);
      expect(otherValue.outcome.settled).toBe(false);
      // Asked after the abort, the lease answers the same way.
      await expect(a.value).rejects.toSatisfy((error) => {
        expectAborted(error, reason);
        return true;
      });
      w.context.announce('head');
      w.result.resolve('v');
      await expect(b?.value).resolves.toBe('v');
      await expect(b?.head).resolves.toBe('head');
    });

    it('aborts the work when it was the last lease (policy cancel)', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = abortable<string>();
      const leaving = new AbortController();
      const a = flights.start('k', 'obj', w.work, leaving.signal);
      const value = observe(a.value);
      leaving.abort('bye');
      expect(w.context.signal.aborted).toBe(true);
      expect(flights.size).toBe(0);
      await flush();
      expectAborted(value.outcome.error, 'bye');
    });

    it('removes its abort listener once it leaves, the work settles, or the signal fires', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const s1 = new AbortController();
      const s2 = new AbortController();
      const s3 = new AbortController();
      const a = flights.start('k', 'obj', w.work, s1.signal);
      const b = flights.join('k', s2.signal);
      flights.join('k', s3.signal);
      expect(abortListeners(s1.signal)).toBe(1);
      expect(abortListeners(s2.signal)).toBe(1);
      expect(abortListeners(s3.signal)).toBe(1);
      a.release();
      expect(abortListeners(s1.signal)).toBe(0);
      s2.abort();
      expect(abortListeners(s2.signal)).toBe(0);
      void b?.value.catch(() => undefined);
      w.result.resolve('v');
      await flush();
      expect(abortListeners(s3.signal)).toBe(0);
    });
  });

  describe('a signal already aborted', () => {
    it('never runs the work of a start and rejects its lease at once', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const controller = new AbortController();
      const reason = new Error('gone before it began');
      controller.abort(reason);
      const lease = flights.start('k', 'obj', w.work, controller.signal);
      expect(w.work).not.toHaveBeenCalled();
      expect(flights.size).toBe(0);
      expect(lease.joined).toBe(false);
      expect(abortListeners(controller.signal)).toBe(0);
      await expect(lease.value).rejects.toSatisfy((error) => {
        expectAborted(error, reason);
        return true;
      });
      await expect(lease.head).rejects.toSatisfy((error) => {
        expectAborted(error, reason);
        return true;
      });
      lease.release();
    });

    it('gives a joiner a rejected lease that does not count as one', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      const dead = new AbortController();
      dead.abort('x');
      const joiner = flights.join('k', dead.signal);
      await expect(joiner?.value).rejects.toSatisfy((error) => {
        expectAborted(error, 'x');
        return true;
      });
      joiner?.release();
      expect(w.context.signal.aborted).toBe(false);
      a.release(); // the only counted lease
      expect(w.context.signal.aborted).toBe(true);
      w.result.resolve('v');
    });
  });

  describe('announce', () => {
    it("settles every lease's head, once, before the value", async () => {
      const flights = new SingleFlight<string, { status: number }>('cancel');
      const w = controllable<string, { status: number }>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      const b = flights.join('k', new AbortController().signal);
      const value = observe(a.value);
      w.context.announce({ status: 206 });
      w.context.announce({ status: 500 });
      await expect(a.head).resolves.toEqual({ status: 206 });
      await expect(b?.head).resolves.toEqual({ status: 206 });
      expect(value.outcome.settled).toBe(false);
      w.result.resolve('v');
      await flush();
      expect(value.outcome.value).toBe('v');
    });

    it('rejects head with the error of a work that fails before announcing', async () => {
      const flights = new SingleFlight<string, string>('cancel');
      const w = controllable<string, string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      const failure = new Error('no head');
      w.result.reject(failure);
      await expect(a.head).rejects.toBe(failure);
      await expect(a.value).rejects.toBe(failure);
    });

    it('rejects head when the work succeeds without announcing', async () => {
      const flights = new SingleFlight<string, string>('cancel');
      const w = controllable<string, string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      w.result.resolve('v');
      await expect(a.head).rejects.toThrow(/without a head/);
      await expect(a.value).resolves.toBe('v');
    });

    it('keeps an announced head when the work fails afterwards', async () => {
      const flights = new SingleFlight<string, string>('cancel');
      const w = controllable<string, string>();
      const a = flights.start('k', 'obj', w.work, new AbortController().signal);
      w.context.announce('h');
      w.result.reject(new Error('body failed'));
      await expect(a.value).rejects.toThrow('body failed');
      await expect(a.head).resolves.toBe('h');
    });
  });

  describe('alias and hold', () => {
    it('makes the flight reachable under a second key until it ends', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      flights.start('ref', 'obj', w.work, new AbortController().signal);
      expect(flights.join('slice', new AbortController().signal)).toBeUndefined();
      w.context.alias('slice');
      expect(flights.size).toBe(2);
      const viaAlias = flights.join('slice', new AbortController().signal);
      expect(viaAlias?.joined).toBe(true);
      w.result.resolve('v');
      await expect(viaAlias?.value).resolves.toBe('v');
      await flush();
      expect(flights.size).toBe(0);
      expect(flights.join('slice', new AbortController().signal)).toBeUndefined();
      w.context.alias('too-late');
      expect(flights.size).toBe(0);
    });

    it('never takes an alias over from another flight, whose joiners stay together', async () => {
      const flights = new SingleFlight<string>('cancel');
      const slice = controllable<string>();
      const reference = controllable<string>();
      flights.start('slice', 'obj', slice.work, new AbortController().signal);
      flights.start('ref', 'obj', reference.work, new AbortController().signal);
      reference.context.alias('slice');
      const joiner = flights.join('slice', new AbortController().signal);
      slice.result.resolve('from the slice fill');
      reference.result.resolve('from the reference');
      await expect(joiner?.value).resolves.toBe('from the slice fill');
    });

    it('drops the alias too when the flight is abandoned', () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const lease = flights.start('ref', 'obj', w.work, new AbortController().signal);
      w.context.alias('slice');
      lease.release();
      expect(flights.size).toBe(0);
      w.context.alias('after-abandon');
      expect(flights.size).toBe(0);
      w.result.resolve('v');
    });

    it('keeps the key joinable until every held promise settles, rejected ones included', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const write = deferred<void>();
      const unlock = deferred<void>();
      flights.start('k', 'obj', w.work, new AbortController().signal);
      w.context.hold(write.promise);
      w.context.hold(unlock.promise);
      w.result.resolve('v');
      await flush();
      expect(flights.size).toBe(1);
      write.reject(new Error('store failed'));
      await flush();
      expect(flights.size).toBe(1);
      unlock.resolve();
      await flush();
      expect(flights.size).toBe(0);
    });
  });

  describe('a lease that holds', () => {
    it('keeps a flight joinable after its work settled until the held promise settles', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const lease = flights.start('k', 'obj', w.work, new AbortController().signal);
      const copy = deferred<void>();
      lease.hold(copy.promise);
      w.result.resolve('v');
      await flush();
      expect(flights.join('k', new AbortController().signal)).toBeDefined();
      copy.resolve();
      await flush();
      expect(flights.size).toBe(0);
    });

    it('cannot bring an ended flight back', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = controllable<string>();
      const lease = flights.start('k', 'obj', w.work, new AbortController().signal);
      w.result.resolve('v');
      await flush();
      lease.hold(deferred<void>().promise);
      expect(flights.size).toBe(0);
      expect(flights.join('k', new AbortController().signal)).toBeUndefined();
    });
  });

  describe('forget and abortAll', () => {
    it('hides flights of a tag from new joiners while existing leases keep theirs', async () => {
      const flights = new SingleFlight<string>('cancel');
      const a = controllable<string>();
      const b = controllable<string>();
      const leaseA = flights.start('a1', 'objA', a.work, new AbortController().signal);
      a.context.alias('a2');
      flights.start('b1', 'objB', b.work, new AbortController().signal);
      flights.forget('objA');
      expect(flights.size).toBe(1);
      expect(flights.join('a1', new AbortController().signal)).toBeUndefined();
      expect(flights.join('a2', new AbortController().signal)).toBeUndefined();
      expect(flights.join('b1', new AbortController().signal)).toBeDefined();
      expect(a.context.signal.aborted).toBe(false);
      a.result.resolve('a');
      b.result.resolve('b');
      await expect(leaseA.value).resolves.toBe('a');
    });

    it('lets a new flight take a forgotten key without the old one removing it when it ends', async () => {
      const flights = new SingleFlight<string>('cancel');
      const old = controllable<string>();
      flights.start('k', 'obj', old.work, new AbortController().signal);
      flights.forget('obj');
      const fresh = controllable<string>();
      flights.start('k', 'obj', fresh.work, new AbortController().signal);
      old.result.resolve('old');
      await flush();
      expect(flights.join('k', new AbortController().signal)).toBeDefined();
      fresh.result.resolve('new');
    });

    it('abortAll reaches flights a forget made unreachable too', async () => {
      const flights = new SingleFlight<string>('cancel');
      const w = abortable<string>();
      const lease = flights.start('k', 'obj', w.work, new AbortController().signal);
      flights.forget('obj');
      flights.abortAll('closing');
      expect(w.context.signal.reason).toBe('closing');
      await expect(lease.value).rejects.toBe('closing');
    });

    it("abortAll aborts every flight's work with the reason and leaves nothing joinable", async () => {
      const flights = new SingleFlight<string>('cancel');
      const a = abortable<string>();
      const b = abortable<string>();
      const leaseA = flights.start('a', 'x', a.work, new AbortController().signal);
      flights.start('b', 'y', b.work, new AbortController().signal);
      a.context.alias('a-alias');
      const reason = new Error('closing');
      flights.abortAll(reason);
      expect(a.context.signal.reason).toBe(reason);
      expect(b.context.signal.reason).toBe(reason);
      expect(flights.size).toBe(0);
      await expect(leaseA.value).rejects.toBe(reason);
    });
  });

  describe('unobserved failures', () => {
    it('raises no unhandled rejection for a failed flight whose leases never look at value or head', async () => {
      const flights = new SingleFlight<string, string>('cancel');
      const w = controllable<string, string>();
      const kept = flights.start('k', 'obj', w.work, new AbortController().signal);
      flights.join('k', new AbortController().signal);
      w.result.reject(new Error('nobody looks'));
      await flush();
      expect(kept.joined).toBe(false);
      expect(flights.size).toBe(0);
    });

    it('raises no unhandled rejection for a failed flight abandoned by every lease', async () => {
      const flights = new SingleFlight<string, string>('cancel');
      const w = abortable<string, string>();
      flights.start('k', 'obj', w.work, new AbortController().signal).release();
      await flush();
      expect(w.context.signal.aborted).toBe(true);
    });

    it('raises no unhandled rejection for a lease aborted while nobody reads it', async () => {
      const flights = new SingleFlight<string, string>('complete');
      const w = controllable<string, string>();
      const controller = new AbortController();
      flights.start('k', 'obj', w.work, controller.signal);
      controller.abort(new Error('gone'));
      w.result.reject(new Error('later failure'));
      await flush();
    });
  });
});

describe('runAlone', () => {
  it("runs the work with a signal of its own that the caller's signal aborts with its reason", async () => {
    const caller = new AbortController();
    let inner: AbortSignal | undefined;
    const running = runAlone<string, never>((context) => {
      inner = context.signal;
      return new Promise((_, reject) => {
        context.signal.addEventListener('abort', () => reject(context.signal.reason));
      });
    }, caller.signal);
    expect(inner?.aborted).toBe(false);
    expect(inner).not.toBe(caller.signal);
    caller.abort('stop');
    expect(inner?.reason).toBe('stop');
    await expect(running).rejects.toBe('stop');
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it("resolves the work's value and removes its listener from the caller's signal", async () => {
    const caller = new AbortController();
    const value = await runAlone<string, string>(async (context) => {
      // Flight-only capabilities are harmless no-ops here.
      context.announce('h');
      context.alias('k');
      context.hold(Promise.resolve());
      context.finishAlone(() => true);
      return 'v';
    }, caller.signal);
    expect(value).toBe('v');
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it('removes its listener when the work fails', async () => {
    const caller = new AbortController();
    await expect(
      runAlone<string, never>(async () => {
        throw new Error('failed');
      }, caller.signal),
    ).rejects.toThrow('failed');
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it('turns a synchronous throw of the work into a rejection and leaves no listener behind', async () => {
    const caller = new AbortController();
    const failure = new Error('sync failure');
    let returned: Promise<unknown> | undefined;
    expect(() => {
      returned = runAlone(() => {
        throw failure;
      }, caller.signal);
    }).not.toThrow();
    await expect(returned).rejects.toBe(failure);
    expect(abortListeners(caller.signal)).toBe(0);
  });

  it('never runs the work when the signal is already aborted', async () => {
    const caller = new AbortController();
    caller.abort('early');
    const work = vi.fn(async () => 'v');
    await expect(runAlone(work, caller.signal)).rejects.toSatisfy((error) => {
      expectAborted(error, 'early');
      return true;
    });
    expect(work).not.toHaveBeenCalled();
    expect(abortListeners(caller.signal)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('SingleFlight (property)', () => {
  type Op =
    | { readonly kind: 'open'; readonly key: number; readonly preAborted: boolean }
    | { readonly kind: 'release'; readonly lease: number }
    | { readonly kind: 'abort'; readonly lease: number }
    | { readonly kind: 'announce'; readonly flight: number }
    | { readonly kind: 'settle'; readonly flight: number; readonly ok: boolean }
    | { readonly kind: 'land'; readonly flight: number };

  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('open' as const),
        key: fc.nat(2),
        preAborted: fc.oneof(
          { weight: 4, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.constant(true) },
        ),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), lease: fc.nat(50) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), lease: fc.nat(50) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('announce' as const), flight: fc.nat(50) }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('settle' as const), flight: fc.nat(50), ok: fc.boolean() }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('land' as const), flight: fc.nat(50) }) },
  );

  /** How a work behaves: whether it gives up when its signal aborts, whether it holds its key for a write. */
  const behaviour = fc.record({ reactsToAbort: fc.boolean(), holds: fc.boolean() });

  interface ModelFlight {
    readonly key: number;
    readonly result: ReturnType<typeof deferred<string>>;
    readonly write: ReturnType<typeof deferred<void>>;
    context: FlightContext<string> | undefined;
    readonly reactsToAbort: boolean;
    readonly holds: boolean;
    live: number;
    settled: boolean;
    landed: boolean;
    expectAborted: boolean;
  }

  interface ModelLease {
    readonly flight: ModelFlight | undefined;
    readonly lease: Lease<string, string>;
    readonly controller: AbortController;
    readonly value: { readonly outcome: Outcome<string> };
    readonly head: { readonly outcome: Outcome<string> };
    left: boolean;
  }

  it('aborts the work iff every lease left before it settled, and settles every lease (policy cancel)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.array(behaviour, { minLength: 1, maxLength: 8 }),
        async (ops, behaviours) => {
          const flights = new SingleFlight<string, string>('cancel');
          const all: ModelFlight[] = [];
          const leases: ModelLease[] = [];
          /** The flight each key can be joined for now. */
          const current = new Map<number, ModelFlight>();

          const unlist = (f: ModelFlight): void => {
            if (current.get(f.key) === f) current.delete(f.key);
          };
          const settleModel = (f: ModelFlight): void => {
            f.settled = true;
            for (const l of leases) if (l.flight === f) l.left = true;
            if (!f.holds || f.landed || f.expectAborted) unlist(f);
          };
          const leave = (l: ModelLease): void => {
            if (l.left) return;
            l.left = true;
            const f = l.flight;
            if (f === undefined || f.settled) return;
            f.live--;
            if (f.live === 0) {
              f.expectAborted = true;
              unlist(f);
              if (f.reactsToAbort) settleModel(f);
            }
          };

          for (const o of ops) {
            switch (o.kind) {
              case 'open': {
                const controller = new AbortController();
                const reason = new Error('aborted before it asked');
                if (o.preAborted) controller.abort(reason);
                const key = `k${o.key}`;
                const existing = current.get(o.key);
                let lease = flights.join(key, controller.signal);
                let flight = existing;
                if (existing !== undefined) {
                  expect(lease?.joined).toBe(true);
                  if (!existing.settled && !o.preAborted) existing.live++;
                } else {
                  expect(lease).toBeUndefined();
                  const { reactsToAbort, holds } = behaviours[all.length % behaviours.length] as {
                    reactsToAbort: boolean;
                    holds: boolean;
                  };
                  const f: ModelFlight = {
                    key: o.key,
                    result: deferred<string>(),
                    write: deferred<void>(),
                    context: undefined,
                    reactsToAbort,
                    holds,
                    live: 1,
                    settled: false,
                    landed: false,
                    expectAborted: false,
                  };
                  lease = flights.start(
                    key,
                    'tag',
                    (context) => {
                      f.context = context;
                      if (f.holds) context.hold(f.write.promise);
                      if (f.reactsToAbort)
                        context.signal.addEventListener('abort', () =>
                          f.result.reject(context.signal.reason),
                        );
                      return f.result.promise;
                    },
                    controller.signal,
                  );
                  expect(lease.joined).toBe(false);
                  // A start whose caller has already gone runs nothing and registers nothing.
                  flight = o.preAborted ? undefined : f;
                  if (flight !== undefined) {
                    all.push(f);
                    current.set(o.key, f);
                  }
                }
                if (lease === undefined) throw new Error('unreachable');
                const l: ModelLease = {
                  flight,
                  lease,
                  controller,
                  value: observe(lease.value),
                  head: observe(lease.head),
                  left: o.preAborted || flight === undefined || flight.settled,
                };
                leases.push(l);
                if (o.preAborted) {
                  await flush();
                  expectAborted(l.value.outcome.error, reason);
                  expectAborted(l.head.outcome.error, reason);
                }
                break;
              }
              case 'release': {
                const l = leases[o.lease % Math.max(leases.length, 1)];
                if (l === undefined) break;
                l.lease.release();
                leave(l);
                break;
              }
              case 'abort': {
                const l = leases[o.lease % Math.max(leases.length, 1)];
                if (l === undefined || l.controller.signal.aborted) break;
                // Only a lease still in the flight hears its signal; a released one has stopped listening.
                const wasLive = !l.left && !l.value.outcome.settled;
                const reason = new Error('lease aborted');
                l.controller.abort(reason);
                leave(l);
                await flush();
                if (wasLive) {
                  expect(l.value.outcome.ok).toBe(false);
                  expectAborted(l.value.outcome.error, reason);
                }
                break;
              }
              case 'announce': {
                const f = all[o.flight % Math.max(all.length, 1)];
                f?.context?.announce(`head-${o.flight}`);
                break;
              }
              case 'settle': {
                const f = all[o.flight % Math.max(all.length, 1)];
                if (f === undefined || f.settled) break;
                if (o.ok) f.result.resolve('value');
                else f.result.reject(new Error('work failed'));
                settleModel(f);
                break;
              }
              case 'land': {
                const f = all[o.flight % Math.max(all.length, 1)];
                if (f === undefined || f.landed) break;
                f.landed = true;
                f.write.resolve();
                if (f.settled) unlist(f);
                break;
              }
            }
            await flush();
            for (const f of all) expect(f.context?.signal.aborted).toBe(f.expectAborted);
            expect(flights.size).toBe(current.size);
            for (const l of leases) expect(abortListeners(l.controller.signal)).toBe(l.left ? 0 : 1);
          }

          // Every work ends sooner or later: then every lease's promises have settled, and nothing listens.
          for (const f of all) {
            f.result.resolve('late value');
            f.write.resolve();
          }
          await flush();
          for (const f of all) expect(f.context?.signal.aborted).toBe(f.expectAborted);
          for (const l of leases) {
            expect(l.value.outcome.settled).toBe(true);
            expect(l.head.outcome.settled).toBe(true);
            expect(abortListeners(l.controller.signal)).toBe(0);
          }
          expect(flights.size).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
