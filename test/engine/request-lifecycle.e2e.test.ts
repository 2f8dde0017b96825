/**
 * A request's life inside a fetcher (src/engine/request-lifecycle.ts): the synchronous answer from memory either
 * answers — with the same hooks and request ids as `open()` — or leaves no trace at all (no event, no request id
 * used), so that the general path that serves the request instead reports it exactly once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answerNowSymbol, openSymbol } from '../../src/engine/fetcher-types.js';
import type { Metrics } from '../../src/index.js';
import { contentBytes } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { closeFetchers, drainPieces, KiB, makeFetcher } from './e2e-helpers.js';

let origin: TestOrigin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(closeFetchers);
afterAll(async () => {
  await origin.close();
});

const SLICE = 64 * KiB;

/** Every hook call, in order. */
function recorder(): { hooks: Metrics; events: string[] } {
  const events: string[] = [];
  return {
    events,
    hooks: {
      onRequestStart: (e) => events.push(`start ${e.requestId} ${e.range}`),
      onCacheHit: (e) => events.push(`hit ${e.requestId} ${e.index}`),
      onBytes: (e) => events.push(`bytes ${e.requestId} ${e.source} ${e.bytes}`),
      onRequestEnd: (e) => events.push(`end ${e.requestId} ${e.status} ${e.outcome} ${e.bytes}`),
    },
  };
}

describe('the synchronous answer from memory', () => {
  it('leaves no trace when memory cannot answer: no event and no request id, then open() reports the request once', async () => {
    const path = '/lifecycle/cold.bin';
    origin.setObject(path, { size: 3 * SLICE });
    const { hooks, events } = recorder();
    const fetcher = makeFetcher({ sliceSize: SLICE, hooks });
    const init = { headers: { range: 'bytes=0-99' } };
    expect(fetcher[answerNowSymbol](origin.url(path), init)).toBeUndefined();
    expect(events).toEqual([]);
    const result = await fetcher[openSymbol](origin.url(path), init);
    await drainPieces(result.body as NonNullable<typeof result.body>);
    expect(events[0]).toBe('start 1 bytes=0-99');
    expect(events.at(-1)).toBe('end 1 206 miss 100');
    expect(fetcher.stats().activeRequests).toBe(0);
  });

  it('answers a warm range within one slice at once, with its head as fields and the next request id', async () => {
    const path = '/lifecycle/warm.bin';
    const { seed } = origin.setObject(path, { size: 3 * SLICE });
    const { hooks, events } = recorder();
    const fetcher = makeFetcher({ sliceSize: SLICE, hooks });
    const warm = await fetcher[openSymbol](origin.url(path));
    await drainPieces(warm.body as NonNullable<typeof warm.body>);
    events.length = 0;
    const answer = fetcher[answerNowSymbol](origin.url(path), {
      headers: { Range: `bytes=${SLICE}-${SLICE + 9}` },
    });
    expect(answer).toBeDefined();
    if (answer === undefined) return;
    expect(answer.status).toBe(206);
    expect(answer.cacheStatus).toBe('HIT');
    expect(Buffer.concat(answer.pieces?.flat() ?? []).equals(contentBytes(seed, SLICE, SLICE + 9))).toBe(
      true,
    );
    const record: Record<string, string | readonly string[]> = {};
    for (let i = 0; i < answer.head.length; i += 2)
      record[answer.head[i] as string] = answer.head[i + 1] as string;
    expect(answer.headers).toEqual(record);
    expect(answer.headers['content-range']).toBe(`bytes ${SLICE}-${SLICE + 9}/${3 * SLICE}`);
    expect(events).toEqual([
      `start 2 bytes=${SLICE}-${SLICE + 9}`,
      'hit 2 1',
      'bytes 2 cache 10',
      'end 2 206 hit 10',
    ]);
    expect(fetcher.stats().activeRequests).toBe(0);
  });

  it('does not answer for a closed fetcher or an aborted signal, and open() then fails as before', async () => {
    const path = '/lifecycle/closed.bin';
    origin.setObject(path, { size: SLICE });
    const fetcher = makeFetcher({ sliceSize: SLICE });
    const warm = await fetcher[openSymbol](origin.url(path));
    await drainPieces(warm.body as NonNullable<typeof warm.body>);
    const aborted = AbortSignal.abort(new Error('gone'));
    expect(fetcher[answerNowSymbol](origin.url(path), { signal: aborted })).toBeUndefined();
    await expect(fetcher[openSymbol](origin.url(path), { signal: aborted })).rejects.toMatchObject({
      code: 'ERR_SLICE_ABORTED',
    });
    await fetcher.close();
    expect(fetcher[answerNowSymbol](origin.url(path))).toBeUndefined();
    await expect(fetcher[openSymbol](origin.url(path))).rejects.toMatchObject({ code: 'ERR_SLICE_CLOSED' });
  });
});

describe('a request refused for its options', () => {
  it('rejects an unknown redirect mode before it starts: no event, nothing left active', async () => {
    const path = '/lifecycle/redirect-mode.bin';
    origin.setObject(path, { size: SLICE });
    const { hooks, events } = recorder();
    const fetcher = makeFetcher({ sliceSize: SLICE, hooks });
    await expect(
      fetcher.fetch(origin.url(path), { redirect: 'sometimes' as unknown as 'follow' }),
    ).rejects.toMatchObject({ code: 'ERR_SLICE_CONFIG' });
    expect(events).toEqual([]);
    expect(fetcher.stats().activeRequests).toBe(0);
  });
});
