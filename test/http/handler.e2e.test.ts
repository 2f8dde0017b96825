import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSliceFetchError } from '../../src/core/errors.js';
import { createSliceHandler, type SliceHandler, type SliceHandlerOptions } from '../../src/http/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const KiB = 1024;
const SLICE = 64 * KiB;
const TOKEN = 'purge-secret';

let origin: TestOrigin;
let proxy: Proxy;
const client = new Agent({ keepAliveTimeout: 10 });

beforeAll(async () => {
  origin = await startOrigin();
  proxy = await startProxy({
    upstream: origin.url('/'),
    sliceSize: SLICE,
    retry: { retries: 1, baseDelayMs: 0, maxDelayMs: 1 },
    purge: { token: TOKEN },
  });
});
afterAll(async () => {
  await client.close();
  await proxy.close();
  await origin.close();
});

describe('createSliceHandler over real sockets', () => {
  it('serves a whole object as a 200 with Content-Length, assembled from aligned slices', async () => {
    const { seed } = origin.setObject('/full.bin', { size: 3 * SLICE + 17 });
    const res = await get(proxy, '/full.bin');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(3 * SLICE + 17));
    expect(res.body.equals(contentBytes(seed, 0, 3 * SLICE + 16))).toBe(true);
    expect(origin.rangeCounts('/full.bin').size).toBe(4);
  });

  it('answers a client range with 206 and an exact Content-Range', async () => {
    const { seed } = origin.setObject('/range.bin', { size: 5 * SLICE });
    const res = await get(proxy, '/range.bin', { range: 'bytes=70000-140000' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 70000-140000/${5 * SLICE}`);
    expect(res.body.equals(contentBytes(seed, 70000, 140000))).toBe(true);
  });

  it('answers an unsatisfiable range with 416 and bytes */size', async () => {
    origin.setObject('/416.bin', { size: 1000 });
    const res = await get(proxy, '/416.bin', { range: 'bytes=5000-' });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */1000');
  });

  it('answers two ranges with multipart/byteranges carrying both parts', async () => {
    const { seed } = origin.setObject('/multi.bin', { size: 4 * SLICE });
    const res = await get(proxy, '/multi.bin', { range: 'bytes=0-9,200000-200009' });
    expect(res.status).toBe(206);
    expect(res.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/);
    expect(res.body.length).toBe(Number(res.headers['content-length']));
    expect(res.body.includes(contentBytes(seed, 0, 9))).toBe(true);
    expect(res.body.includes(contentBytes(seed, 200000, 200009))).toBe(true);
    expect(res.body.toString('latin1')).toContain(`Content-Range: bytes 200000-200009/${4 * SLICE}`);
  });

  it('answers HEAD with the headers of the GET and no body', async () => {
    origin.setObject('/head.bin', { size: 2 * SLICE + 5 });
    const res = await get(proxy, '/head.bin', {}, 'HEAD');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(2 * SLICE + 5));
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.body.length).toBe(0);
  });

  it('evaluates If-None-Match to 304, If-Match to 412 and a mismatching If-Range to a full 200', async () => {
    const { etag, seed } = origin.setObject('/cond.bin', { size: SLICE + 1 });
    expect((await get(proxy, '/cond.bin', { 'if-none-match': String(etag) })).status).toBe(304);
    expect((await get(proxy, '/cond.bin', { 'if-match': '"other"' })).status).toBe(412);
    const res = await get(proxy, '/cond.bin', { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(res.status).toBe(200);
    expect(res.body.equals(contentBytes(seed, 0, SLICE))).toBe(true);
  });

  it('passes an origin 404 through with its status and body', async () => {
    const res = await get(proxy, '/does-not-exist.bin');
    expect(res.status).toBe(404);
    expect(res.headers['x-slice-cache']).toBe('PASS');
  });

  it('answers 502 when the origin keeps failing past the retries, and reports the error', async () => {
    origin.setObject('/down.bin', { size: SLICE });
    origin.addFault({ path: '/down.bin', times: Infinity, fault: { type: 'status', status: 503 } });
    try {
      const res = await get(proxy, '/down.bin');
      expect(res.status).toBe(502);
      expect(res.body.toString()).toContain('ERR_SLICE_');
      expect(proxy.errors.at(-1)?.status).toBe(502);
    } finally {
      origin.clearFaults();
    }
  });

  it('answers 504 when the origin does not answer in time', async () => {
    const slow = await startProxy({
      upstream: origin.url('/'),
      sliceSize: SLICE,
      retry: { retries: 0 },
      timeouts: { headersMs: 100 },
    });
    origin.setObject('/hang.bin', { size: SLICE });
    origin.addFault({ path: '/hang.bin', fault: { type: 'hang' } });
    try {
      const res = await get(slow, '/hang.bin');
      expect(res.status).toBe(504);
      expect(res.body.toString()).toContain('ERR_SLICE_');
    } finally {
      origin.clearFaults();
      await slow.close();
    }
  });

  it('says x-slice-cache MISS on the first request and HIT on the repeat', async () => {
    origin.setObject('/cache.bin', { size: 2 * SLICE });
    expect((await get(proxy, '/cache.bin')).headers['x-slice-cache']).toBe('MISS');
    const before = origin.stats.requests;
    expect((await get(proxy, '/cache.bin')).headers['x-slice-cache']).toBe('HIT');
    expect(origin.stats.requests).toBe(before);
  });

  it('purges with the bearer token (200 then 404) and refuses a missing or wrong token with 401', async () => {
    origin.setObject('/purge.bin', { size: 2 * SLICE });
    await get(proxy, '/purge.bin');
    expect((await get(proxy, '/purge.bin', {}, 'PURGE')).status).toBe(401);
    expect((await get(proxy, '/purge.bin', { authorization: 'Bearer wrong' }, 'PURGE')).status).toBe(401);
    const purged = await get(proxy, '/purge.bin', { authorization: `Bearer ${TOKEN}` }, 'PURGE');
    expect(purged.status).toBe(200);
    expect(purged.headers['content-type']).toBe('application/json');
    expect(JSON.parse(purged.body.toString()).purged).toBeGreaterThan(0);
    expect((await get(proxy, '/purge.bin', { authorization: `Bearer ${TOKEN}` }, 'PURGE')).status).toBe(404);
    expect((await get(proxy, '/purge.bin')).headers['x-slice-cache']).toBe('MISS');
  });

  it('answers PURGE with 405 when purging is not configured, and refuses other methods when told to', async () => {
    const bare = await startProxy({ upstream: origin.url('/'), passThroughMethods: 'refuse' });
    try {
      const purge = await get(bare, '/x.bin', { authorization: `Bearer ${TOKEN}` }, 'PURGE');
      expect(purge.status).toBe(405);
      const post = await get(bare, '/x.bin', {}, 'DELETE');
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET, HEAD');
    } finally {
      await bare.close();
    }
  });

  it('proxies a POST with its body to the upstream and streams the answer back', async () => {
    const echo = await startEcho();
    const pass = await startProxy({ upstream: `http://127.0.0.1:${echo.port}` });
    try {
      const payload = Buffer.alloc(300 * KiB, 7);
      const res = await get(pass, '/upload?x=1', { 'content-type': 'application/x-test' }, 'POST', payload);
      expect(res.status).toBe(201);
      expect(res.headers['x-slice-cache']).toBe('PASS');
      expect(res.headers['x-echo-method']).toBe('POST /upload?x=1');
      expect(res.headers['x-echo-type']).toBe('application/x-test');
      expect(res.body.equals(payload)).toBe(true);
    } finally {
      await pass.close();
      await echo.close();
    }
  });

  it('cancels the origin sub-requests when the client disconnects mid-body', async () => {
    const own = await startOrigin();
    own.setObject('/slow.bin', { size: 16 * SLICE });
    // Slices past the first two never answer: only a cancel can end them.
    own.addFault({
      path: '/slow.bin',
      times: Infinity,
      match: (r) => (r.range?.start ?? 0) >= 2 * SLICE,
      fault: { type: 'hang' },
    });
    const p = await startProxy({ upstream: own.url('/'), sliceSize: SLICE, concurrency: 4 });
    try {
      const socket = connect(p.port, '127.0.0.1');
      socket.write(`GET /slow.bin HTTP/1.1\r\nHost: x\r\n\r\n`);
      let received = 0;
      const hanging = own.waitFor((s) => s.inFlight >= 2);
      await new Promise<void>((resolve) =>
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > SLICE) resolve();
        }),
      );
      await hanging;
      socket.destroy();
      await own.waitForNoInFlight();
      await p.close();
      await own.waitForIdle();
      expect(own.stats.openConnections).toBe(0);
    } finally {
      await p.close();
      await own.close();
    }
  });

  it('never lets an absolute-form target choose the origin', async () => {
    const { seed } = origin.setObject('/abs.bin', { size: 100 });
    const raw = await rawRequest(
      proxy,
      'GET http://evil.invalid:9/abs.bin HTTP/1.1\r\nHost: evil.invalid:9\r\nConnection: close\r\n\r\n',
    );
    expect(raw.status).toBe(200);
    expect(raw.body.equals(contentBytes(seed, 0, 99))).toBe(true);
  });

  it('ignores a Host header that points elsewhere', async () => {
    origin.setObject('/host.bin', { size: 100 });
    const raw = await rawRequest(
      proxy,
      'GET /host.bin HTTP/1.1\r\nHost: evil.invalid\r\nConnection: close\r\n\r\n',
    );
    expect(raw.status).toBe(200);
    expect(origin.stats.log.at(-1)?.headers.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it('refuses /../ traversal, also percent-encoded, with 400 before reaching the origin', async () => {
    const before = origin.stats.requests;
    for (const target of ['/a/../secret', '/%2e%2e/secret', '/a/.%2E/b', '/a/..%2fb', '/a\\..\\b']) {
      const raw = await rawRequest(proxy, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect({ target, status: raw.status }).toEqual({ target, status: 400 });
    }
    expect(origin.stats.requests).toBe(before);
  });

  it('refuses an oversized Range: 431 from Node at 100 KB, 400 from the handler above 8 KiB', async () => {
    origin.setObject('/big-range.bin', { size: 1000 });
    const huge = await rawRequest(
      proxy,
      `GET /big-range.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0${',0-0'.repeat(25_000)}\r\nConnection: close\r\n\r\n`,
    );
    expect(huge.status).toBe(431);
    const ranges = Array.from({ length: 1000 }, (_, i) => `${2 * i}-${2 * i}`).join(',');
    expect(ranges.length).toBeGreaterThan(8 * KiB);
    const res = await get(proxy, '/big-range.bin', { range: `bytes=${ranges}` });
    expect(res.status).toBe(400);
  });

  it('lets Node refuse a bare CR inside the Range header with 400', async () => {
    origin.setObject('/crlf.bin', { size: 1000 });
    const raw = await rawRequest(
      proxy,
      'GET /crlf.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\rX-Injected: 1\r\nConnection: close\r\n\r\n',
    );
    expect(raw.status).toBe(400);
  });

  it('coalesces 1,000 overlapping ranges into one and answers more than maxRanges distinct ones in full', async () => {
    const { seed } = origin.setObject('/many.bin', { size: 1000 });
    const overlapping = await get(proxy, '/many.bin', { range: `bytes=${'0-9,'.repeat(999)}0-9` });
    expect(overlapping.status).toBe(206);
    expect(overlapping.headers['content-range']).toBe('bytes 0-9/1000');
    const distinct = Array.from({ length: 17 }, (_, i) => `${3 * i}-${3 * i}`).join(',');
    const full = await get(proxy, '/many.bin', { range: `bytes=${distinct}` });
    expect(full.status).toBe(200);
    expect(full.body.equals(contentBytes(seed, 0, 999))).toBe(true);
  });

  it('proxies excluded paths and objects under minSize unsliced, and hands excluded ones to next() as middleware', async () => {
    origin.setObject('/small.bin', { size: 100 });
    origin.setObject('/notes.txt', { size: 5000 });
    const picky = await startProxy({ upstream: origin.url('/'), minSize: 1000, exclude: ['\\.txt$'] });
    try {
      expect((await get(picky, '/small.bin')).headers['x-slice-cache']).toBe('MISS');
      const second = await get(picky, '/small.bin');
      expect(second.headers['x-slice-cache']).toBe('PASS');
      expect(second.body.length).toBe(100);
      const text = await get(picky, '/notes.txt');
      expect(text.headers['x-slice-cache']).toBe('PASS');
      expect(origin.stats.log.at(-1)?.range).toBeUndefined();
      let nextCalls = 0;
      const req = { method: 'GET', url: '/notes.txt', headers: {} } as IncomingMessage;
      picky.handler(req, {} as ServerResponse, () => nextCalls++);
      expect(nextCalls).toBe(1);
    } finally {
      await picky.close();
    }
  });

  it('rejects an invalid include pattern at creation with ERR_SLICE_CONFIG', () => {
    let caught: unknown;
    try {
      createSliceHandler({ upstream: origin.url('/'), include: ['('] });
    } catch (error) {
      caught = error;
    }
    expect(isSliceFetchError(caught) && caught.code).toBe('ERR_SLICE_CONFIG');
  });
});

// ---------------------------------------------------------------------------------------------------------

interface Proxy {
  readonly port: number;
  readonly handler: SliceHandler;
  readonly errors: { status: number; code: string }[];
  close(): Promise<void>;
}

async function startProxy(options: SliceHandlerOptions): Promise<Proxy> {
  const errors: { status: number; code: string }[] = [];
  const handler = createSliceHandler({
    ...options,
    onError: (error) => errors.push({ status: error.status, code: error.code }),
  });
  const server = createServer(handler);
  return { ...(await listen(server)), handler, errors, close: closer(server, () => handler.close()) };
}

async function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    res.writeHead(201, {
      'content-length': body.length,
      'x-echo-method': `${req.method} ${req.url}`,
      'x-echo-type': String(req.headers['content-type']),
    });
    res.end(body);
  });
  return { ...(await listen(server)), close: closer(server, async () => {}) };
}

async function listen(server: Server): Promise<{ port: number }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port };
}

function closer(server: Server, after: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await after();
    })();
    return closing;
  };
}

async function get(
  p: { port: number },
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const res = await request(`http://127.0.0.1:${p.port}${path}`, {
    method: method as 'GET',
    headers,
    body,
    dispatcher: client,
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await res.body.arrayBuffer()),
  };
}

/** Writes `text` as is on a fresh socket and reads until the server closes it. */
async function rawRequest(p: { port: number }, text: string): Promise<{ status: number; body: Buffer }> {
  const socket = connect(p.port, '127.0.0.1');
  socket.write(text);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await Promise.race([once(socket, 'end'), once(socket, 'close')]);
  socket.destroy();
  const all = Buffer.concat(chunks);
  const split = all.indexOf('\r\n\r\n');
  return { status: Number(all.subarray(9, 12).toString()), body: all.subarray(split + 4) };
}
