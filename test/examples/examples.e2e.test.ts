/**
 * @module The framework examples run for real: each one's `start(0, upstream)` is started in front of the test
 * origin and must answer a range crossing a slice boundary with a byte-exact 206, then a HEAD with the headers.
 */
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { start as startExpress } from '../../examples/express.js';
import { start as startFastify } from '../../examples/fastify.js';
import { start as startHono } from '../../examples/hono.js';
import { type RunningExample, start as startHttp } from '../../examples/http-server.js';
import { start as startKoa } from '../../examples/koa.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const MiB = 1024 * 1024;
const SIZE = 3 * MiB + 10;

const examples: ReadonlyArray<{
  readonly name: string;
  readonly start: (port: number, upstream: string) => Promise<RunningExample>;
  /** Where the example mounts the handler. */
  readonly mount: string;
}> = [
  { name: 'http-server', start: startHttp, mount: '' },
  { name: 'express', start: startExpress, mount: '/files' },
  { name: 'fastify', start: startFastify, mount: '' },
  { name: 'koa', start: startKoa, mount: '' },
  { name: 'hono (handler)', start: startHono, mount: '/files' },
  { name: 'hono (fetch Response)', start: startHono, mount: '/fetch' },
];

let origin: TestOrigin;
let seed = 0;

beforeAll(async () => {
  origin = await startOrigin();
  seed = origin.setObject('/video.bin', { size: SIZE }).seed;
});
afterAll(async () => {
  await origin.close();
});

describe.each(examples)('the $name example', ({ start, mount }) => {
  let running: RunningExample;
  beforeAll(async () => {
    running = await start(0, origin.url('/'));
  });
  afterAll(async () => {
    await running.close();
  });

  it('answers a range crossing a slice boundary with a byte-exact 206', async () => {
    const [first, last] = [MiB - 10, 2 * MiB + 9];
    const res = await request(`${running.url}${mount}/video.bin`, {
      headers: { range: `bytes=${first}-${last}` },
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${first}-${last}/${SIZE}`);
    expect(body.equals(contentBytes(seed, first, last))).toBe(true);
  });

  it('answers HEAD with the object length and no body, and the framework logs no error', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await request(`${running.url}${mount}/video.bin`, { method: 'HEAD' });
    await res.body.dump();
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    printed.mockRestore();
    expect(printed).not.toHaveBeenCalled();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(SIZE));
    expect(res.headers['accept-ranges']).toBe('bytes');
  });
});

describe('the koa example', () => {
  it('prints nothing when a client leaves mid-body (regression: an ECONNRESET stack per abort)', async () => {
    origin.setObject('/long.bin', { size: 256 * MiB });
    const running = await startKoa(0, origin.url('/'));
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const port = Number(new URL(running.url).port);
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET /long.bin HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.resetAndDestroy();
      await origin.waitForNoInFlight();
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      await running.close();
    }
  });
});
