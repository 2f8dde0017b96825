/**
 * `slice-proxy --send-timeout` reaches the handler (R18, R20): the real binary, started with a short timeout,
 * drops a client that stops reading a 1 GiB download, logs the request as incomplete, and leaves nothing in
 * flight at the origin. Guards the wiring in src/cli/slice-proxy.ts — a flag that validates but is never handed
 * to `createSliceHandler` would leave the 60 s default in force. Waits on the proxy's own log line, never on a
 * time.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, runCli } from './cli-helpers.js';

const GiB = 1024 ** 3;
let origin: TestOrigin;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin.close());
afterEach(() => killAll());

describe('slice-proxy --send-timeout', () => {
  it('disconnects a client that reads nothing for the given milliseconds and logs its request as incomplete', async () => {
    origin.setObject('/send-timeout/big.bin', { size: GiB });
    const cli = runCli('slice-proxy', [
      '--upstream',
      origin.url('/'),
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--send-timeout',
      '300',
    ]);
    const listening = await cli.waitForLog('listening');
    const [host, port] = String(listening.listen).split(':') as [string, string];

    const socket = connect(Number(port), host);
    socket.on('error', () => {});
    socket.write('GET /send-timeout/big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    const [first] = (await once(socket, 'data')) as [Buffer];
    socket.pause(); // from here on the client reads nothing
    expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);

    const line = await cli.waitForLog('http request');
    expect(line).toMatchObject({ url: '/send-timeout/big.bin', status: 200, complete: false });

    // The client learns it only when it reads again: its connection ends long before 1 GiB.
    let bytes = first.length;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    const closed = once(socket, 'close');
    socket.resume();
    await closed;
    expect(bytes).toBeLessThan(GiB);
    await origin.waitForNoInFlight();
    expect(origin.stats.inFlight).toBe(0);
  });
});
