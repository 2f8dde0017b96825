/**
 * Plain-HTTP sockets that read into memory of their own, reused from one read to the next, for responses whose
 * handler copies every body byte out as it arrives ({@link dispatchInto}).
 *
 * Why: a Node socket reads into a fresh 64 KiB buffer per read. A 1 GiB download is 16 000 of them, all garbage
 * within a millisecond, yet V8 frees them only when a collection runs — and the 64 MB of external memory that
 * triggers one is exactly the resident slack these buffers cost (BENCHMARKS.md, case 3). With `net`'s `onread`
 * option a socket reads into memory we give it instead, and may keep giving the same memory.
 *
 * When the same memory may be read into again: undici parses a read synchronously when told the socket is
 * readable, and keeps views of it afterwards only while header fields are incomplete (a head, or a chunked
 * body's trailers) or while bytes stay queued in the socket. So each read is delivered synchronously, the
 * handler notes what it saw ({@link noteDelivery}), and the memory is reused only when nothing stayed queued and
 * the last thing seen was a complete head, body bytes short of the last one, or the end of a response.
 * Otherwise the socket gets fresh memory and the old one is left to the collector with whatever views still
 * hold it — the cost of a plain socket, never a risk. Each socket has its own memory: one socket's views can
 * never be overwritten by another's reads. (undici's `diagnostics_channel` events are global: a subscriber that
 * keeps the header or body buffers it is handed past the event would see them change. Body bytes the engine
 * reads are never affected.)
 *
 * @module
 */
import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/** Bytes of each socket's read memory: what Node itself reads at a time. */
const READ_BYTES = 64 * 1024;

/**
 * What a response handler saw during one delivery: a complete final head, body bytes, the end, a 1xx, or the
 * last body byte (`last-body`): trailers of a chunked body may follow in this read, and undici keeps views of
 * their fields until they are complete — unsafe, like a 1xx, unless the end comes in the same read.
 */
export type DeliveryEvent = 'head' | 'body' | 'end' | 'informational' | 'last-body';

/** The delivery in progress (reads are delivered one at a time, synchronously). */
let delivering: { last: DeliveryEvent | undefined } | undefined;
/** The memory the socket that just read should read into next; taken by the buffer callback right after. */
let nextMemory: Uint8Array | undefined;

/**
 * Tells the socket whose bytes are being delivered what the handler saw. Call it from every handler callback of
 * a request dispatched on a {@link reusedReadsConnector} socket; outside a delivery it does nothing.
 *
 * @example
 * ```ts
 * onResponseData(controller, chunk) { noteDelivery('body'); copy(chunk); }
 * ```
 */
export function noteDelivery(event: DeliveryEvent): void {
  if (delivering !== undefined) delivering.last = event;
}

/** An undici `connect` function (see `buildConnector`). */
export type Connector = buildConnector.connector;

/**
 * An undici connector whose plain-HTTP sockets read into reused memory; `https:` connects as undici does.
 * Use it only for a dispatcher whose every handler copies body bytes synchronously, never pauses, and calls
 * {@link noteDelivery}.
 *
 * @example
 * ```ts
 * const agent = new Agent({ connect: reusedReadsConnector({ timeout: 10_000 }) });
 * ```
 */
export function reusedReadsConnector(options: buildConnector.BuildOptions = {}): Connector {
  const onread = { buffer: takeMemory, callback: onRead };
  const plain = buildConnector({ ...options, onread });
  const secure = buildConnector(options);
  return (connectOptions, callback) =>
    connectOptions.protocol === 'http:' ? plain(connectOptions, callback) : secure(connectOptions, callback);
}

// ---------------------------------------------------------------------------------------------------------

/** `onread.buffer`: called when the socket's handle is made, and after every {@link onRead}. */
function takeMemory(): Uint8Array {
  const memory = nextMemory ?? Buffer.allocUnsafeSlow(READ_BYTES);
  nextMemory = undefined;
  return memory;
}

/** `onread.callback`, with the socket as `this`: delivers the bytes now and picks the next read's memory. */
function onRead(this: Socket, nread: number, memory: Uint8Array): boolean {
  const delivery: { last: DeliveryEvent | undefined } = { last: undefined };
  const outer = delivering;
  delivering = delivery;
  try {
    this.push(Buffer.from(memory.buffer, memory.byteOffset, nread));
    // undici reads on 'readable'; emitted here so that the bytes are parsed before this read's memory is reused.
    if (this.readableLength > 0) this.emit('readable');
  } finally {
    delivering = outer;
  }
  const idle = this.readableLength === 0;
  const last = delivery.last;
  const safe = idle && !this.destroyed && (last === 'head' || last === 'body' || last === 'end');
  nextMemory = safe ? memory : undefined;
  return this.readableLength < this.readableHighWaterMark;
}
