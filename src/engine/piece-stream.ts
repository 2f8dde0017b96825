/**
 * The body of a sliced response as a Node `Readable` in object mode whose items are pieces — the chunks of
 * one slice, trimmed — so a writer can cork a whole slice into one `writev` (design.md "Write one slice per writev"). The
 * high-water mark is one piece: the engine's window, not the stream's buffer, decides how far it reads ahead.
 * A failure after the first byte destroys the stream with the error, so a consumer can never mistake a
 * truncated body for a complete one.
 *
 * @module
 */
import { Readable } from 'node:stream';
import type { Chunks } from '../core/chunks.js';

/** Where a {@link PieceStream} pulls its pieces from. */
export interface PieceSource {
  /** The next piece, or `null` at the end. */
  next(): Promise<Chunks | null>;
  /** Stops the source (the consumer went away or the stream failed). */
  cancel(error: Error | null): void;
}

/** An object-mode `Readable` of {@link Chunks}. */
export class PieceStream extends Readable {
  readonly #source: PieceSource;
  #ended = false;
  #delivered = 0;

  constructor(source: PieceSource) {
    super({ objectMode: true, highWaterMark: 1 });
    this.#source = source;
  }

  /**
   * Bytes handed to the stream so far. Telemetry reads this instead of listening for `'data'`: a `'data'`
   * listener switches the stream to flowing mode, and pieces would flow past a consumer that attaches later.
   */
  get bytesDelivered(): number {
    return this.#delivered;
  }

  override _read(): void {
    this.#source.next().then(
      (piece) => {
        if (piece === null) this.#ended = true;
        else for (const chunk of piece) this.#delivered += chunk.byteLength;
        this.push(piece);
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#ended) this.#source.cancel(error);
    callback(error);
  }
}

/** A source over a fixed list of pieces (headers of a multipart body, a small in-memory answer). */
export function staticSource(pieces: readonly Chunks[]): PieceSource {
  let at = 0;
  return {
    next: () => Promise.resolve(at < pieces.length ? (pieces[at++] as Chunks) : null),
    cancel: () => {},
  };
}

/** Concatenates sources made lazily, one after the other (multipart: head, range, head, range…, tail). */
export function sequenceSource(makers: readonly (() => PieceSource)[]): PieceSource {
  let at = 0;
  let current: PieceSource | undefined;
  let cancelled = false;
  const next = async (): Promise<Chunks | null> => {
    while (!cancelled) {
      if (current === undefined) {
        const make = makers[at++];
        if (make === undefined) return null;
        current = make();
      }
      const piece = await current.next();
      if (piece !== null) return piece;
      current = undefined;
    }
    return null;
  };
  return {
    next,
    cancel(error) {
      cancelled = true;
      current?.cancel(error);
    },
  };
}
