/**
 * One request id joins `slice-proxy`'s and the engine's log lines (R18): the proxy's `http request` line and
 * the engine's `request start` / `request done` lines of the same request carry the same `reqId` — the
 * caller's `x-request-id` when it sends one, else the id the proxy made and answered in `x-request-id` — even
 * with concurrent requests, while the engine keeps its own `requestId` too.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { type Cli, killAll, logLines, runCli } from './cli-helpers.js';

let origin: TestOrigin;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin.close());
afterEach(killAll);

async function startProxy(): Promise<{ cli: Cli; proxy: string }> {
  const cli = runCli('slice-proxy', [
    '--upstream',
    origin.url('/'),
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--slice-size',
    '64KiB',
    '--log-level',
    'debug',
  ]);
  const line = await cli.waitForLog('listening');
  return { cli, proxy: `http://${String(line.listen)}` };
}

/** Resolves once `n` lines with `msg` were logged. */
async function waitForLines(cli: Cli, msg: string, n: number): Promise<Record<string, unknown>[]> {
  for (;;) {
    const lines = logLines(cli, msg);
    if (lines.length >= n) return lines;
    await new Promise<void>((resolve) => cli.child.stdout?.once('data', () => resolve()));
  }
}

describe('slice-proxy request ids', () => {
  it("puts the caller's x-request-id on the engine's lines of that request", async () => {
    origin.setObject('/ids/a.bin', { size: 300_000 });
    const { cli, proxy } = await startProxy();
    const res = await fetch(`${proxy}/ids/a.bin`, {
      headers: { range: 'bytes=0-199999', 'x-request-id': 'trace-abc-1' },
    });
    await res.arrayBuffer();
    expect(res.headers.get('x-request-id')).toBe('trace-abc-1');
    const [http] = await waitForLines(cli, 'http request', 1);
    const [done] = await waitForLines(cli, 'request done', 1);
    const [start] = logLines(cli, 'request start');
    expect(http).toMatchObject({ reqId: 'trace-abc-1', url: '/ids/a.bin' });
    expect(done).toMatchObject({ reqId: 'trace-abc-1', url: origin.url('/ids/a.bin'), status: 206 });
    expect(start).toMatchObject({ reqId: 'trace-abc-1', requestId: done?.requestId });
  });

  it('joins generated ids too, each to its own request, with concurrent requests', async () => {
    const paths = ['/ids/c0.bin', '/ids/c1.bin', '/ids/c2.bin', '/ids/c3.bin', '/ids/c4.bin'];
    for (const path of paths) origin.setObject(path, { size: 200_000 + paths.indexOf(path) });
    const { cli, proxy } = await startProxy();
    const answered = await Promise.all(
      paths.map(async (path) => {
        const res = await fetch(`${proxy}${path}`);
        await res.arrayBuffer();
        return { path, reqId: res.headers.get('x-request-id') };
      }),
    );
    const done = await waitForLines(cli, 'request done', paths.length);
    for (const { path, reqId } of answered) {
      expect(reqId).toMatch(/^[0-9a-f-]{36}$/);
      expect(done.filter((line) => line.reqId === reqId).map((line) => line.url)).toEqual([origin.url(path)]);
    }
  });
});
