import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Chunks } from '../../src/core/chunks.js';
import { ByteBudget } from '../../src/engine/byte-budget.js';
import { CacheGate } from '../../src/engine/cache-gate.js';
import { Telemetry } from '../../src/engine/telemetry.js';
import type { CacheEntryMeta, CacheStorage, Logger, Metrics } from '../../src/ports.js';

type Operation = 'get' | 'set' | 'has' | 'delete' | 'purgeObject' | 'lock' | 'unlock';
type Failure = 'throw' | 'reject' | 'hang';

interface StoreOptions {
  readonly inProcess?: boolean;
  readonly checksummed?: boolean;
  readonly maxBytes?: number;
  /** Whether answers come as promises. */
  readonly async?: boolean;
  readonly withHas?: boolean;
  readonly withLock?: boolean;
}

/**
 * A map-backed store that can be made to fail. Out of process (neither `inProcess` nor `checksummed`), it keeps
 * a copy of what it is given, as a remote store would; in process, the very chunks.
 */
class TestStore implements CacheStorage {
  readonly entries = new Map<string, Uint8Array[]>();
  readonly locks = new Set<string>();
  readonly failures = new Map<Operation, Failure>();
  /** When set, `set` answers with this promise. */
  pendingSet: Promise<void> | undefined;
  readonly inProcess?: boolean;
  readonly checksummed?: boolean;
  readonly maxBytes?: number;
  readonly has?: (key: string) => boolean | Promise<boolean>;
  readonly lock?: (key: string, ttlMs: number) => boolean | Promise<boolean>;
  readonly unlock?: (key: string) => void | Promise<void>;
  readonly #async: boolean;

  constructor(options: StoreOptions = {}) {
    if (options.inProcess !== undefined) this.inProcess = options.inProcess;
    if (options.checksummed !== undefined) this.checksummed = options.checksummed;
    if (options.maxBytes !== undefined) this.maxBytes = options.maxBytes;
    this.#async = options.async ?? false;
    if (options.withHas === true)
      this.has = vi.fn((key: string) => this.#answer('has', () => this.entries.has(key)));
    if (options.withLock === true) {
      this.lock = vi.fn((key: string) =>
        this.#answer('lock', () => {
          if (this.locks.has(key)) return false;
          this.locks.add(key);
          return true;
        }),
      );
      this.unlock = vi.fn((key: string) =>
        this.#answer('unlock', () => {
          this.locks.delete(key);
        }),
      );
    }
  }

  readonly get = vi.fn((key: string, _range?: unknown, _options?: unknown) =>
    this.#answer('get', () => this.entries.get(key)),
  );

  readonly set = vi.fn((key: string, value: Chunks, _meta: CacheEntryMeta) => {
    if (this.pendingSet !== undefined && !this.failures.has('set')) {
      return this.pendingSet.then(() => {
        this.entries.set(key, [Buffer.concat(value)]);
      });
    }
    return this.#answer('set', () => {
      this.entries.set(key, this.inProcess === true ? [...value] : [Buffer.concat(value)]);
    });
  });

  readonly delete = vi.fn((key: string) => this.#answer('delete', () => this.entries.delete(key)));

  readonly purgeObject = vi.fn((prefix: string) =>
    this.#answer('purgeObject', () => {
      let count = 0;
      for (const key of [...this.entries.keys()]) {
        if (key.startsWith(prefix)) {
          this.entries.delete(key);
          count++;
        }
      }
      return count;
    }),
  );

  stats() {
    return { bytes: 0, entries: this.entries.size };
  }

  close(): void {}

  #answer<T>(operation: Operation, run: () => T): T | Promise<T> {
    const failure = this.failures.get(operation);
    if (failure === 'throw') throw new Error(`${operation} broke`);
    if (failure === 'reject') return Promise.reject(new Error(`${operation} broke`));
    if (failure === 'hang') return new Promise<T>(() => {});
    return this.#async ? Promise.resolve().then(run) : run();
  }
}

const event = { requestId: 'r1', url: 'https://origin.test/video.mp4' };

function sliceMeta(size = 1000): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey: 'obj',
    validator: '"v1"',
    range: { start: 0, end: size - 1 },
    size,
    expiresAt: 0,
  };
}

const metadataMeta: CacheEntryMeta = { ...sliceMeta(), kind: 'metadata' };

const TIMEOUT_MS = 500;

function setup(store: CacheStorage | undefined, writes = new ByteBudget(1 << 20)) {
  const onCacheError = vi.fn<NonNullable<Metrics['onCacheError']>>();
  const logger: Logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const telemetry = new Telemetry({ onCacheError }, logger);
  const gate = new CacheGate(store, TIMEOUT_MS, telemetry, writes);
  const errors = () => telemetry.snapshot({ used: 0, peak: 0 }).cacheErrors;
  return { gate, onCacheError, logger, writes, errors };
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function concat(chunks: Chunks | undefined): Buffer {
  return Buffer.concat(chunks ?? []);
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('CacheGate', () => {
  describe('without a store', () => {
    it('answers every operation as a miss and reports nothing', async () => {
      const { gate, onCacheError } = setup(undefined);
      expect(gate.enabled).toBe(false);
      expect(gate.canTell).toBe(false);
      expect(gate.coordinates).toBe(false);
      expect(gate.inProcess).toBe(false);
      expect(gate.admits(0)).toBe(false);
      expect(gate.has('k', event)).toBe(false);
      await expect(gate.get('k', 3, event)).resolves.toBeUndefined();
      await expect(gate.set('k', [bytes(1)], sliceMeta(), event)).resolves.toBe(false);
      await expect(gate.delete('k', event)).resolves.toBeUndefined();
      await expect(gate.purgeObject('obj', event)).resolves.toBe(0);
      await expect(gate.lock('k', 1000, event)).resolves.toBeUndefined();
      await expect(gate.unlock('k', event)).resolves.toBeUndefined();
      expect(onCacheError).not.toHaveBeenCalled();
    });
  });

  describe('fail-open', () => {
    const cases: readonly {
      readonly operation: Operation;
      readonly reported: string;
      readonly call: (gate: CacheGate) => Promise<unknown> | unknown;
      readonly fallback: unknown;
    }[] = [
      { operation: 'get', reported: 'get', call: (g) => g.get('k', 3, event), fallback: undefined },
      {
        operation: 'set',
        reported: 'set',
        call: (g) => g.set('k', [bytes(1)], sliceMeta(1), event),
        fallback: false,
      },
      { operation: 'has', reported: 'get', call: (g) => g.has('k', event), fallback: false },
      { operation: 'delete', reported: 'delete', call: (g) => g.delete('k', event), fallback: undefined },
      { operation: 'purgeObject', reported: 'purge', call: (g) => g.purgeObject('obj', event), fallback: 0 },
      { operation: 'lock', reported: 'lock', call: (g) => g.lock('k', 1000, event), fallback: undefined },
      { operation: 'unlock', reported: 'unlock', call: (g) => g.unlock('k', event), fallback: undefined },
    ];
    const failures: readonly Failure[] = ['throw', 'reject', 'hang'];

    for (const { operation, reported, call, fallback } of cases) {
      for (const failure of failures) {
        it(`answers ${String(fallback)} and reports one '${reported}' error when the store's ${operation} ${failure === 'hang' ? 'hangs past the timeout' : `${failure}s`}`, async () => {
          const store = new TestStore({ withHas: true, withLock: true, async: true });
          store.entries.set('k', [bytes(1, 2, 3)]);
          store.failures.set(operation, failure);
          const { gate, onCacheError, logger, errors, writes } = setup(store);
          const answer = Promise.resolve(call(gate));
          let done = false;
          void answer.then(() => {
            done = true;
          });
          if (failure === 'hang') {
            await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
            expect(done).toBe(false);
            await vi.advanceTimersByTimeAsync(1);
          }
          await expect(answer).resolves.toBe(fallback);
          expect(onCacheError).toHaveBeenCalledTimes(1);
          expect(onCacheError).toHaveBeenCalledWith(
            expect.objectContaining({ ...event, operation: reported, error: expect.any(Error) }),
          );
          if (failure === 'hang')
            expect((onCacheError.mock.calls[0]?.[0]?.error as Error | undefined)?.message).toMatch(
              /longer than 500 ms/,
            );
          expect(errors()).toBe(1);
          expect(logger.warn).toHaveBeenCalledTimes(1);
          expect(writes.used).toBe(0);
          expect(vi.getTimerCount()).toBe(0);
        });
      }
    }

    it('leaves no timer behind when the store answers in time', async () => {
      const store = new TestStore({ withHas: true, withLock: true, async: true });
      const { gate, onCacheError } = setup(store);
      await gate.set('k', [bytes(1, 2)], sliceMeta(2), event);
      await gate.get('k', 2, event);
      await gate.has('k', event);
      await gate.lock('k', 1000, event);
      await gate.unlock('k', event);
      await gate.delete('k', event);
      await gate.purgeObject('obj', event);
      expect(vi.getTimerCount()).toBe(0);
      expect(onCacheError).not.toHaveBeenCalled();
    });

    it("calls a write's done once the store itself is done with the value, even after the timeout", async () => {
      const store = new TestStore({ async: true });
      const { gate, writes } = setup(store);
      let finish: () => void = () => {};
      store.pendingSet = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const done = vi.fn();
      const write = gate.set('k', [bytes(1, 2, 3)], sliceMeta(3), event, done);
      await vi.advanceTimersByTimeAsync(TIMEOUT_MS + 1);
      await expect(write).resolves.toBe(false); // the engine stopped waiting…
      expect(writes.used).toBe(0);
      expect(done).not.toHaveBeenCalled(); // …but the store may still read the value
      finish();
      await vi.waitFor(() => expect(done).toHaveBeenCalledTimes(1));
      // Not called at all by the store: done at once.
      const skipped = vi.fn();
      await setup(undefined).gate.set('k', [], sliceMeta(0), event, skipped);
      expect(skipped).toHaveBeenCalledTimes(1);
    });

    it("calls a store's thenable `then` once, and a throwing `then` is a failed write, not a rejection", async () => {
      let calls = 0;
      const lazy: CacheStorage = {
        get: () => undefined,
        set: () =>
          ({
            // biome-ignore lint/suspicious/noThenProperty: a store answering with a lazy thenable is the case
            then(resolve: () => void) {
              calls++;
              resolve();
            },
          }) as unknown as Promise<void>,
        delete: () => false,
        purgeObject: () => 0,
        stats: () => ({ bytes: 0, entries: 0 }),
        close: () => {},
      };
      const done = vi.fn();
      await expect(setup(lazy).gate.set('k', [bytes(1)], sliceMeta(1), event, done)).resolves.toBe(true);
      expect(calls).toBe(1);
      expect(done).toHaveBeenCalledTimes(1);
      const throwing: CacheStorage = {
        ...lazy,
        set: () =>
          ({
            // biome-ignore lint/suspicious/noThenProperty: a store answering with a broken thenable is the case
            then() {
              throw new Error('broken thenable');
            },
          }) as unknown as Promise<void>,
      };
      const { gate, writes, onCacheError } = setup(throwing);
      await expect(gate.set('k', [bytes(1)], sliceMeta(1), event)).resolves.toBe(false);
      expect(writes.used).toBe(0);
      expect(onCacheError).toHaveBeenCalledTimes(1);
    });

    it('keeps serving after a failure: the next call reaches the store again', async () => {
      const store = new TestStore({ async: true });
      const { gate, onCacheError } = setup(store);
      store.failures.set('get', 'reject');
      await expect(gate.get('k', 1, event)).resolves.toBeUndefined();
      store.failures.delete('get');
      await gate.set('k', [bytes(7)], sliceMeta(1), event);
      expect(concat(await gate.get('k', 1, event))).toEqual(Buffer.from([7]));
      expect(onCacheError).toHaveBeenCalledTimes(1);
    });
  });

  describe('the CRC trailer of an out-of-process store', () => {
    it('is written after a slice body: CRC-32 of the body, then the magic sfc1', async () => {
      const store = new TestStore();
      const { gate } = setup(store);
      const body = [bytes(1, 2, 3), bytes(4, 5)];
      await expect(gate.set('k', body, sliceMeta(5), event)).resolves.toBe(true);
      const stored = concat(store.entries.get('k'));
      expect(stored.length).toBe(5 + 8);
      expect(stored.subarray(0, 5)).toEqual(Buffer.from([1, 2, 3, 4, 5]));
      expect(stored.readUInt32BE(5)).toBe(crc32(Buffer.from([1, 2, 3, 4, 5])));
      expect(stored.subarray(9).toString('latin1')).toBe('sfc1');
    });

    it('is checked and stripped on a read of the expected length', async () => {
      const store = new TestStore({ async: true });
      const { gate, onCacheError } = setup(store);
      await gate.set('k', [bytes(1, 2, 3), bytes(4, 5)], sliceMeta(5), event);
      const hit = await gate.get('k', 5, event);
      expect(concat(hit)).toEqual(Buffer.from([1, 2, 3, 4, 5]));
      expect(onCacheError).not.toHaveBeenCalled();
    });

    it('round-trips an empty slice as its trailer alone', async () => {
      const store = new TestStore();
      const { gate } = setup(store);
      await gate.set('k', [], sliceMeta(0), event);
      expect(concat(store.entries.get('k')).length).toBe(8);
      await expect(gate.get('k', 0, event)).resolves.toEqual([]);
    });

    it('is not added to metadata entries, which come back as stored', async () => {
      const store = new TestStore();
      const { gate } = setup(store);
      const json = Buffer.from('{"size":5}');
      await gate.set('meta', [json], metadataMeta, event);
      expect(concat(store.entries.get('meta'))).toEqual(json);
      expect(concat(await gate.get('meta', undefined, event))).toEqual(json);
    });

    it('turns a flipped byte into a miss, reports it and deletes the entry', async () => {
      const store = new TestStore();
      const { gate, onCacheError } = setup(store);
      await gate.set('k', [bytes(10, 20, 30, 40)], sliceMeta(4), event);
      const stored = store.entries.get('k')?.[0] as Uint8Array;
      stored[2] = (stored[2] as number) ^ 0xff;
      await expect(gate.get('k', 4, event)).resolves.toBeUndefined();
      expect(onCacheError).toHaveBeenCalledTimes(1);
      expect(onCacheError).toHaveBeenCalledWith(
        expect.objectContaining({
          operation: 'get',
          error: expect.objectContaining({ message: expect.stringMatching(/checksum/) }),
        }),
      );
      await vi.advanceTimersByTimeAsync(0);
      expect(store.delete).toHaveBeenCalledWith('k');
      expect(store.entries.has('k')).toBe(false);
    });

    it('turns an entry of the wrong length (a body stored without trailer, say) into a miss and deletes it', async () => {
      const store = new TestStore();
      const { gate, onCacheError } = setup(store);
      store.entries.set('short', [bytes(1, 2, 3, 4)]);
      await expect(gate.get('short', 4, event)).resolves.toBeUndefined();
      expect(onCacheError).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(0);
      expect(store.entries.has('short')).toBe(false);
    });

    it('turns an answer that is not a chunk list into a miss and deletes the entry', async () => {
      const store = new TestStore();
      store.get.mockReturnValueOnce(Buffer.from('oops') as unknown as Uint8Array[]);
      store.entries.set('k', [bytes(1)]);
      const { gate, onCacheError } = setup(store);
      await expect(gate.get('k', 4, event)).resolves.toBeUndefined();
      expect(onCacheError).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(0);
      expect(store.entries.has('k')).toBe(false);
    });

    it('catches any single flipped bit, in the body or the trailer (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { minLength: 0, maxLength: 6 }),
          fc.nat(),
          fc.integer({ min: 0, max: 7 }),
          async (chunks, at, bit) => {
            const store = new TestStore();
            const { gate } = setup(store);
            const length = chunks.reduce((sum, c) => sum + c.byteLength, 0);
            await gate.set('k', chunks, sliceMeta(length), event);
            expect(concat(await gate.get('k', length, event))).toEqual(Buffer.concat(chunks));
            const stored = store.entries.get('k')?.[0] as Uint8Array;
            const index = at % stored.byteLength;
            stored[index] = (stored[index] as number) ^ (1 << bit);
            await expect(gate.get('k', length, event)).resolves.toBeUndefined();
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('stores that skip the trailer', () => {
    it('hands an in-process store the very chunks and checks only the length of a hit', async () => {
      const store = new TestStore({ inProcess: true });
      const { gate, onCacheError } = setup(store);
      expect(gate.inProcess).toBe(true);
      const body = [bytes(1, 2), bytes(3)];
      await gate.set('k', body, sliceMeta(3), event);
      expect(store.set.mock.calls[0]?.[1]).toBe(body);
      const hit = await gate.get('k', 3, event);
      expect(hit?.[0]).toBe(body[0]);
      await expect(gate.get('k', 4, event)).resolves.toBeUndefined();
      expect(onCacheError).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(0);
      expect(store.entries.has('k')).toBe(false);
    });

    it('writes a checksummed store no trailer and accepts a hit of the right length', async () => {
      const store = new TestStore({ checksummed: true });
      const { gate } = setup(store);
      expect(gate.inProcess).toBe(false);
      await gate.set('k', [bytes(1, 2, 3)], sliceMeta(3), event);
      expect(concat(store.entries.get('k'))).toEqual(Buffer.from([1, 2, 3]));
      expect(concat(await gate.get('k', 3, event))).toEqual(Buffer.from([1, 2, 3]));
      await expect(gate.get('k', 2, event)).resolves.toBeUndefined();
    });

    it("passes the reader's allocator to the store", async () => {
      const store = new TestStore({ inProcess: true });
      const { gate } = setup(store);
      const allocate = (n: number) => new Uint8Array(n);
      await gate.get('k', 3, event, allocate);
      expect(store.get).toHaveBeenCalledWith('k', undefined, { allocate });
      await gate.get('k', 3, event);
      expect(store.get).toHaveBeenLastCalledWith('k');
    });
  });

  describe('has', () => {
    it('answers synchronously for a synchronous store', () => {
      const store = new TestStore({ withHas: true });
      store.entries.set('k', [bytes(1)]);
      const { gate } = setup(store);
      expect(gate.canTell).toBe(true);
      expect(gate.has('k', event)).toBe(true);
      expect(gate.has('absent', event)).toBe(false);
    });

    it('answers with a promise for an asynchronous store', async () => {
      const store = new TestStore({ withHas: true, async: true });
      store.entries.set('k', [bytes(1)]);
      const { gate } = setup(store);
      const answer = gate.has('k', event);
      expect(answer).toBeInstanceOf(Promise);
      await expect(answer).resolves.toBe(true);
      await expect(gate.has('absent', event)).resolves.toBe(false);
    });

    it('counts only a true answer as held (a count such as 1 is not one)', async () => {
      const has = vi.fn(async () => 1 as unknown as boolean);
      const store: CacheStorage = {
        get: () => undefined,
        set: () => {},
        delete: () => false,
        purgeObject: () => 0,
        stats: () => ({ bytes: 0, entries: 0 }),
        close: () => {},
        has,
      };
      const { gate } = setup(store);
      await expect(gate.has('k', event)).resolves.toBe(false);
      expect(has).toHaveBeenCalledWith('k');
    });

    it('answers false for a store that cannot tell', () => {
      const { gate, onCacheError } = setup(new TestStore());
      expect(gate.canTell).toBe(false);
      expect(gate.has('k', event)).toBe(false);
      expect(onCacheError).not.toHaveBeenCalled();
    });
  });

  describe('admits', () => {
    it('admits any response to a store without a byte budget of its own', () => {
      const { gate } = setup(new TestStore());
      expect(gate.admits(Number.MAX_SAFE_INTEGER)).toBe(true);
    });

    it('admits a response up to the store budget and no larger', () => {
      const { gate } = setup(new TestStore({ maxBytes: 1000 }));
      expect(gate.admits(999)).toBe(true);
      expect(gate.admits(1000)).toBe(true);
      expect(gate.admits(1001)).toBe(false);
    });
  });

  describe('the write budget', () => {
    it('skips slices, with an error, while a store that fell behind holds the budget, and takes them again once it lands', async () => {
      const store = new TestStore();
      let land!: () => void;
      store.pendingSet = new Promise<void>((resolve) => {
        land = resolve;
      });
      const { gate, onCacheError, writes } = setup(store, new ByteBudget(100));
      const first = gate.set('a', [new Uint8Array(60)], sliceMeta(60), event);
      expect(writes.used).toBe(60);
      await expect(gate.set('b', [new Uint8Array(60)], sliceMeta(60), event)).resolves.toBe(false);
      expect(store.set).toHaveBeenCalledTimes(1);
      expect(onCacheError).toHaveBeenCalledTimes(1);
      expect(onCacheError).toHaveBeenCalledWith(
        expect.objectContaining({
          operation: 'set',
          error: expect.objectContaining({ message: expect.stringMatching(/maxBufferedBytes 100/) }),
        }),
      );
      // A slice that still fits goes through; metadata never counts.
      const small = gate.set('c', [new Uint8Array(40)], sliceMeta(40), event);
      expect(writes.used).toBe(100);
      const meta = gate.set('m', [new Uint8Array(500)], metadataMeta, event);
      expect(store.set).toHaveBeenCalledTimes(3);
      land();
      await expect(first).resolves.toBe(true);
      await expect(small).resolves.toBe(true);
      await expect(meta).resolves.toBe(true);
      expect(writes.used).toBe(0);
      store.pendingSet = undefined;
      await expect(gate.set('b', [new Uint8Array(60)], sliceMeta(60), event)).resolves.toBe(true);
      expect(writes.used).toBe(0);
    });

    it('gives the budget back when a write times out', async () => {
      const store = new TestStore();
      store.pendingSet = new Promise<void>(() => {});
      const { gate, onCacheError, writes } = setup(store, new ByteBudget(100));
      const write = gate.set('a', [new Uint8Array(80)], sliceMeta(80), event);
      expect(writes.used).toBe(80);
      await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
      await expect(write).resolves.toBe(false);
      expect(writes.used).toBe(0);
      expect(onCacheError).toHaveBeenCalledTimes(1);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('gives the budget back when a write throws', async () => {
      const store = new TestStore();
      store.failures.set('set', 'throw');
      const { gate, writes } = setup(store, new ByteBudget(100));
      await expect(gate.set('a', [new Uint8Array(80)], sliceMeta(80), event)).resolves.toBe(false);
      expect(writes.used).toBe(0);
    });

    it('leaves an in-process store out of the write budget', async () => {
      const store = new TestStore({ inProcess: true });
      const writes = new ByteBudget(10);
      const { gate, onCacheError } = setup(store, writes);
      writes.tryAcquire(10);
      await expect(gate.set('a', [new Uint8Array(500)], sliceMeta(500), event)).resolves.toBe(true);
      expect(onCacheError).not.toHaveBeenCalled();
      expect(writes.used).toBe(10);
    });
  });

  describe('lock and unlock', () => {
    it('claims a free key, refuses a held one, and frees it on unlock', async () => {
      const store = new TestStore({ withLock: true });
      const { gate, onCacheError } = setup(store);
      expect(gate.coordinates).toBe(true);
      await expect(gate.lock('k', 1000, event)).resolves.toBe(true);
      await expect(gate.lock('k', 1000, event)).resolves.toBe(false);
      await gate.unlock('k', event);
      await expect(gate.lock('k', 1000, event)).resolves.toBe(true);
      expect(store.lock).toHaveBeenCalledWith('k', 1000);
      expect(onCacheError).not.toHaveBeenCalled();
    });

    it('works the same with an asynchronous store', async () => {
      const store = new TestStore({ withLock: true, async: true });
      const { gate } = setup(store);
      await expect(gate.lock('k', 1000, event)).resolves.toBe(true);
      await expect(gate.lock('k', 1000, event)).resolves.toBe(false);
      await gate.unlock('k', event);
      expect(store.locks.size).toBe(0);
    });

    it('answers undefined (fetch yourself, unclaimed) for a store that cannot claim', async () => {
      const store = new TestStore();
      const { gate, onCacheError } = setup(store);
      expect(gate.coordinates).toBe(false);
      await expect(gate.lock('k', 1000, event)).resolves.toBeUndefined();
      await expect(gate.unlock('k', event)).resolves.toBeUndefined();
      expect(onCacheError).not.toHaveBeenCalled();
    });
  });
});
