/**
 * The Redis client as the store uses it: the part of node-redis 5 it needs ({@link RedisClientLike}), the client
 * it creates when given a URL, how replies are typed, and the time bound every call runs under.
 *
 * Why node-redis 5 and not ioredis: node-redis writes a `Buffer` argument to the socket as is (its encoder
 * emits `[header, buffer, …]` and the socket writes them corked), while ioredis builds every command into
 * one new buffer — a second copy of each 1 MiB slice. node-redis also maps bulk replies to `Buffer` with
 * `RESP_TYPES.BLOB_STRING` (no base64, no UTF-8 round trip), pipelines every command issued in one tick
 * into one write by itself, has `disableOfflineQueue` for fail-fast while disconnected, and is the client
 * Redis maintains.
 *
 * Failure: an owned client has `disableOfflineQueue` (calls reject at once while disconnected) and
 * reconnects forever with capped exponential backoff. A hung server keeps the socket open, so every call is
 * also bounded in time ({@link bounded}).
 *
 * @module
 */
import { createClient, RESP_TYPES, type RedisArgument } from 'redis';
import { SliceFetchError } from '../core/errors.js';

/** The part of a node-redis 5 client (or a `.withTypeMapping()` proxy of one) the store uses. */
export interface RedisClientLike {
  /** Whether the connection is up and the handshake done. */
  readonly isReady: boolean;
  /** Sends one raw command; commands sent in one tick are pipelined. */
  sendCommand(args: readonly RedisArgument[], options?: { typeMapping?: object }): Promise<unknown>;
  /** Starts a `MULTI` transaction. */
  multi(): RedisMultiLike;
}

/** The part of a node-redis 5 `MULTI` builder the store uses. */
export interface RedisMultiLike {
  /** Queues one raw command. */
  addCommand(args: readonly RedisArgument[]): RedisMultiLike;
  /** Sends the transaction; resolves the replies in order. */
  exec(): Promise<readonly unknown[]>;
}

/** A client the store created itself, and so connects and closes. */
export type OwnClient = ReturnType<typeof createClient>;

/** The message of a call refused because the connection is down (node-redis would queue it). */
export const NOT_CONNECTED = 'not connected.';

/** Bulk-string replies as `Buffer`s: slice bytes arrive without a UTF-8 round trip. */
export const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };
/** An empty mapping overrides a caller's client-wide one, so replies we parse are plain strings and numbers. */
export const STRINGS = { typeMapping: {} };

/**
 * Capped exponential backoff with jitter, forever: the store heals by itself when Redis returns.
 *
 * @example
 * ```ts
 * createClient({ url, socket: { reconnectStrategy: reconnectDelay } });
 * ```
 */
export function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100);
}

/**
 * A node-redis client for `url` that fails fast while disconnected and reconnects by itself, forever.
 *
 * @example
 * ```ts
 * const own = createOwnClient('redis://cache:6379', (error) => log.warn({ err: error }, 'redis'));
 * ```
 */
export function createOwnClient(url: string, onError: (error: unknown) => void): OwnClient {
  const client = createClient({
    url,
    // Fail fast while disconnected instead of queueing: the engine would rather go to the origin now.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: reconnectDelay },
  });
  client.on('error', onError); // an EventEmitter 'error' without a listener would crash the process
  return client;
}

/**
 * The store's view of Redis, whether one server or a cluster: commands are routed by their key (a cluster
 * sends each to the master of the key's slot; every key of one object shares one slot, see redis-layout.ts).
 */
export interface RedisLink {
  /** Sends one command about `key` (`undefined`: any node); rejects at once while not connected. */
  send(key: string | undefined, args: readonly RedisArgument[], options: CommandOptions): Promise<unknown>;
  /** Sends `commands` as one `MULTI`/`EXEC` on the node holding `key`. */
  transaction(key: string, commands: readonly (readonly RedisArgument[])[]): Promise<readonly unknown[]>;
  /** One client per master: the client itself for one server, every master's for a cluster. */
  masters(): Promise<readonly RedisClientLike[]>;
  /** A call timed out or lost its connection: a cluster re-reads its slot map (at most every few hundred ms). */
  heal(): void;
  /** Closes what the store created (a given client is left open); bounded by `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
}

/** Per-command options the store passes (a reply type mapping). */
export type CommandOptions = typeof BUFFERS | typeof STRINGS;

/**
 * A {@link RedisLink} over one server. With `own` the link connects it (calls made before the first connection
 * attempt settles wait for it instead of missing) and closes it.
 *
 * @example
 * ```ts
 * const own = createOwnClient(url, onError);
 * const link = singleLink(own, own);
 * await link.send(key, ['GET', key], BUFFERS);
 * ```
 */
export function singleLink(client: RedisClientLike, own: OwnClient | undefined): RedisLink {
  let starting: Promise<void> | undefined =
    own === undefined
      ? undefined
      : new Promise<void>((resolve) => {
          const settle = (): void => {
            own.off('ready', settle).off('error', settle);
            starting = undefined;
            resolve();
          };
          own.on('ready', settle).on('error', settle);
          own.connect().catch(() => undefined); // keeps retrying by itself; failures reach `onError`
        });
  const whenStarted = async (): Promise<void> => {
    if (starting !== undefined) await starting;
  };
  // node-redis queues a command (a `MULTI` even with `disableOfflineQueue`) while offline: refuse it here.
  const whenReady = async (): Promise<void> => {
    await whenStarted();
    if (!client.isReady) throw new Error(NOT_CONNECTED);
  };
  return {
    async send(_key, args, options) {
      await whenReady();
      return client.sendCommand(args, options);
    },
    async transaction(_key, commands) {
      await whenReady();
      const multi = client.multi();
      for (const args of commands) multi.addCommand(args);
      return multi.exec();
    },
    async masters() {
      await whenReady();
      return [client];
    },
    heal() {},
    async close(timeoutMs) {
      await whenStarted();
      if (own === undefined || !own.isOpen) return;
      if (!own.isReady) {
        own.destroy(); // stops the reconnect loop; nothing is in flight on a dead connection
        return;
      }
      // `close()` waits for in-flight replies; a hung server must not hold shutdown, so unref and move on.
      await bounded(own.close(), timeoutMs, 'close').catch(() => own.unref());
    },
  };
}

/** Settles like `promise`, or rejects with `ERR_SLICE_CACHE` after `ms`; failures are wrapped the same way. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SliceFetchError('ERR_SLICE_CACHE', `Redis did not answer ${what} within ${ms} ms.`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(
          error instanceof SliceFetchError
            ? error
            : new SliceFetchError('ERR_SLICE_CACHE', `Redis ${what} failed: ${messageOf(error)}`, {
                cause: error,
              }),
        );
      },
    );
  });
}

/** The `used_memory` of an `INFO memory` reply, in bytes; 0 when it has none. */
export function usedMemoryOf(info: unknown): number {
  const match = USED_MEMORY.exec(String(info));
  return match === null ? 0 : Number(match[1]);
}

/** A set or array reply as an iterable; nothing for any other reply. */
export function asIterable(reply: unknown): Iterable<unknown> {
  // RESP2 answers SMEMBERS with an array, RESP3 with a set (an array unless the client maps it to a Set).
  return reply !== null && typeof reply === 'object' && Symbol.iterator in reply
    ? (reply as Iterable<unknown>)
    : [];
}

// ---------------------------------------------------------------------------------------------------------

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const USED_MEMORY = /^used_memory:(\d+)/m;
