/**
 * Renewal of a fill claim (R22), on a fake clock: a claim taken with `progress` is renewed about every third of
 * its lifetime (`CacheStorage.lockMs`) while the fill receives bytes, and left to lapse when the fill stalls, the
 * claim is found gone, or the fill is cancelled — one timer at a time, none left behind.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ByteBudget } from '../../src/engine/byte-budget.js';
import { CacheGate } from '../../src/engine/cache-gate.js';
import { claimFill } from '../../src/engine/fill-claim.js';
import { Telemetry } from '../../src/engine/telemetry.js';
import type { CacheStorage, Logger } from '../../src/ports.js';

const event = { requestId: 'r1', url: 'https://origin.test/a.bin' };
const LOCK_MS = 300;

/** A store whose claims are always granted and whose renewals answer `held` (and are recorded). */
function store(held: () => boolean = () => true) {
  const renew = vi.fn(async (_key: string, _ttlMs: number) => held());
  const lock = vi.fn(async (_key: string, _ttlMs: number) => true);
  const s: CacheStorage = {
    lockMs: LOCK_MS,
    lock,
    renew,
    unlock: async () => {},
    get: () => undefined,
    set: () => {},
    delete: () => false,
    purgeObject: () => 0,
    stats: () => ({ bytes: 0, entries: 0 }),
    close: () => {},
  };
  const logger: Logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const cache = new CacheGate(s, 1000, new Telemetry({}, logger), new ByteBudget(1 << 20));
  return { cache, renew, lock };
}

async function claim(
  cache: CacheGate,
  progress: { received: number },
  signal = new AbortController().signal,
) {
  return claimFill(cache, 'k', event, { read: async () => undefined, waitMs: 60_000, signal, progress });
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('claim renewal', () => {
  it("claims for the store's lockMs, not the whole coalescing wait", async () => {
    const { cache, lock } = store();
    expect(await claim(cache, { received: 0 })).toBe('claimed');
    expect(lock).toHaveBeenCalledWith('k', LOCK_MS);
  });

  it('renews every third of the lifetime while bytes arrive, and stops one lifetime after they stop', async () => {
    const { cache, renew } = store();
    const progress = { received: 0 };
    await claim(cache, progress);
    for (let i = 1; i <= 5; i++) {
      progress.received += 1000;
      await vi.advanceTimersByTimeAsync(LOCK_MS / 3);
      expect(renew).toHaveBeenCalledTimes(i);
    }
    expect(renew).toHaveBeenLastCalledWith('k', LOCK_MS);
    // The fill stalls: no renewal, and once a lifetime has passed the claim has lapsed and the timer is gone.
    await vi.advanceTimersByTimeAsync(LOCK_MS + LOCK_MS / 3);
    expect(renew).toHaveBeenCalledTimes(5);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops at the first renewal that finds the claim gone (released, or taken by another process)', async () => {
    let held = true;
    const { cache, renew } = store(() => held);
    const progress = { received: 0 };
    await claim(cache, progress);
    progress.received = 1;
    await vi.advanceTimersByTimeAsync(LOCK_MS / 3);
    held = false;
    progress.received = 2;
    await vi.advanceTimersByTimeAsync(LOCK_MS / 3);
    expect(renew).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops when the fill is cancelled, and renews nothing without progress to watch', async () => {
    const controller = new AbortController();
    const first = store();
    const progress = { received: 0 };
    await claim(first.cache, progress, controller.signal);
    controller.abort();
    progress.received = 5;
    await vi.advanceTimersByTimeAsync(LOCK_MS);
    expect(first.renew).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);

    const second = store();
    await claimFill(second.cache, 'k', event, {
      read: async () => undefined,
      waitMs: 60_000,
      signal: new AbortController().signal,
    });
    expect(vi.getTimerCount()).toBe(0);
    expect(second.renew).not.toHaveBeenCalled();
  });
});
