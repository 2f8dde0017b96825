/**
 * @module Example: your own {@link CacheStorage}. A store is six small methods; this one keeps slices in a `Map`
 * with a byte budget (least recently used out), honours `expiresAt`, and purges by object key. Check a real store
 * with the shared suite, in a vitest file:
 *
 * ```ts
 * import { runCacheStorageConformance } from 'slice-fetch/testing';
 * runCacheStorageConformance('mapStorage', ({ maxBytes, now }) => ({ store: mapStorage(maxBytes, now) }));
 * ```
 *
 *   npx tsx examples/custom-store.ts http://127.0.0.1:8080/video.mp4
 *
 * In your application, import from `slice-fetch` instead of `../src/index.js`.
 */
import { pathToFileURL } from 'node:url';
import {
  type CacheChunks,
  type CacheEntryMeta,
  type CacheStorage,
  createSliceFetcher,
} from '../src/index.js';

interface Entry {
  readonly chunks: CacheChunks;
  readonly meta: CacheEntryMeta;
  readonly bytes: number;
}

/**
 * A `Map`-backed store holding at most `maxBytes` of slices.
 *
 * @example
 * const fetcher = createSliceFetcher({ cache: mapStorage(64 * 1024 * 1024) });
 */
export function mapStorage(maxBytes = 256 * 1024 * 1024, now: () => number = Date.now): CacheStorage {
  const entries = new Map<string, Entry>(); // insertion order = recency, so the first key is the least recently used
  let held = 0;
  const remove = (key: string): boolean => {
    const entry = entries.get(key);
    if (entry === undefined) return false;
    entries.delete(key);
    held -= entry.bytes;
    return true;
  };
  return {
    inProcess: true, // `get` returns the very chunks `set` stored: the engine can skip its checksum
    maxBytes,
    get(key, range) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.meta.expiresAt <= now()) {
        remove(key);
        return undefined;
      }
      entries.delete(key); // a hit makes it the most recently used
      entries.set(key, entry);
      if (range === undefined) return entry.chunks;
      const whole = Buffer.concat(entry.chunks);
      return [whole.subarray(range.start, range.end + 1)];
    },
    has(key) {
      // Cheap and without side effects: the engine asks before a response head, to say HIT, MISS or PARTIAL.
      const entry = entries.get(key);
      return entry !== undefined && entry.meta.expiresAt > now();
    },
    set(key, value, meta) {
      remove(key);
      const bytes = value.reduce((sum, chunk) => sum + chunk.byteLength, 0);
      if (bytes > maxBytes) return; // never admit what cannot fit
      for (const oldest of entries.keys()) {
        if (held + bytes <= maxBytes) break;
        remove(oldest);
      }
      entries.set(key, { chunks: value, meta, bytes });
      held += bytes;
    },
    delete: remove,
    purgeObject(objectKey) {
      let removed = 0;
      for (const [key, entry] of entries) if (entry.meta.objectKey === objectKey && remove(key)) removed++;
      return removed;
    },
    stats: () => ({ bytes: held, entries: entries.size }),
    close() {
      entries.clear();
      held = 0;
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = process.argv[2] ?? 'http://127.0.0.1:8080/video.mp4';
  const store = mapStorage(64 * 1024 * 1024);
  const fetcher = createSliceFetcher({ cache: store, sliceSize: 1024 * 1024 });
  for (const pass of ['cold', 'warm']) {
    const res = await fetcher.fetch(url, { range: 'bytes=0-2097151' });
    const bytes = (await res.arrayBuffer()).byteLength;
    console.log(`${pass}: ${res.status}, ${bytes} bytes, store holds`, store.stats());
  }
  await fetcher.close();
}
