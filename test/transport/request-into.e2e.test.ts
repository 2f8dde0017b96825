/**
 * `undiciTransport().requestInto`: bodies copied into the caller's memory over sockets that read into reused
 * memory (transport/reused-reads.ts). A raw TCP origin decides where every read ends, so heads and bodies arrive
 * split at awkward places — the case where undici still holds views of a read (header fields of an unfinished
 * head) and that memory must not be read into again.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransportHead } from '../../src/index.js';
import { undiciTransport } from '../../src/index.js';

/** One response the raw origin writes: its head, its body, and how both are cut into writes. */
interface Script {
  readonly head: string;
  readonly body: Buffer;
  /** Bytes per write of the head. @default the whole head at once */
  readonly headPiece?: number;
  /** Sizes of the body's writes, cycled. @default one write */
  readonly bodyPieces?: readonly number[];
  /** Stop after this many body bytes: `'end'` closes the socket, `'hang'` leaves it open. */
  readonly cut?: { readonly after: number; readonly action: 'end' | 'hang' };
}

interface RawOrigin {
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections closed so far. */
  readonly closed: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
const transports: { close?(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close?.()));
  for (const server of servers.splice(0)) server.close();
});

/** Starts an origin that answers the n-th request (0-based, over all connections) with `script(n)`. */
async function startRawOrigin(script: (n: number) => Script): Promise<RawOrigin> {
  let requests = 0;
  let connections = 0;
  let closed = 0;
  const server = createServer((socket: Socket) => {
    connections++;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => closed++);
    let pending = '';
    let queue = Promise.resolve();
    socket.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        pending = pending.slice(end + 4);
        const n = requests++;
        queue = queue.then(() => respond(socket, script(n)));
      }
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/object`,
    get connections() {
      return connections;
    },
    get closed() {
      return closed;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function respond(socket: Socket, script: Script): Promise<void> {
  const head = Buffer.from(script.head, 'latin1');
  const piece = script.headPiece ?? head.length;
  for (let at = 0; at < head.length && !socket.destroyed; at += piece) {
    socket.write(head.subarray(at, at + piece));
    if (piece < head.length) await sleep(1);
  }
  const pieces = script.bodyPieces ?? [script.body.length];
  const limit = script.cut?.after ?? script.body.length;
  for (let at = 0, i = 0; at < limit && !socket.destroyed; i++) {
    const size = Math.min(pieces[i % pieces.length] as number, limit - at);
    socket.write(script.body.subarray(at, at + size));
    at += size;
    if (pieces.length > 1 || script.bodyPieces !== undefined) await sleep(1);
  }
  if (script.cut?.action === 'end') socket.end();
}

/**
 * An origin answering with a chunked 206 whose last chunk, terminator and the name of a trailer field go out in
 * one read (A), and the rest of the trailers in a later one (B). B is laid out so that, read into A's memory, it
 * would put `content-length` where undici still holds the view of that trailer name — a field llhttp refuses
 * next to chunked, so a reused read fails the response (found in review), and a fresh one does not.
 */
async function startTrailersOrigin(body: Buffer): Promise<string> {
  const readA = Buffer.concat([
    Buffer.from(
      `HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-${body.length - 1}/${body.length}\r\n` +
        'transfer-encoding: chunked\r\n\r\n',
    ),
    Buffer.from(`${body.length.toString(16)}\r\n`),
    body,
    Buffer.from('\r\n0\r\nX-Abcdefghijkl:'),
  ]);
  const nameAt = readA.length - 15; // where the trailer name sits in read A's memory
  let readB = ' 7\r\nX-Pad: ';
  readB += `${'p'.repeat(nameAt - readB.length)}content-length${'p'.repeat(100)}\r\n\r\n`;
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', async () => {
      socket.write(readA);
      await sleep(50); // traffic shaping: B must arrive as a read of its own
      socket.write(readB);
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/object`;
}

function partial(body: Buffer, extra: Record<string, string> = {}, status = '206 Partial Content'): string {
  const fields = { 'content-length': String(body.length), ...extra };
  return `HTTP/1.1 ${status}\r\n${Object.entries(fields)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
}

function transport(connections = 4) {
  const made = undiciTransport({ connections });
  transports.push(made);
  const requestInto = made.requestInto;
  if (requestInto === undefined) throw new Error('the undici transport has no requestInto');
  return { made, requestInto: requestInto.bind(made) };
}

const get = (url: string, signal = new AbortController().signal) => ({
  url,
  method: 'GET' as const,
  headers: { range: 'bytes=0-' },
  signal,
});

describe('undiciTransport().requestInto', () => {
  it('copies exact bytes and headers when heads and bodies arrive in many small reads on one connection', async () => {
    const bodies = Array.from({ length: 6 }, (_, n) => randomBytes(150_000 + n * 1_001));
    const fillers = bodies.map(() => randomBytes(1_500).toString('hex'));
    const origin = await startRawOrigin((n) => ({
      head:
        (n % 2 === 1 ? 'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n' : '') +
        partial(bodies[n] as Buffer, { etag: `"v${n}"`, 'x-filler': fillers[n] as string }),
      body: bodies[n] as Buffer,
      headPiece: 97,
      bodyPieces: [1, 7_000, 65_536, 33, 20_000],
    }));
    const { requestInto } = transport(1);
    for (let n = 0; n < bodies.length; n++) {
      const heads: TransportHead[] = [];
      let memory = Buffer.alloc(0);
      const bytes = await requestInto(get(origin.url), {
        head: (head) => {
          heads.push(head);
          memory = Buffer.alloc(Number(head.headers['content-length']));
          return memory;
        },
      });
      expect(heads.map((h) => [h.status, h.headers.etag, h.headers['x-filler']])).toEqual([
        [206, `"v${n}"`, fillers[n]],
      ]);
      expect(bytes).toBe(bodies[n]?.length);
      expect(memory.equals(bodies[n] as Buffer)).toBe(true);
    }
    expect(origin.connections).toBe(1);
  });

  it('copies exact bytes whatever the origin’s write boundaries, over responses reusing one connection', async () => {
    // A read's memory is reused only when undici keeps no view of it: any split of heads and bodies, with 1xx
    // heads and long header fields, must still give every byte right.
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            length: fc.integer({ min: 1, max: 140_000 }),
            // Each write is followed by 1 ms, so pieces are bounded below: a run of 1-byte writes would take
            // minutes. A tiny piece next to a large one still puts a boundary anywhere.
            headPiece: fc.integer({ min: 40, max: 600 }),
            bodyPieces: fc
              .tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 4_000, max: 70_000 }))
              .map(([small, large]) => [small, large]),
            early: fc.boolean(),
            filler: fc.integer({ min: 0, max: 3_000 }),
          }),
          { minLength: 2, maxLength: 4 },
        ),
        async (responses) => {
          const bodies = responses.map((r) => randomBytes(r.length));
          const origin = await startRawOrigin((n) => {
            const r = responses[n] as (typeof responses)[number];
            return {
              head:
                (r.early ? 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n' : '') +
                partial(bodies[n] as Buffer, { 'x-filler': 'f'.repeat(r.filler) }),
              body: bodies[n] as Buffer,
              headPiece: r.headPiece,
              bodyPieces: r.bodyPieces,
            };
          });
          const { made, requestInto } = transport(1);
          try {
            for (const body of bodies) {
              const memory = Buffer.alloc(body.length);
              expect(await requestInto(get(origin.url), { head: () => memory })).toBe(body.length);
              expect(memory.equals(body)).toBe(true);
            }
          } finally {
            await made.close?.();
            await origin.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps eight concurrent responses on eight connections apart', async () => {
    const bodies = Array.from({ length: 8 }, () => randomBytes(512 * 1024));
    const origin = await startRawOrigin((n) => ({
      head: partial(bodies[n] as Buffer),
      body: bodies[n] as Buffer,
      bodyPieces: [16 * 1024, 50_000, 3],
    }));
    const { requestInto } = transport(8);
    const read = async (): Promise<Buffer> => {
      let memory = Buffer.alloc(0);
      await requestInto(get(origin.url), {
        head: (head) => {
          memory = Buffer.alloc(Number(head.headers['content-length']));
          return memory;
        },
      });
      return memory;
    };
    const got = await Promise.all(Array.from({ length: 8 }, read));
    const expected = new Set(bodies.map((b) => b.toString('base64')));
    expect(new Set(got.map((b) => b.toString('base64')))).toEqual(expected);
  });

  it('reports progress and fails a body longer than the memory given, dropping the connection', async () => {
    const body = randomBytes(100_000);
    const origin = await startRawOrigin(() => ({ head: partial(body), body, bodyPieces: [10_000] }));
    const { requestInto } = transport();
    const progress: number[] = [];
    const failure = requestInto(get(origin.url), {
      head: () => Buffer.alloc(50_000),
      progress: (received) => progress.push(received),
    });
    await expect(failure).rejects.toMatchObject({ code: 'ERR_SLICE_INVALID_RESPONSE' });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((received) => received <= 50_000)).toBe(true);
    await expect.poll(() => origin.closed).toBeGreaterThanOrEqual(1); // undici may open a spare connection
  });

  it('rejects with what head() threw and drops the response unread', async () => {
    const body = randomBytes(1_000_000);
    const origin = await startRawOrigin(() => ({ head: partial(body, {}, '200 OK'), body }));
    const { requestInto } = transport();
    const refused = new Error('not a 206');
    await expect(
      requestInto(get(origin.url), {
        head: () => {
          throw refused;
        },
      }),
    ).rejects.toBe(refused);
    await expect.poll(() => origin.closed).toBeGreaterThanOrEqual(1); // undici may open a spare connection
  });

  it('fails a body cut short by the origin as a network error', async () => {
    const body = randomBytes(100_000);
    const origin = await startRawOrigin(() => ({
      head: partial(body),
      body,
      cut: { after: 40_000, action: 'end' },
    }));
    const { requestInto } = transport();
    await expect(
      requestInto(get(origin.url), { head: () => Buffer.alloc(body.length) }),
    ).rejects.toMatchObject({ code: 'ERR_SLICE_NETWORK' });
  });

  it('stops on abort mid-body, closes the connection, and the next request is exact', async () => {
    const bodies = [randomBytes(200_000), randomBytes(200_000)];
    const origin = await startRawOrigin((n) => ({
      head: partial(bodies[n] as Buffer),
      body: bodies[n] as Buffer,
      ...(n === 0 ? { cut: { after: 50_000, action: 'hang' as const } } : {}),
    }));
    const { requestInto } = transport(1);
    const controller = new AbortController();
    const aborted = requestInto(get(origin.url, controller.signal), {
      head: () => Buffer.alloc(200_000),
      progress: (received) => {
        if (received >= 50_000) controller.abort();
      },
    });
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_SLICE_ABORTED' });
    await expect.poll(() => origin.closed).toBeGreaterThanOrEqual(1); // undici may open a spare connection
    const memory = Buffer.alloc(200_000);
    await requestInto(get(origin.url), { head: () => memory });
    expect(memory.equals(bodies[1] as Buffer)).toBe(true);
  });

  it('rejects at once when the signal is already aborted, sending nothing', async () => {
    const origin = await startRawOrigin(() => ({ head: partial(Buffer.alloc(1)), body: Buffer.alloc(1) }));
    const { requestInto } = transport();
    await expect(
      requestInto(get(origin.url, AbortSignal.abort()), { head: () => Buffer.alloc(1) }),
    ).rejects.toMatchObject({ code: 'ERR_SLICE_ABORTED' });
    expect(origin.connections).toBe(0);
  });

  it('is not carried along by a wrapper that spreads the transport, so slices go through its request()', () => {
    const made = undiciTransport();
    transports.push(made);
    const wrapped = { ...made, request: made.request.bind(made) };
    expect(made.requestInto).toBeTypeOf('function');
    expect('requestInto' in wrapped).toBe(false);
  });

  it('reuses no read holding a chunked body’s trailers: trailer fields and body stay exact', async () => {
    const body = randomBytes(4096);
    const url = await startTrailersOrigin(body);
    const { requestInto } = transport(1);
    for (let n = 0; n < 3; n++) {
      const memory = Buffer.alloc(body.length);
      expect(await requestInto(get(url), { head: () => memory })).toBe(body.length);
      expect(memory.equals(body)).toBe(true);
    }
  });

  it('closes once, however often close() is called', async () => {
    const made = undiciTransport();
    await Promise.all([made.close?.(), made.close?.()]);
    await expect(made.close?.()).resolves.toBeUndefined();
  });

  it('is absent when the transport runs on a dispatcher of the caller (read through request())', async () => {
    const dispatcher = new Agent();
    try {
      expect(undiciTransport({ dispatcher }).requestInto).toBeUndefined();
    } finally {
      await dispatcher.close();
    }
  });
});
