/**
 * What `npm run bench:disk` (bench/disk-scale.ts) hands its measuring child and what the child answers: the
 * input is a JSON file, the result one JSON line on stdout.
 *
 * @module
 */

/** The child's input: where the store is and which keys are known to be in it. */
export interface ChildInput {
  /** The fsStorage directory, filled by bench/disk-scale/fill.ts. */
  readonly dir: string;
  /** Entries on disk. */
  readonly entries: number;
  /** Body bytes of every entry. */
  readonly sliceBytes: number;
  /** The first 16 body bytes of every entry, hex (every entry has the same body). */
  readonly bodyHead: string;
  /** The key asked for right after construction (time to first hit). */
  readonly firstKey: string;
  /** Known keys for the latency samples, drawn at random over the whole store (none of `purge`'s). */
  readonly sample: readonly string[];
  /** The object `purgeObject` is called on before `ready`, and the truth: how many files it has. */
  readonly purge: { readonly objectKey: string; readonly keys: readonly string[] };
  /** Timed `get`s after `ready` (after as many untimed warm-up ones). */
  readonly latencySamples: number;
  /** When set, V8 heap snapshots before opening and after `ready` are written to this directory. */
  readonly snapshotDir?: string;
}

/** Latencies in milliseconds. */
export interface Latency {
  readonly count: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** A call made before `ready`: what it returned, when it settled (ms after construction; -1: not timed), and the truth. */
export interface EarlyCall<T> {
  readonly returned: T;
  readonly truth: T;
  readonly settledMs: number;
}

/** What the child measured. */
export interface ChildResult {
  readonly constructMs: number;
  /** Construction → first `get` of `firstKey` that returned the right bytes. */
  readonly firstHitMs: number;
  /** Construction → `ready` (the full index scan). */
  readonly readyMs: number;
  /** `get`s of random known keys issued one after another while the scan ran. */
  readonly duringScan: Latency & { readonly misses: number };
  /** Event-loop delay from construction to 50 ms after `ready` (the scan's synchronous slices), ms. */
  readonly loopDelay: { readonly p99Ms: number; readonly maxMs: number };
  readonly afterReady: Latency & { readonly misses: number };
  /** After a forced GC, before construction and after `ready`. */
  readonly heapBefore: number;
  readonly heapAfter: number;
  /** Highest `used_heap_size` seen every 20 ms while the scan ran. */
  readonly heapPeak: number;
  /** V8's `heap_size_limit` in the child (Node's default, no `--max-old-space-size`). */
  readonly heapLimit: number;
  /** `process.memoryUsage().arrayBuffers` after a forced GC, before construction and after `ready`: memory
   * off the garbage-collected heap (the index's typed arrays). */
  readonly offHeapBefore: number;
  readonly offHeapAfter: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  /** VmHWM: the peak RSS of the child. */
  readonly rssPeak: number;
  /** `has(firstKey)` right after construction, before the scan has read any directory. */
  readonly hasEarly: EarlyCall<boolean>;
  readonly statsEarly: EarlyCall<{ readonly entries: number; readonly bytes: number }>;
  /** `set` of a new key right after construction: `written` once it settles (see `settledMs`). */
  readonly setEarly: EarlyCall<string>;
  readonly purgeEarly: EarlyCall<number>;
  /** After the purge: `stats()` and whether every purged key is now a miss. */
  readonly statsAfterPurge: EarlyCall<{ readonly entries: number; readonly bytes: number }>;
  readonly purgedKeysMissing: boolean;
}
