import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Chunks } from '../../src/core/chunks.js';
import { isSliceFetchError } from '../../src/core/errors.js';
import { ByteBudget } from '../../src/engine/byte-budget.js';
import { CacheGate } from '../../src/engine/cache-gate.js';
import { claimFill } from '../../src/engine/fill-claim.js';
import { Telemetry } from '../../src/engine/telemetry.js';
import type { CacheStorage, Logger, Metrics } from '../../src/ports.js';
import { abortListeners, observe } from './unit-helpers.js';

/**
 * A store shared by several processes, reduced to what a claim needs: values and claims that lapse after their
 * TTL (on the fake clock). `mode` makes `lock` fail.
 */
class SharedStore implements CacheStorage {
  readonly values = new Map<string, string>();
  /** Claims by key: who holds it and until when. */
  readonly claims = new Map<string, { readonly owner: string; readonly until: number }>();
  mode: 'ok' | 'throw' | 'hang' = 'ok';
  readonly owner: string;

  constructor(owner = 'this-process') {
    this.owner = owner;
  }

  readonly lock = vi.fn(async (key: string, ttlMs: number): Promise<boolean> => {
    if (this.mode === 'throw') throw new Error('lock broke');
    if (this.mode === 'hang') return new Promise<boolean>(() => {});
    return this.claim(key, ttlMs, this.owner);
  });

  readonly unlock = vi.fn(async (key: string): Promise<void> => {
    if (this.claims.get(key)?.owner === this.owner) this.claims.delete(key);
  });

  /** A claim by anyone (another process claims through this). */
  claim(key: string, ttlMs: number, owner: string): boolean {
    const held = this.claims.get(key);
    if (held !== undefined && held.until > Date.now()) return false;
    this.claims.set(key, { owner, until: Date.now() + ttlMs });
    return true;
  }

  get() {
    return undefined;
  }
  set(): void {}
  delete(): boolean {
    return false;
  }
  purgeObject(): number {
    return 0;
  }
  stats() {
    return { bytes: 0, entries: 0 };
  }
  close(): void {}
}

const event = { requestId: 'r1', url: 'https://origin.test/a.bin' };
const CACHE_MS = 1000;

function setup(store: CacheStorage = new SharedStore()) {
  const onCacheError = vi.fn<NonNullable<Metrics['onCacheError']>>();
  const logger: Logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const cache = new CacheGate(
    store,
    CACHE_MS,
    new Telemetry({ onCacheError }, logger),
    new ByteBudget(1 << 20),
  );
  return { cache, onCacheError };
}

/** A `read` of the shared store's value for `key`, recording when (fake clock) it was called. */
function reader(store: SharedStore, key: string) {
  const times: number[] = [];
  const read = vi.fn(async (): Promise<string | undefined> => {
    times.push(Date.now());
    return store.values.get(key);
  });
  return { read, times };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(0);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('claimFill', () => {
  it('claims a free slice and answers claimed when a second read still finds nothing', async () => {
    const store = new SharedStore();
    const { cache } = setup(store);
    const { read } = reader(store, 'k');
    const signal = new AbortController().signal;
    await expect(claimFill(cache, 'k', event, { read, waitMs: 5000, signal })).resolves.toBe('claimed');
    expect(read).toHaveBeenCalledTimes(1);
    expect(store.lock).toHaveBeenCalledWith('k', 5000);
    expect(store.claims.get('k')).toEqual({ owner: 'this-process', until: 5000 });
    expect(store.unlock).not.toHaveBeenCalled(); // the caller unlocks once it has stored the value
    expect(vi.getTimerCount()).toBe(0);
  });

  it('claims for at most 30 s however long it would wait', async () => {
    const store = new SharedStore();
    const { cache } = setup(store);
    const signal = new AbortController().signal;
    await claimFill(cache, 'k', event, { read: async () => undefined, waitMs: 120_000, signal });
    expect(store.lock).toHaveBeenCalledWith('k', 30_000);
  });

  it('returns the value that landed between the miss and the claim, and gives the claim back', async () => {
    const store = new SharedStore();
    store.values.set('k', 'bytes from elsewhere');
    const { cache } = setup(store);
    const { read } = reader(store, 'k');
    const signal = new AbortController().signal;
    await expect(claimFill(cache, 'k', event, { read, waitMs: 5000, signal })).resolves.toBe(
      'bytes from elsewhere',
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(store.unlock).toHaveBeenCalledWith('k');
    expect(store.claims.size).toBe(0);
  });

  it('polls the store with a doubling pause while another process holds the claim, and returns its value', async () => {
    const store = new SharedStore();
    store.claim('k', 60_000, 'other');
    const { cache } = setup(store);
    const { read, times } = reader(store, 'k');
    const controller = new AbortController();
    const claim = observe(claimFill(cache, 'k', event, { read, waitMs: 10_000, signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(250);
    expect(times).toEqual([0, 10, 30, 70, 150, 250]); // pauses of 10, 20, 40, 80, then at most 100 ms
    expect(claim.settled).toBe(false);
    store.values.set('k', 'their bytes');
    await vi.advanceTimersByTimeAsync(100);
    expect(claim.value).toBe('their bytes');
    expect(store.claims.get('k')?.owner).toBe('other'); // the holder's claim is the holder's to release
    expect(store.unlock).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('with readWhileHeld false, waits for the release before reading a value that is already there', async () => {
    const store = new SharedStore();
    store.claim('k', 60_000, 'other');
    store.values.set('k', 'metadata, reference slice still landing');
    const { cache } = setup(store);
    const { read } = reader(store, 'k');
    const signal = new AbortController().signal;
    const claim = observe(
      claimFill(cache, 'k', event, { read, readWhileHeld: false, waitMs: 10_000, signal }),
    );
    await vi.advanceTimersByTimeAsync(500);
    expect(read).not.toHaveBeenCalled();
    expect(claim.settled).toBe(false);
    store.claims.delete('k'); // the other process has stored everything and releases
    await vi.advanceTimersByTimeAsync(100);
    expect(claim.value).toBe('metadata, reference slice still landing');
    expect(read).toHaveBeenCalledTimes(1);
    expect(store.unlock).toHaveBeenCalledWith('k');
    expect(store.claims.size).toBe(0);
  });

  it('claims the fill itself once the holder releases without a value (its fetch failed)', async () => {
    const store = new SharedStore();
    store.claim('k', 60_000, 'other');
    const { cache } = setup(store);
    const { read } = reader(store, 'k');
    const signal = new AbortController().signal;
    const claim = observe(claimFill(cache, 'k', event, { read, waitMs: 10_000, signal }));
    await vi.advanceTimersByTimeAsync(30);
    expect(claim.settled).toBe(false);
    store.claims.delete('k');
    await vi.advanceTimersByTimeAsync(40);
    expect(claim.value).toBe('claimed');
    expect(store.claims.get('k')?.owner).toBe('this-process');
  });

  it('claims the fill itself once the holder’s claim lapses (a crashed holder)', async () => {
    const store = new SharedStore();
    store.claim('k', 50, 'crashed');
    const { cache } = setup(store);
    const signal = new AbortController().signal;
    const claim = observe(
      claimFill(cache, 'k', event, { read: async () => undefined, waitMs: 10_000, signal }),
    );
    await vi.advanceTimersByTimeAsync(30);
    expect(claim.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(40); // the poll at t=70 finds the claim lapsed
    expect(claim.value).toBe('claimed');
    expect(store.claims.get('k')).toEqual({ owner: 'this-process', until: 70 + 10_000 });
  });

  it('gives up waiting past waitMs and fetches unclaimed, leaving no timer or listener', async () => {
    const store = new SharedStore();
    store.claim('k', 60_000, 'other');
    const { cache } = setup(store);
    const { read, times } = reader(store, 'k');
    const controller = new AbortController();
    const claim = observe(claimFill(cache, 'k', event, { read, waitMs: 100, signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(99);
    expect(claim.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(claim.value).toBe('own');
    expect(times).toEqual([0, 10, 30, 70, 100]); // the last pause is cut to the deadline
    expect(vi.getTimerCount()).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects with ERR_SLICE_ABORTED when its signal aborts while waiting, leaving no timer or listener', async () => {
    const store = new SharedStore();
    store.claim('k', 60_000, 'other');
    const { cache } = setup(store);
    const controller = new AbortController();
    const claim = observe(
      claimFill(cache, 'k', event, {
        read: async () => undefined,
        waitMs: 10_000,
        signal: controller.signal,
      }),
    );
    await vi.advanceTimersByTimeAsync(15);
    expect(vi.getTimerCount()).toBe(1);
    expect(abortListeners(controller.signal)).toBe(1);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(isSliceFetchError(claim.error)).toBe(true);
    expect((claim.error as { code: string }).code).toBe('ERR_SLICE_ABORTED');
    expect(vi.getTimerCount()).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(store.claims.get('k')?.owner).toBe('other');
  });

  it('rejects at its first pause when the signal was aborted before it began waiting', async () => {
    const store = new SharedStore();
    store.claim('k', 60_000, 'other');
    const { cache } = setup(store);
    const controller = new AbortController();
    controller.abort();
    const claim = observe(
      claimFill(cache, 'k', event, {
        read: async () => undefined,
        waitMs: 10_000,
        signal: controller.signal,
      }),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(claim.error).toMatchObject({ code: 'ERR_SLICE_ABORTED' });
    expect(vi.getTimerCount()).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('fetches unclaimed, without reading, when the store’s lock throws', async () => {
    const store = new SharedStore();
    store.mode = 'throw';
    const { cache, onCacheError } = setup(store);
    const read = vi.fn(async () => 'never read');
    const signal = new AbortController().signal;
    await expect(claimFill(cache, 'k', event, { read, waitMs: 10_000, signal })).resolves.toBe('own');
    expect(read).not.toHaveBeenCalled();
    expect(onCacheError).toHaveBeenCalledTimes(1);
    expect(onCacheError).toHaveBeenCalledWith(expect.objectContaining({ operation: 'lock' }));
  });

  it('fetches unclaimed once the store’s lock hangs past the cache timeout', async () => {
    const store = new SharedStore();
    store.mode = 'hang';
    const { cache, onCacheError } = setup(store);
    const signal = new AbortController().signal;
    const claim = observe(
      claimFill(cache, 'k', event, { read: async () => undefined, waitMs: 10_000, signal }),
    );
    await vi.advanceTimersByTimeAsync(CACHE_MS);
    expect(claim.value).toBe('own');
    expect(onCacheError).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fetches unclaimed with a store that cannot claim', async () => {
    const plain: CacheStorage = {
      get: () => undefined,
      set: () => {},
      delete: () => false,
      purgeObject: () => 0,
      stats: () => ({ bytes: 0, entries: 0 }),
      close: () => {},
    };
    const { cache } = setup(plain);
    const read = vi.fn(async (): Promise<Chunks | undefined> => undefined);
    const signal = new AbortController().signal;
    await expect(claimFill(cache, 'k', event, { read, waitMs: 10_000, signal })).resolves.toBe('own');
    expect(read).not.toHaveBeenCalled();
    expect(cache.coordinates).toBe(false);
  });
});
