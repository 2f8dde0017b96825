/**
 * Cold fills behind createSliceHandler read into recycled memory when the store copies what it is given
 * (`CacheStorage.copiesValues`, fsStorage): the response and the store write share each slice's memory, and
 * the pool may reuse it only when both are done. The danger is reuse while the store write still reads it —
 * after the response went out, or after the store's write outlived `timeouts.cacheMs`. These tests hold every
 * store write open while more cold slices are fetched into the pool, then check that each write still sees the
 * origin's bytes.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InternalSliceFetcher } from '../../src/engine/fetcher-types.js';
import { createSliceHandler, type SliceHandler } from '../../src/http/index.js';
import {
  type CacheChunks,
  type CacheEntryMeta,
  type CacheStorage,
  createSliceFetcher,
  type FsStorage,
  fsStorage,
} from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const SLICE = 64 * 1024;
/** The bytes of a buffer the engine's pool lends: a slice and a disk header. */
const POOLED = SLICE + 64 * 1024;
/** The content seed of each object the origin serves, by path. */
const seeds = new Map<string, number>();

function put(path: string, size: number): number {
  const { seed } = origin.setObject(path, { size });
  seeds.set(path, seed);
  return seed;
}

let origin: TestOrigin;
let dir: string;
let stack: Stack | undefined;

beforeEach(async () => {
  origin = await startOrigin();
  dir = mkdtempSync(join(tmpdir(), 'slice-fetch-recycle-fill-'));
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cold fills into recycled memory, shared by the response and a copying store', () => {
  it('keeps a held store write exact while later slices are read into the pool, then reuses the memory', async () => {
    stack = await startStack({});
    const a = put('/a.bin', 24 * SLICE + 99); // 25 slices
    const b = put('/b.bin', 24 * SLICE);
    // Both responses complete while every store write is held open: the consumer gave each slice back long ago.
    const [resA, resB] = await Promise.all([stack.get('/a.bin'), stack.get('/b.bin')]);
    expect(resA.body.equals(contentBytes(a, 0, 24 * SLICE + 98))).toBe(true);
    expect(resB.body.equals(contentBytes(b, 0, 24 * SLICE - 1))).toBe(true);
    await stack.heldWrites(49);
    // Every slice but each object's reference slice (read as a stream) and a's 99-byte last slice (too short
    // for a pooled buffer the write budget would count as 99 bytes) was read into lent memory.
    expect(stack.lentWrites).toBe(46);
    const last = stack.held.find((w) => w.length === 99);
    expect(last?.memory.byteLength).toBe(99);
    const heldMemory = new Set(stack.held.map((w) => w.memory));
    // A third object fetched now cannot reuse any memory a held write still reads.
    const c = put('/c.bin', 16 * SLICE);
    const resC = await stack.get('/c.bin');
    expect(resC.body.equals(contentBytes(c, 0, 16 * SLICE - 1))).toBe(true);
    await stack.heldWrites(65);
    for (const w of stack.held.slice(49)) expect(heldMemory.has(w.memory)).toBe(false);
    // Every held write still sees the origin's bytes, then lands.
    expect(await stack.releaseAll()).toEqual({ writes: 65, wrong: 0 });
    // Once written, that memory is the pool's again: a fourth cold object reads into some of it.
    put('/d.bin', 16 * SLICE);
    await stack.get('/d.bin');
    await stack.heldWrites(81);
    const reused = stack.held.slice(65).filter((w) => heldMemory.has(w.memory));
    expect(reused.length).toBeGreaterThan(0);
    expect(await stack.releaseAll()).toEqual({ writes: 16, wrong: 0 });
    const warm = await stack.get('/a.bin');
    expect(warm.headers['x-slice-cache']).toBe('HIT');
    expect(warm.body.equals(contentBytes(a, 0, 24 * SLICE + 98))).toBe(true);
  });

  it('keeps the memory of a write that outlived timeouts.cacheMs until the store is done with it', async () => {
    stack = await startStack({ cacheMs: 1 });
    const a = put('/slow.bin', 12 * SLICE);
    const resA = await stack.get('/slow.bin');
    expect(resA.body.equals(contentBytes(a, 0, 12 * SLICE - 1))).toBe(true);
    await stack.heldWrites(12);
    await stack.timedOutSets(12); // the engine gave up waiting for each of them
    expect(stack.lentWrites).toBe(11);
    const heldMemory = new Set(stack.held.map((w) => w.memory));
    const b = put('/next.bin', 12 * SLICE);
    const resB = await stack.get('/next.bin');
    expect(resB.body.equals(contentBytes(b, 0, 12 * SLICE - 1))).toBe(true);
    await stack.heldWrites(24);
    for (const w of stack.held.slice(12)) expect(heldMemory.has(w.memory)).toBe(false);
    expect(await stack.releaseAll()).toEqual({ writes: 24, wrong: 0 });
  });

  it('gives readers that join a fill exact bytes while its write is held, and after it lands', async () => {
    stack = await startStack({});
    const a = put('/herd.bin', 20 * SLICE + 5);
    const first = await Promise.all(Array.from({ length: 6 }, () => stack?.get('/herd.bin')));
    for (const res of first) expect(res?.body.equals(contentBytes(a, 0, 20 * SLICE + 4))).toBe(true);
    await stack.heldWrites(21); // one fill per slice, shared by the six
    const late = stack.get('/herd.bin'); // joins fills whose writes are still held, or reads what landed
    expect(await stack.releaseAll()).toEqual({ writes: 21, wrong: 0 });
    expect((await late).body.equals(contentBytes(a, 0, 20 * SLICE + 4))).toBe(true);
    const again = await Promise.all(Array.from({ length: 3 }, () => stack?.get('/herd.bin')));
    for (const res of again) expect(res?.body.equals(contentBytes(a, 0, 20 * SLICE + 4))).toBe(true);
  });

  it('reads into memory of its own when the store does not say it copies (it may keep the chunks)', async () => {
    stack = await startStack({ copies: false });
    const a = put('/kept.bin', 8 * SLICE);
    const res = await stack.get('/kept.bin');
    expect(res.body.equals(contentBytes(a, 0, 8 * SLICE - 1))).toBe(true);
    await stack.heldWrites(8);
    expect(stack.lentWrites).toBe(0);
    expect(await stack.releaseAll()).toEqual({ writes: 8, wrong: 0 });
  });
});

// ---------------------------------------------------------------------------------------------------------

interface HeldWrite {
  readonly memory: ArrayBufferLike;
  readonly length: number;
  readonly check: () => boolean;
  readonly land: () => Promise<void>;
}

interface Stack {
  readonly held: HeldWrite[];
  /** Held writes whose value lies in memory the engine's pool lent. */
  readonly lentWrites: number;
  get(path: string): Promise<{ headers: Record<string, unknown>; body: Buffer }>;
  /** Settles once `n` slice writes are held in all. */
  heldWrites(n: number): Promise<void>;
  /** Settles once the engine reported `n` timed-out `set`s in all. */
  timedOutSets(n: number): Promise<void>;
  /** Checks and lands every held write not landed yet: how many, and how many saw bytes not the origin's. */
  releaseAll(): Promise<{ writes: number; wrong: number }>;
  close(): Promise<void>;
}

async function startStack(options: { cacheMs?: number; copies?: boolean }): Promise<Stack> {
  const disk: FsStorage = fsStorage({ dir, maxBytes: 256 * 1024 * 1024 });
  await disk.ready;
  const held: HeldWrite[] = [];
  const pending: { resolve: () => void; write: HeldWrite }[] = [];
  const waiters: { n: number; count: () => number; resolve: () => void }[] = [];
  let timedOut = 0;
  let lentWrites = 0;
  const wake = (): void => {
    for (const w of waiters.filter((x) => x.count() >= x.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const seedOf = (objectKey: string): number => seeds.get(new URL(objectKey).pathname) ?? -1;
  const store: CacheStorage = {
    checksummed: true,
    copiesValues: options.copies !== false,
    maxBytes: disk.maxBytes,
    get: (key, range, getOptions) => disk.get(key, range, getOptions),
    set(key: string, value: CacheChunks, meta: CacheEntryMeta) {
      if (meta.kind !== 'slice') return disk.set(key, value, meta);
      const memory = (value[0] as Uint8Array).buffer;
      if (value.length === 1 && memory.byteLength === POOLED) lentWrites++;
      const write: HeldWrite = {
        memory,
        length: meta.range.end - meta.range.start + 1,
        check: () =>
          Buffer.concat(value).equals(contentBytes(seedOf(meta.objectKey), meta.range.start, meta.range.end)),
        land: async () => {
          await disk.set(key, value, meta);
        },
      };
      held.push(write);
      wake();
      return new Promise<void>((resolve) => pending.push({ resolve, write }));
    },
    delete: (key) => disk.delete(key),
    purgeObject: (objectKey) => disk.purgeObject(objectKey),
    stats: () => disk.stats(),
    close: () => disk.close(),
  };
  const fetcher = createSliceFetcher({
    sliceSize: SLICE,
    concurrency: 4,
    maxBufferedBytes: 32 * 1024 * 1024,
    cache: store,
    ...(options.cacheMs === undefined ? {} : { timeouts: { cacheMs: options.cacheMs } }),
    hooks: {
      onCacheError: (e) => {
        if (e.operation === 'set') {
          timedOut++;
          wake();
        }
      },
    },
  }) as InternalSliceFetcher;
  const handler: SliceHandler = createSliceHandler({ upstream: origin.url('/'), fetcher });
  const server: Server = createServer((req, res) => handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAliveTimeout: 10 });
  const waitFor = (count: () => number, n: number): Promise<void> =>
    count() >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, count, resolve }));
  return {
    held,
    get lentWrites() {
      return lentWrites;
    },
    async get(path) {
      const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent });
      return { headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
    },
    heldWrites: (n) => waitFor(() => held.length, n),
    timedOutSets: (n) => waitFor(() => timedOut, n),
    async releaseAll() {
      const batch = pending.splice(0);
      let wrong = 0;
      for (const { resolve, write } of batch) {
        if (!write.check()) wrong++;
        await write.land();
        resolve();
      }
      return { writes: batch.length, wrong };
    },
    async close() {
      for (const { resolve } of pending.splice(0)) resolve();
      await agent.close();
      const done = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await done;
      await handler.close();
      await fetcher.close();
    },
  };
}
