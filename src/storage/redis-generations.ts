/**
 * Purge generations of the Redis store (R16, R19, R22, P27): one small key per object,
 * `<prefix>{<object hash>}#gen` (the object's hash tag, so its slot is its entries' slot), holding a random
 * token the engine mixes into every key of the object. A purge writes a new token, so the keys of the old one
 * are never read again — even when `maxmemory` eviction removed the index set the purge walks, and whichever
 * process wrote them — and announces it with `PUBLISH` on `<prefix>#purge`, which every other process receives
 * on a subscriber connection of its own (a connection in subscribed mode can send nothing else).
 *
 * Why a random token and no counter that starts at 0: the generation key can itself be evicted or expire, and
 * a counter starting again could bring purged keys back. A missing key is replaced by a new random token
 * (`SET NX GET`, one round trip), so losing it only costs misses, never old bytes. The key's TTL is the store's
 * longest entry lifetime, renewed whenever a process loads the object.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { SliceFetchError } from '../core/errors.js';
import { objectKeyPrefix } from '../core/keys.js';
import type { RedisStorage } from './redis.js';
import type { RedisLink } from './redis-client.js';
import { STRINGS } from './redis-client.js';
import type { RedisGuard } from './redis-guard.js';

/** What the generations need from the store. */
export interface RedisGenerationsDeps {
  /** The store's link to Redis (one server or a cluster). */
  readonly link: RedisLink;
  /** The store's guard: time bound, circuit breaker, errors as `ERR_SLICE_CACHE`. */
  readonly guard: RedisGuard;
  /** The store's key prefix. */
  readonly prefix: string;
  /** The store's longest entry lifetime, milliseconds: the generation key lives as long. */
  readonly maxTtlMs: number;
  /** Receives subscriber connection errors. */
  readonly onError: (error: unknown) => void;
}

/**
 * Gives a Redis store purge generations: `generation` and `onPurge`, a `purgeObject` that moves the object to a
 * new generation before the store's own purge and announces it after, and a `close` that drops the subscriber
 * connection. Notices are received on a `duplicate()` of a master's client (classic pub/sub reaches every
 * node of a cluster); a client that cannot duplicate itself receives none, and other processes then notice a
 * purge when they next load the object.
 *
 * @example
 * ```ts
 * const store = withGenerations(plainStore, { link, guard, prefix: 'cdn:', maxTtlMs: 86_400_000, onError });
 * const generation = await store.generation?.('https://example.com/a.bin');
 * ```
 */
export function withGenerations(store: RedisStorage, deps: RedisGenerationsDeps): RedisStorage {
  const { link, guard, prefix } = deps;
  const px = String(Math.max(1, Math.floor(deps.maxTtlMs)));
  const channel = `${prefix}#purge`;
  /** Names this process's announcements, so it does not follow its own purges a second time. */
  const origin = randomBytes(8).toString('hex');
  const listeners = new Set<(objectKey: string) => void>();
  let subscriber: Subscriber | undefined;
  let subscribing = false;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  function onMessage(message: string): void {
    const notice = parseNotice(message);
    if (notice === undefined || notice.from === origin) return;
    for (const listener of [...listeners]) listener(notice.objectKey);
  }

  /** Counts subscriptions: an attempt that a later unsubscribe overtook tears down what it made. */
  let epoch = 0;
  /** The subscription being made: `close()` waits for it, so that a connection it opens is closed too. */
  let making: Promise<void> = Promise.resolve();

  function startSubscribing(tries: number, mine: number): void {
    making = subscribe(tries, mine);
  }

  async function subscribe(tries: number, mine: number): Promise<void> {
    let sub: Subscriber | undefined;
    try {
      // Another master on each retry: after a failover the first one may be gone (the slot map heals meanwhile).
      const masters = await link.masters();
      const master = masters[tries % Math.max(1, masters.length)];
      const duplicate = (master as { duplicate?: unknown } | undefined)?.duplicate;
      if (typeof duplicate !== 'function' || mine !== epoch) return;
      const made = duplicate.call(master) as Subscriber;
      sub = made;
      // An 'error' without a listener would crash the process. A subscriber that loses its node is replaced,
      // not left to reconnect to an address a failover may have retired.
      made.on('error', (error) => {
        deps.onError(error);
        if (subscriber === made && mine === epoch) resubscribe(made, tries, mine);
      });
      // Not `subscriber` until connected: node-redis cannot destroy a client still connecting (it goes on
      // connecting), so an unsubscribe meanwhile leaves it to this attempt, which closes it below.
      await made.connect();
      if (mine !== epoch) {
        destroy(made);
        return;
      }
      subscriber = made;
      await made.subscribe(channel, onMessage);
      if (mine !== epoch) destroy(made);
    } catch (error) {
      if (sub !== undefined) destroy(sub);
      if (mine !== epoch) return;
      deps.onError(error);
      if (subscriber === sub) subscriber = undefined;
      retry = setTimeout(() => startSubscribing(tries + 1, mine), backoffMs(tries));
      retry.unref();
    }
  }

  /** The subscriber's connection failed: drop it and subscribe again through the (healing) slot map. */
  function resubscribe(lost: Subscriber, tries: number, mine: number): void {
    subscriber = undefined;
    destroy(lost);
    link.heal();
    clearTimeout(retry);
    retry = setTimeout(() => startSubscribing(tries + 1, mine), backoffMs(tries));
    retry.unref();
  }

  /** Nobody listens any more: the subscriber connection goes (a later listener opens a new one). */
  function unsubscribeAll(): void {
    epoch++;
    clearTimeout(retry);
    const sub = subscriber;
    subscriber = undefined;
    subscribing = false;
    if (sub !== undefined) destroy(sub);
  }

  const run = <T>(what: string, command: () => Promise<T>): Promise<T> =>
    guard.run(what, command, { open: bypassed });

  return {
    ...store,

    async generation(objectKey) {
      const key = generationKey(prefix, objectKey);
      const made = newGeneration();
      // A missing key (never purged, evicted, expired) becomes a new random generation: never an old one.
      const [previous] = await guard.run(
        'generation',
        () =>
          Promise.all([
            link.send(key, ['SET', key, made, 'NX', 'GET', 'PX', px], STRINGS),
            link.send(key, ['PEXPIRE', key, px], STRINGS),
          ]),
        // A full Redis refuses the SET: read the generation instead. A missing one then stays a one-off
        // generation of this load (misses, never old bytes) until Redis accepts writes again.
        { open: bypassed, refused: () => [REFUSED, undefined] },
      );
      if (previous === REFUSED) {
        const current = await run('generation', () => link.send(key, ['GET', key], STRINGS));
        return current === null || current === undefined ? made : String(current);
      }
      return previous === null || previous === undefined ? made : String(previous);
    },

    async purgeObject(objectKey) {
      const key = generationKey(prefix, objectKey);
      const generation = newGeneration();
      const moved = await guard.run(
        'purge',
        () => link.send(key, ['SET', key, generation, 'PX', px], STRINGS),
        // A full Redis refuses the SET but still deletes: without the key every load makes a one-off
        // generation (misses, never the purged bytes) until Redis takes writes again.
        { open: bypassed, refused: () => REFUSED },
      );
      if (moved === REFUSED) await run('purge', () => link.send(key, ['DEL', key], STRINGS));
      try {
        // Counts the entries the index still names; those it lost to eviction are unreadable all the same.
        return await store.purgeObject(objectKey);
      } finally {
        const notice = JSON.stringify({ objectKey, generation, from: origin });
        // Best effort: a process that misses it reads the new generation when it next loads the object.
        await run('PUBLISH', () => link.send(undefined, ['PUBLISH', channel, notice], STRINGS)).catch(
          deps.onError,
        );
      }
    },

    onPurge(listener) {
      listeners.add(listener);
      if (!subscribing && !closed) {
        subscribing = true;
        startSubscribing(0, epoch);
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) unsubscribeAll();
      };
    },

    async close() {
      closed = true;
      listeners.clear();
      unsubscribeAll();
      // A subscription still being made closes what it opened once its connection is up (bounded: a Redis
      // that never answers must not hold the close).
      await within(making, CLOSE_WAIT_MS);
      await store.close();
    },
  };
}

/**
 * `<prefix>{<objectKeyPrefix(objectKey)>}#gen` — the object's hash tag, and a shape the stats walk's
 * `<prefix>{*}:*` pattern never matches.
 *
 * @example
 * ```ts
 * generationKey('cdn:', 'https://example.com/a.bin'); // 'cdn:{<32 hex>}#gen'
 * ```
 */
export function generationKey(prefix: string, objectKey: string): string {
  return `${prefix}{${objectKeyPrefix(objectKey)}}#gen`;
}

// ---------------------------------------------------------------------------------------------------------

/** The part of a node-redis subscriber connection (a client's `duplicate()`) used here. */
interface Subscriber {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

interface Notice {
  readonly objectKey: string;
  readonly from: string;
}

function parseNotice(message: string): Notice | undefined {
  try {
    const parsed = JSON.parse(message) as Partial<Notice>;
    if (typeof parsed.objectKey === 'string' && typeof parsed.from === 'string')
      return { objectKey: parsed.objectKey, from: parsed.from };
  } catch {
    // not ours: ignored
  }
  return undefined;
}

/** destroy(), not close(): a hung server must not hold shutdown, and nothing is in flight on this connection. */
function destroy(sub: Subscriber): void {
  try {
    sub.destroy();
  } catch {
    // already closed
  }
}

/** The SET of a generation was refused (Redis is full). */
const REFUSED = Symbol('refused');

/** How long `close()` waits for a subscription still being made. */
const CLOSE_WAIT_MS = 2000;

function backoffMs(tries: number): number {
  return Math.min(100 * 2 ** tries, 5000);
}

/** Resolves when `work` settles or `ms` passed, whichever is first; leaves no timer behind. */
async function within(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function bypassed(): never {
  throw new SliceFetchError('ERR_SLICE_CACHE', 'Redis generation skipped: Redis is bypassed.');
}

function newGeneration(): string {
  return randomBytes(8).toString('hex');
}
