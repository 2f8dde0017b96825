/**
 * Occupancy of the Redis store. By default (`statsSource: 'info'`) it is read from `INFO memory`
 * (`used_memory`) and `DBSIZE` of every master — one round trip per master, O(1) on the server, summed over a
 * cluster's masters — and kept for {@link STATS_TTL_MS}, so a `/metrics` scrape asking for bytes and entries
 * costs one read, and concurrent askers share it. These describe the whole database (index sets and claims
 * included). `statsSource: 'scan'` walks this prefix's entries instead — `SCAN MATCH <prefix>{*}:* TYPE string`
 * in batches, then pipelined `STRLEN`s, on every master — exact for the prefix, at O(keys) per call.
 *
 * The same sample also serves the `maxBytes` write-admission guard, refreshed off the write path.
 *
 * @module
 */
import type { CacheStats } from '../ports.js';
import { asIterable, type RedisClientLike, type RedisLink, STRINGS, usedMemoryOf } from './redis-client.js';
import type { RedisGuard } from './redis-guard.js';
import { entryPattern } from './redis-layout.js';

/** Reads (and keeps briefly) the store's occupancy. */
export interface OccupancySampler {
  /** Bytes and entries; from the last sample when it is under a second old. Rejects when Redis fails. */
  read(): Promise<CacheStats>;
  /** `used_memory` of the last sample (0 before any); starts a new sample, off the caller's path, when old. */
  usedMemory(): number;
  /** The last sample read, if any. */
  last(): CacheStats | undefined;
  /** Resolves when a sample in flight settled. */
  settled(): Promise<void>;
}

/**
 * Creates the sampler of one store.
 *
 * @example
 * ```ts
 * const occupancy = createOccupancySampler({ link, guard, prefix: 'cdn:', source: 'info' });
 * const { bytes, entries } = await occupancy.read();
 * ```
 */
export function createOccupancySampler(options: {
  readonly link: RedisLink;
  readonly guard: RedisGuard;
  readonly prefix: string;
  readonly source: 'info' | 'scan';
}): OccupancySampler {
  const { link, guard, prefix, source } = options;
  let last: { readonly stats: CacheStats; readonly usedMemory: number; readonly at: number } | undefined;
  let sampling: Promise<CacheStats> | undefined;

  /** `INFO` of every master, shared by concurrent askers. */
  function sample(): Promise<CacheStats> {
    sampling ??= guard
      .run('stats', () => readInfo(link), { open: bypassed })
      .then((info) => {
        last = { ...info, at: performance.now() };
        return info.stats;
      })
      .finally(() => {
        sampling = undefined;
      });
    return sampling;
  }

  const fresh = (): boolean => last !== undefined && performance.now() - last.at < STATS_TTL_MS;

  /** Every entry of this prefix on every master, counted with their lengths (`statsSource: 'scan'`). */
  async function walk(): Promise<CacheStats> {
    const masters = await guard.run('SCAN', () => link.masters(), { open: bypassed });
    let bytes = 0;
    let entries = 0;
    for (const master of masters) {
      const counted = await walkOne(master);
      bytes += counted.bytes;
      entries += counted.entries;
    }
    return { bytes, entries };
  }

  async function walkOne(client: RedisClientLike): Promise<CacheStats> {
    // SCAN may return a key twice if Redis resizes its table meanwhile; deduplicating would hold every
    // name in memory, so a walk racing heavy writes can over-count slightly.
    const match = entryPattern(prefix);
    let cursor = '0';
    let bytes = 0;
    let entries = 0;
    do {
      const reply = await guard.run(
        'SCAN',
        () =>
          client.sendCommand(['SCAN', cursor, 'MATCH', match, 'COUNT', '1000', 'TYPE', 'string'], STRINGS),
        { open: bypassed },
      );
      const [next, names] = reply as [unknown, unknown];
      cursor = String(next);
      const batch = [...asIterable(names)].map(String);
      if (batch.length === 0) continue;
      const lengths = await guard.run(
        'STRLEN',
        () => Promise.all(batch.map((name) => client.sendCommand(['STRLEN', name], STRINGS))),
        { open: bypassed },
      );
      for (const length of lengths) bytes += Number(length);
      entries += batch.length;
    } while (cursor !== '0');
    return { bytes, entries };
  }

  return {
    read() {
      if (source === 'scan') return walk();
      return fresh() ? Promise.resolve((last as { stats: CacheStats }).stats) : sample();
    },
    usedMemory() {
      if (!fresh()) sample().catch(() => undefined);
      return last?.usedMemory ?? 0;
    },
    last() {
      return last?.stats;
    },
    async settled() {
      await sampling?.catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** How long a sample answers `stats()` (a scrape asks for several gauges at once). */
const STATS_TTL_MS = 1000;

function bypassed(): never {
  throw new Error('Redis is bypassed (circuit breaker open)');
}

/** `INFO memory` and `DBSIZE` of every master, pipelined per master and summed. */
async function readInfo(link: RedisLink): Promise<{ stats: CacheStats; usedMemory: number }> {
  const masters = await link.masters();
  const replies = await Promise.all(
    masters.map((client) =>
      Promise.all([client.sendCommand(['INFO', 'memory'], STRINGS), client.sendCommand(['DBSIZE'], STRINGS)]),
    ),
  );
  let usedMemory = 0;
  let entries = 0;
  for (const [info, size] of replies) {
    usedMemory += usedMemoryOf(info);
    entries += Number(size);
  }
  return { stats: { bytes: usedMemory, entries }, usedMemory };
}
