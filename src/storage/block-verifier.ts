/**
 * Checks the per-block CRC-32s of a disk hit off the main thread. A warm 1 GiB read from `fsStorage` spends about
 * a third of the main thread's time in `zlib.crc32` (BENCHMARKS.md, case 4's profile); a worker thread does it
 * instead when the bytes lie in shared memory (the engine's read-buffer pool lends `SharedArrayBuffer`s), so the
 * main thread writes the previous slices to their sockets meanwhile. Bytes in memory of their own are checked
 * here, as before: copying them to a worker would cost what the check costs.
 *
 * The worker is started on the first shared read, `unref`'d whenever no check is pending, and stopped by
 * {@link BlockVerifier.close}. A worker that fails or exits hands every check still pending back to the main
 * thread, so a check always completes with the same answer (never a wrong byte, never a hang).
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';

/** The blocks to check: `body` holds whole blocks from block `first` on (the last may be short). */
export interface BlockCheck {
  readonly blockSize: number;
  /** The CRC-32 of every block of the entry's body. */
  readonly crc: readonly number[];
}

/** Bodies shorter than this are checked on the main thread: a round trip to the worker costs more. */
const OFFLOAD_MIN_BYTES = 128 * 1024;

/**
 * The index of the first block of `body` whose CRC-32 differs from `check.crc`, or -1 when all match. `body`
 * holds whole blocks from block `first` on; the last block may be the body's short tail.
 *
 * @example
 * ```ts
 * badBlockOf({ blockSize: 65536, crc: header.crc }, body, 0); // -1: intact
 * ```
 */
export function badBlockOf(check: BlockCheck, body: Uint8Array, first: number): number {
  const { blockSize, crc } = check;
  for (let offset = 0, block = first; offset < body.length; offset += blockSize, block++) {
    const end = Math.min(offset + blockSize, body.length);
    if (crc32(body.subarray(offset, end)) !== crc[block]) return block;
  }
  return -1;
}

/** The worker's whole program (CommonJS, evaluated): the loop of {@link badBlockOf} over shared memory. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { crc32 } = require('node:zlib');
parentPort.on('message', (job) => {
  const body = new Uint8Array(job.memory, job.byteOffset, job.length);
  let bad = -1;
  for (let offset = 0, block = job.first; offset < job.length; offset += job.blockSize, block++) {
    const end = Math.min(offset + job.blockSize, job.length);
    if (crc32(body.subarray(offset, end)) !== job.crc[block - job.first]) { bad = block; break; }
  }
  parentPort.postMessage({ id: job.id, bad });
});
`;

interface Pending {
  readonly check: BlockCheck;
  readonly body: Uint8Array;
  readonly first: number;
  readonly resolve: (bad: number) => void;
}

/** Checks block CRC-32s, in a worker thread when the body lies in shared memory. */
export class BlockVerifier {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;

  /**
   * Resolves the index of the first bad block of `body` (whole blocks from block `first` on), or -1. Shared
   * memory of at least 128 KiB is checked by the worker; the caller must not change `body` until this settles.
   */
  badBlock(check: BlockCheck, body: Uint8Array, first: number): number | Promise<number> {
    if (this.#closed || body.length < OFFLOAD_MIN_BYTES || !(body.buffer instanceof SharedArrayBuffer))
      return badBlockOf(check, body, first);
    const worker = this.#started();
    const id = this.#nextId++;
    const last = first + Math.ceil(body.length / check.blockSize);
    return new Promise<number>((resolve) => {
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, { check, body, first, resolve });
      worker.postMessage({
        id,
        memory: body.buffer,
        byteOffset: body.byteOffset,
        length: body.length,
        blockSize: check.blockSize,
        first,
        crc: check.crc.slice(first, last),
      });
    });
  }

  /** Stops the worker; checks still pending complete on the main thread. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#checkPendingHere();
    await worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (answer: { id: number; bad: number }) => {
      const job = this.#pending.get(answer.id);
      if (job === undefined) return;
      this.#pending.delete(answer.id);
      if (this.#pending.size === 0) worker.unref();
      job.resolve(answer.bad);
    });
    const lost = (): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined; // the next shared check starts a new one
      this.#checkPendingHere();
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    this.#worker = worker;
    return worker;
  }

  /** Answers every pending check on this thread (the worker is gone or going). */
  #checkPendingHere(): void {
    const jobs = [...this.#pending.values()];
    this.#pending.clear();
    for (const job of jobs) job.resolve(badBlockOf(job.check, job.body, job.first));
  }
}
