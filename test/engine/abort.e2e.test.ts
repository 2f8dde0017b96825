/**
 * Aborts at any point (P24): through `init.signal` before or during the request, by destroying the Node body,
 * or by cancelling the web body — afterwards every origin connection is closed once the fetcher is, no
 * request is left counted as active, the memory budget is whole again, and no timer or socket is left
 * behind (`process.getActiveResourcesInfo()` is back to what it was).
 */
import type { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type InternalSliceFetcher, openSymbol } from '../../src/engine/fetcher-types.js';
import { createSliceFetcher } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { activeResources, drain, KiB, leakedResources, makeGate, quiescent } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(() => {
  origin.clearFaults();
});
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;

type Mode =
  | { readonly kind: 'signal-before' }
  | { readonly kind: 'signal-at-request'; readonly request: number }
  | { readonly kind: 'signal-after-chunks'; readonly chunks: number }
  | { readonly kind: 'cancel-after-chunks'; readonly chunks: number }
  | { readonly kind: 'destroy-after-pieces'; readonly pieces: number };

interface Scenario {
  readonly slices: number;
  readonly concurrency: number;
  readonly cache: boolean;
  readonly mode: Mode;
  /** A slice whose response the origin holds until the end (so an abort finds it in flight). */
  readonly hold: number | undefined;
  readonly range: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    slices: fc.integer({ min: 1, max: 24 }),
    concurrency: fc.integer({ min: 1, max: 6 }),
    cache: fc.boolean(),
    range: fc.boolean(),
    kind: fc.constantFrom(
      'signal-before',
      'signal-at-request',
      'signal-after-chunks',
      'cancel-after-chunks',
      'destroy-after-pieces',
    ),
    point: fc.nat(),
    holdAt: fc.option(fc.nat(), { nil: undefined }),
  })
  .map(({ slices, concurrency, cache, range, kind, point, holdAt }): Scenario => {
    // Abort points are counted in pieces (one per slice) or origin requests, both at most `slices`.
    const at = point % slices;
    let mode: Mode;
    switch (kind) {
      case 'signal-before':
        mode = { kind };
        break;
      case 'signal-at-request':
        mode = { kind, request: at + 1 };
        break;
      case 'signal-after-chunks':
      case 'cancel-after-chunks':
        mode = { kind, chunks: at };
        break;
      default:
        mode = { kind: 'destroy-after-pieces', pieces: at };
    }
    // A held slice must come after the abort point, or the consumer would wait for it forever.
    const hold =
      holdAt === undefined || kind === 'signal-at-request' || at + 1 >= slices
        ? undefined
        : at + 1 + (holdAt % (slices - at - 1));
    return { slices, concurrency, cache, mode, hold, range };
  });

let runs = 0;

async function runScenario(s: Scenario): Promise<void> {
  const path = `/p24/${runs++}.bin`;
  const size = s.slices * SLICE - 17;
  const { seed } = origin.setObject(path, { size });
  const first = s.range ? 1000 : 0;
  const gate = makeGate();
  if (s.hold !== undefined) {
    const start = s.hold * SLICE;
    origin.addFault({
      path,
      times: Infinity,
      match: (r) => r.range?.start === start,
      fault: { type: 'wait', until: gate.promise },
    });
  }
  const before = activeResources();
  const fetcher = createSliceFetcher({
    sliceSize: SLICE,
    concurrency: s.concurrency,
    cache: s.cache ? undefined : false,
  }) as InternalSliceFetcher;
  const controller = new AbortController();
  let seen = 0;
  const onRequest = (entry: { path: string }): void => {
    if (entry.path !== path || s.mode.kind !== 'signal-at-request') return;
    if (++seen === s.mode.request) controller.abort();
  };
  origin.on('request', onRequest);
  let received = Buffer.alloc(0);
  try {
    if (s.mode.kind === 'signal-before') controller.abort();
    const init = { signal: controller.signal, range: s.range ? `bytes=${first}-` : undefined };
    if (s.mode.kind === 'destroy-after-pieces') {
      const result = await fetcher[openSymbol](origin.url(path), init);
      const body = result.body as Readable;
      const parts: Uint8Array[] = [];
      let pieces = 0;
      for await (const piece of body) {
        if (pieces++ === s.mode.pieces) break; // `break` destroys the stream
        parts.push(...(piece as Uint8Array[]));
      }
      body.destroy();
      received = Buffer.concat(parts);
    } else {
      const outcome = await fetcher.fetch(origin.url(path), init).then(
        (res) => res,
        (error: unknown) => error,
      );
      if (outcome instanceof Response) {
        const reader = (outcome.body as ReadableStream<Uint8Array>).getReader();
        const parts: Uint8Array[] = [];
        const limit = 'chunks' in s.mode ? s.mode.chunks : Infinity;
        let failed = false;
        try {
          while (parts.length < limit) {
            const { value, done } = await reader.read();
            if (done) break;
            parts.push(value);
          }
          if (s.mode.kind === 'cancel-after-chunks') await reader.cancel();
          else {
            if (s.mode.kind === 'signal-after-chunks') controller.abort();
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              parts.push(value);
            }
          }
        } catch {
          failed = true;
        }
        received = Buffer.concat(parts);
        // A body that ended cleanly is the whole range; any other body stopped early.
        if (!failed && s.mode.kind !== 'cancel-after-chunks') expect(received.length).toBe(size - first);
      } else {
        expect(outcome).toMatchObject({ code: 'ERR_SLICE_ABORTED' });
      }
    }
    expect(received.equals(contentBytes(seed, first, first + received.length - 1))).toBe(true);
    // Checked before close(): the request's own fills went when it did (regression: read-ahead started while
    // the reference streamed followed the reference fetch, not its waiters, and a close hid it).
    await origin.waitForNoInFlight();
    const stats = await quiescent(fetcher);
    expect(stats.activeRequests).toBe(0);
    expect(stats.inFlightSlices).toBe(0);
    expect(stats.bufferedBytes).toBe(0);
  } finally {
    origin.off('request', onRequest);
    gate.open();
    await fetcher.close();
    await origin.waitForIdle();
    origin.clearFaults();
  }
  expect(await leakedResources(before)).toEqual([]);
}

describe('aborting a request (P24)', () => {
  it('leaves nothing in flight at the origin when the first client of a cold object leaves after its first chunk', async () => {
    const path = '/p24/cold-seek.bin';
    const size = 16 * SLICE;
    const { seed } = origin.setObject(path, { size });
    const gate = makeGate();
    // The reference answers at once; the read-ahead it starts is held at the origin, mid-fill for the engine.
    origin.addFault({
      path,
      times: Infinity,
      match: (r) => (r.range?.start ?? 0) > 0,
      fault: { type: 'wait', until: gate.promise },
    });
    const fetcher = createSliceFetcher({ sliceSize: SLICE, concurrency: 4 });
    try {
      const res = await fetcher.fetch(origin.url(path));
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      expect(
        Buffer.from(value as Uint8Array).equals(contentBytes(seed, 0, (value as Uint8Array).length - 1)),
      ).toBe(true);
      await origin.waitFor((s) => s.inFlight === 3);
      const sent = origin.stats.bytesSent;
      await reader.cancel();
      // Before close(): the read-ahead had one waiter, the client, and went with it.
      await origin.waitForNoInFlight();
      gate.open();
      expect(origin.stats.bytesSent).toBe(sent);
      expect((await quiescent(fetcher)).bufferedBytes).toBe(0);
    } finally {
      gate.open();
      await fetcher.close();
    }
  }, 10_000);

  it('leaves no open socket, timer, active request or reserved memory, wherever it is aborted', async () => {
    await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: 40 });
  });

  it('cancels a request whose slices are all held at the origin', async () => {
    await runScenario({
      slices: 8,
      concurrency: 4,
      cache: true,
      mode: { kind: 'signal-after-chunks', chunks: 0 },
      hold: 1,
      range: false,
    });
  });

  it('sends nothing to the origin for a signal that is already aborted (regression: the reference still went out)', async () => {
    const path = '/p24/pre-aborted.bin';
    origin.setObject(path, { size: 4 * SLICE });
    const fetcher = createSliceFetcher({ sliceSize: SLICE });
    origin.resetStats();
    await expect(fetcher.fetch(origin.url(path), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ERR_SLICE_ABORTED',
    });
    await fetcher.close();
    await origin.waitForIdle();
    expect(fetcher.stats().subrequests).toBe(0);
    expect(origin.stats.byPath.get(path)).toBeUndefined();
  });

  it('cancels a request aborted while its reference slice is still being fetched', async () => {
    const path = '/p24/reference-held.bin';
    origin.setObject(path, { size: 4 * SLICE });
    const gate = makeGate();
    origin.addFault({ path, times: Infinity, fault: { type: 'wait', until: gate.promise } });
    const before = activeResources();
    const fetcher = createSliceFetcher({ sliceSize: SLICE });
    const controller = new AbortController();
    const pending = fetcher.fetch(origin.url(path), { signal: controller.signal });
    await origin.waitFor((s) => s.inFlight === 1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_SLICE_ABORTED' });
    await origin.waitForNoInFlight();
    await fetcher.close();
    await origin.waitForIdle();
    gate.open();
    expect(fetcher.stats().activeRequests).toBe(0);
    expect(await leakedResources(before)).toEqual([]);
  });

  it('ends in-flight requests when the fetcher is closed', async () => {
    const path = '/p24/closed.bin';
    origin.setObject(path, { size: 6 * SLICE });
    const gate = makeGate();
    origin.addFault({
      path,
      times: Infinity,
      match: (r) => (r.range?.start ?? 0) > 0,
      fault: { type: 'wait', until: gate.promise },
    });
    const before = activeResources();
    const fetcher = createSliceFetcher({ sliceSize: SLICE, concurrency: 3 });
    const res = await fetcher.fetch(origin.url(path));
    const body = drain(res);
    await origin.waitFor((s) => s.inFlight === 3);
    await fetcher.close();
    const { error } = await body;
    expect(error).toBeDefined();
    await origin.waitForIdle();
    gate.open();
    await expect(fetcher.fetch(origin.url(path))).rejects.toMatchObject({ code: 'ERR_SLICE_CLOSED' });
    expect(await leakedResources(before)).toEqual([]);
  });
});

describe('abort reasons (R21)', () => {
  it('keeps ERR_SLICE_ABORTED and carries the signal’s reason as cause: already aborted, timed out, mid-body', async () => {
    const path = '/p24/reasons.bin';
    const { seed } = origin.setObject(path, { size: 8 * SLICE });
    const fetcher = createSliceFetcher({ sliceSize: SLICE, concurrency: 2 });
    try {
      const reason = new Error('the user left');
      await expect(
        fetcher.fetch(origin.url(path), { signal: AbortSignal.abort(reason) }),
      ).rejects.toMatchObject({
        code: 'ERR_SLICE_ABORTED',
        cause: reason,
      });
      // A timeout: its reason is a TimeoutError, which a caller tells from a cancel by the cause.
      const gate = makeGate();
      origin.addFault({ path, times: Infinity, fault: { type: 'wait', until: gate.promise } });
      const timedOut = await fetcher.fetch(origin.url(path), { signal: AbortSignal.timeout(50) }).then(
        () => undefined,
        (error: unknown) => error,
      );
      gate.open();
      origin.clearFaults();
      expect(timedOut).toMatchObject({ code: 'ERR_SLICE_ABORTED', cause: { name: 'TimeoutError' } });
      // Mid-body: the body errors with the same code and the reason as cause.
      const controller = new AbortController();
      const res = await fetcher.fetch(origin.url(path), { signal: controller.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      const chunk = Buffer.from(first.value as Uint8Array);
      expect(chunk.equals(contentBytes(seed, 0, chunk.length - 1))).toBe(true);
      const why = new Error('seeked elsewhere');
      controller.abort(why);
      const failure = await (async () => {
        for (;;) if ((await reader.read()).done) return undefined;
      })().catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'ERR_SLICE_ABORTED', cause: why });
    } finally {
      await fetcher.close();
    }
  });
});
