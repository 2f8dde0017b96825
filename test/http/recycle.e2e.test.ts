/**
 * Store hits served by the Node handler read into recycled memory (engine/read-buffer-pool.ts). The danger is
 * reuse before the socket took the bytes: these tests "poison" every recycled buffer the moment it is given
 * back — as if the next hit had already read into it — and check that clients still get exact bytes, also
 * while writes are queued behind a client that does not read.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { Agent, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Chunks } from '../../src/core/chunks.js';
import { type InternalSliceFetcher, openSymbol } from '../../src/engine/fetcher-types.js';
import { createSliceHandler, type SliceHandler } from '../../src/http/index.js';
import { type CacheGetOptions, type CacheStorage, createSliceFetcher, fsStorage } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const KiB = 1024;
const SLICE = 64 * KiB;
const POISON = 0xee;

let origin: TestOrigin;
let dir: string;
let stack: Stack;

beforeEach(async () => {
  origin = await startOrigin();
  dir = mkdtempSync(join(tmpdir(), 'slice-fetch-recycle-'));
  stack = await startStack(origin, dir);
});
afterEach(async () => {
  await stack.close();
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('recycled read buffers behind createSliceHandler', () => {
  it('sends exact bytes when every given-back buffer is overwritten at once, and reuses the memory', async () => {
    const size = 40 * SLICE + 123;
    const { seed } = origin.setObject('/warm.bin', { size });
    await stack.fill('/warm.bin', 41);
    const res = await stack.get('/warm.bin');
    expect(res.headers['x-slice-cache']).toBe('HIT');
    expect(res.body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    // Every hit read into lent memory, every lent buffer came back, and 41 reads needed far fewer buffers.
    expect(stack.lentReads).toBe(41);
    expect(stack.poisoned).toBe(41);
    expect(stack.distinctBuffers.size).toBeLessThan(41);
  });

  it('gives a piece back only after the socket took it: writes queued behind a paused client stay exact', async () => {
    const size = 256 * SLICE; // 16 MiB: more than loopback's socket buffers hold
    const { seed } = origin.setObject('/queued.bin', { size });
    await stack.fill('/queued.bin', 256);
    const socket = connect(stack.port, '127.0.0.1');
    socket.pause(); // read nothing until the server's writes wait in the socket
    socket.write('GET /queued.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await stack.backpressure;
    const poisonedWhilePaused = stack.poisoned;
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await once(socket, 'end');
    const raw = Buffer.concat(received);
    const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    expect(raw.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
    expect(body.length).toBe(size);
    expect(body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    // Pieces were still waiting in the socket when the client started reading: the case this test is about.
    expect(poisonedWhilePaused).toBeLessThan(256);
    expect(stack.poisoned).toBe(256);
  });

  it('keeps 16 concurrent ranged requests exact while they share the pool', async () => {
    const size = 64 * SLICE + 7;
    const { seed } = origin.setObject('/shared.bin', { size });
    await stack.fill('/shared.bin', 65);
    const ranges = Array.from({ length: 16 }, (_, i) => {
      const start = (i * 262_147) % size;
      return { start, end: Math.min(size - 1, start + 300_000 + i * 40_009) };
    });
    const answers = await Promise.all(
      ranges.map((range) => stack.get('/shared.bin', { range: `bytes=${range.start}-${range.end}` })),
    );
    answers.forEach((res, i) => {
      const range = ranges[i] as { start: number; end: number };
      expect(res.status).toBe(206);
      expect(res.body.equals(contentBytes(seed, range.start, range.end))).toBe(true);
    });
    expect(stack.poisoned).toBe(stack.lentReads);
  });

  it('gives a fetch() body chunks of its own: lent memory is copied out before it is given back', async () => {
    const size = 12 * SLICE;
    const { seed } = origin.setObject('/kept.bin', { size });
    await stack.fill('/kept.bin', 12);
    const res = await stack.fetcher.fetch(`${origin.url('/kept.bin')}`);
    const kept: Uint8Array[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) kept.push(chunk);
    // Read into lent memory, copied into the body's chunks, then given back…
    expect(stack.lentReads).toBe(12);
    // …so handler requests read into those buffers again and poison them: the chunks kept must not change.
    for (let i = 0; i < 3; i++) await stack.get('/kept.bin');
    expect(stack.poisoned).toBeGreaterThan(0);
    expect(stack.distinctBuffers.size).toBeLessThan(12 * 4); // the fetch()'s memory was reused
    expect(Buffer.concat(kept).equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });

  it('never lends the memory of a zeroCopy fetch() body, which the caller keeps as it is', async () => {
    const size = 12 * SLICE;
    const { seed } = origin.setObject('/zero-copy.bin', { size });
    await stack.fill('/zero-copy.bin', 12);
    const res = await stack.fetcher.fetch(`${origin.url('/zero-copy.bin')}`, { zeroCopy: true });
    const kept: Uint8Array[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) kept.push(chunk);
    expect(stack.lentReads).toBe(0);
    for (let i = 0; i < 3; i++) await stack.get('/zero-copy.bin');
    expect(stack.poisoned).toBeGreaterThan(0);
    expect(Buffer.concat(kept).equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });

  it('keeps no buffer for reuse when one slice is more than maxBufferedBytes can hold twice over', async () => {
    await stack.close();
    const MiB = 1024 * KiB;
    // Pooled buffers hold a slice and a disk header: 1 MiB + 64 KiB, more than the whole 1 MiB budget.
    stack = await startStack(origin, dir, { sliceSize: MiB, maxBufferedBytes: MiB });
    const size = 4 * MiB;
    const { seed } = origin.setObject('/big-slices.bin', { size });
    await stack.fill('/big-slices.bin', 4);
    const res = await stack.get('/big-slices.bin');
    expect(res.body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(stack.lentReads).toBe(4);
    expect(stack.distinctBuffers.size).toBe(4);
  });

  it('lends nothing when the connection is an in-process Duplex that keeps the chunks it is given', async () => {
    const size = 40 * SLICE;
    const { seed } = origin.setObject('/duplex.bin', { size });
    await stack.fill('/duplex.bin', 40);
    // Calls back at once and keeps the chunk, as tunnels and in-memory transports may: only its final bytes count.
    const kept: Buffer[] = [];
    const connection = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        kept.push(chunk);
        callback();
      },
    });
    const server = createServer(stack.handler);
    server.emit('connection', connection);
    connection.push('GET /duplex.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(connection, 'finish');
    const raw = Buffer.concat(kept);
    expect(raw.subarray(raw.indexOf('\r\n\r\n') + 4).equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(stack.lentReads).toBe(0);
  });

  it('lends nothing behind a middleware that replaced res.write and keeps the chunks', async () => {
    const size = 40 * SLICE;
    const { seed } = origin.setObject('/wrapped.bin', { size });
    await stack.fill('/wrapped.bin', 40);
    const kept: Buffer[] = [];
    const server = createServer((req, res) => {
      const write = res.write.bind(res) as (chunk: Uint8Array, callback?: () => void) => boolean;
      res.write = ((chunk: Uint8Array, callback?: () => void) => {
        kept.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)); // a body-capturing logger
        return write(chunk, callback);
      }) as typeof res.write;
      stack.handler(req, res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const res = await request(`http://127.0.0.1:${port}/wrapped.bin`);
    const body = Buffer.from(await res.body.arrayBuffer());
    await new Promise((resolve) => server.close(resolve));
    expect(body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(Buffer.concat(kept).equals(contentBytes(seed, 0, size - 1))).toBe(true);
    expect(stack.lentReads).toBe(0);
  });

  it('survives a client that leaves mid-body: later requests are exact', async () => {
    const size = 100 * SLICE;
    const { seed } = origin.setObject('/left.bin', { size });
    await stack.fill('/left.bin', 100);
    const closed = stack.closed;
    const socket = connect(stack.port, '127.0.0.1');
    socket.write('GET /left.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    socket.destroy();
    await stack.closedResponses(closed + 1);
    const res = await stack.get('/left.bin');
    expect(res.body.equals(contentBytes(seed, 0, size - 1))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------

interface Stack {
  readonly port: number;
  readonly fetcher: InternalSliceFetcher;
  /** The handler over the poisoning fetcher, to mount on other servers. */
  readonly handler: SliceHandler;
  /** Hits read into memory from `allocate`. */
  readonly lentReads: number;
  /** Lent buffers overwritten when given back. */
  readonly poisoned: number;
  readonly distinctBuffers: Set<ArrayBufferLike>;
  /** Settles when a response's socket first holds bytes the kernel did not take yet. */
  readonly backpressure: Promise<void>;
  /** Responses closed so far. */
  readonly closed: number;
  /** Fetches `path` once through the handler and waits until its `slices` slices are on disk. */
  fill(path: string, slices: number): Promise<void>;
  get(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>;
  /** Settles once `n` responses closed in all. */
  closedResponses(n: number): Promise<void>;
  close(): Promise<void>;
}

async function startStack(
  origin: TestOrigin,
  dir: string,
  options: { sliceSize?: number; maxBufferedBytes?: number } = {},
): Promise<Stack> {
  const disk = fsStorage({ dir, maxBytes: 256 * 1024 * KiB });
  await disk.ready;
  const lent = new Set<ArrayBufferLike>();
  const distinctBuffers = new Set<ArrayBufferLike>();
  let lentReads = 0;
  let poisoned = 0;
  let stored = 0;
  const storeWaiters: { n: number; resolve: () => void }[] = [];
  // fsStorage, watched: which reads got lent memory.
  const store: CacheStorage = {
    checksummed: true,
    maxBytes: disk.maxBytes,
    get(key, range, options?: CacheGetOptions) {
      const allocate = options?.allocate;
      if (allocate === undefined) return disk.get(key, range);
      lentReads++;
      return disk.get(key, range, {
        allocate: (bytes) => {
          const memory = allocate(bytes);
          lent.add(memory.buffer);
          distinctBuffers.add(memory.buffer);
          return memory;
        },
      });
    },
    set: (key, value, meta) => disk.set(key, value, meta),
    delete: (key) => disk.delete(key),
    purgeObject: (objectKey) => disk.purgeObject(objectKey),
    stats: () => disk.stats(),
    close: () => disk.close(),
  };
  const fetcher = createSliceFetcher({
    sliceSize: SLICE,
    concurrency: 4,
    ...options,
    cache: store,
    hooks: {
      onCacheStore: () => {
        stored++;
        for (const waiter of storeWaiters.filter((w) => stored >= w.n)) {
          storeWaiters.splice(storeWaiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      },
    },
  }) as InternalSliceFetcher;
  // The handler sees a fetcher whose `release` overwrites lent memory before giving it back.
  const poisoning = {
    ...fetcher,
    fetch: fetcher.fetch,
    [openSymbol]: async (
      url: string | URL,
      init?: Parameters<InternalSliceFetcher[typeof openSymbol]>[1],
    ) => {
      const result = await fetcher[openSymbol](url, init);
      const release = result.release;
      if (release === undefined) return result;
      return Object.assign(Object.create(result) as typeof result, {
        release: (piece: Chunks) => {
          for (const chunk of piece) {
            if (!lent.delete(chunk.buffer)) continue;
            new Uint8Array(chunk.buffer).fill(POISON);
            poisoned++;
          }
          release(piece);
        },
      });
    },
  } as InternalSliceFetcher;
  const handler = createSliceHandler({ upstream: origin.url('/'), fetcher: poisoning });
  let signalBackpressure: () => void = () => {};
  const backpressure = new Promise<void>((resolve) => {
    signalBackpressure = resolve;
  });
  let closed = 0;
  const closeWaiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res: ServerResponse) => {
    // After an uncork the socket holds bytes only when its write is pending in libuv (the kernel was full).
    const uncork = res.uncork.bind(res);
    res.uncork = () => {
      uncork();
      if ((res.socket?.writableLength ?? 0) > 0) signalBackpressure();
    };
    res.once('close', () => {
      closed++;
      for (const waiter of closeWaiters.filter((w) => closed >= w.n)) waiter.resolve();
    });
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAliveTimeout: 10 });
  const get: Stack['get'] = async (path, headers = {}) => {
    const res = await request(`http://127.0.0.1:${port}${path}`, { headers, dispatcher: agent });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: Buffer.from(await res.body.arrayBuffer()),
    };
  };
  return {
    port,
    fetcher,
    handler,
    get lentReads() {
      return lentReads;
    },
    get poisoned() {
      return poisoned;
    },
    get closed() {
      return closed;
    },
    distinctBuffers,
    backpressure,
    async fill(path, slices) {
      const landed = new Promise<void>((resolve) => storeWaiters.push({ n: stored + slices, resolve }));
      const res = await get(path);
      expect(res.headers['x-slice-cache']).toBe('MISS');
      await landed;
      lentReads = 0;
      poisoned = 0;
      distinctBuffers.clear();
    },
    get,
    closedResponses: (n) =>
      closed >= n ? Promise.resolve() : new Promise((resolve) => closeWaiters.push({ n, resolve })),
    async close() {
      await agent.close();
      const done = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await done;
      await handler.close();
      await fetcher.close();
    },
  };
}
