/**
 * Fills an fsStorage directory with `entries` small entries for `npm run bench:disk`, fast: the first object's
 * entries are written through the store's own `set`, and every other file is then written directly with the
 * store's own encoder (`encodeHeader` + the body) — the format puts the key and `storedAt` in each header,
 * so files cannot be byte-copied, but the first object proves the clone byte-identical to what `set` writes.
 *
 * Layout: object `o` is `https://edge.example/objects/<o>.bin`, with one metadata entry (`<prefix>.meta`) and
 * `perObject - 1` slice entries (its real keys, from `core/keys.ts`), all with the same random body. Object
 * `o` is stored at `t0 + o` ms, so the scan's recency order is the fill order.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { metadataKey, sliceKeys } from '../../src/core/keys.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import { fsStorage } from '../../src/storage/fs.js';
import { blockCrcs, encodeHeader, entryPath } from '../../src/storage/fs-format.js';
import { log } from '../log.js';

/** What the fill wrote, for the child's input and the report. */
export interface Filled {
  readonly entries: number;
  readonly objects: number;
  /** Header bytes of a typical file (meta JSON included). */
  readonly headerBytes: number;
  readonly body: Buffer;
  readonly firstKey: string;
  /** Random known keys (none of the last object's). */
  readonly sample: string[];
  /** The last object: purged by the child before `ready`. */
  readonly purge: { readonly objectKey: string; readonly keys: string[] };
  readonly fillMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Writes `entries` files under `dir` and checks the first object's against the store's own writes.
 *
 * @example
 * ```ts
 * const filled = await fillStore('/tmp/store', { entries: 200_000, sliceBytes: 1024, perObject: 8, sample: 4000 });
 * ```
 */
export async function fillStore(
  dir: string,
  spec: { readonly entries: number; readonly sliceBytes: number; readonly perObject: number; sample: number },
): Promise<Filled> {
  const started = performance.now();
  const t0 = Date.now();
  const body = randomBytes(spec.sliceBytes);
  const crc = blockCrcs([body]);
  const objects = Math.ceil(spec.entries / spec.perObject);
  const entriesOf = (o: number): number =>
    o < objects - 1 ? spec.perObject : spec.entries - spec.perObject * (objects - 1);
  const entryList = (o: number): { key: string; meta: CacheEntryMeta }[] => {
    const objectKey = `https://edge.example/objects/${o}.bin`;
    const validator = 'etag:"v1"';
    const size = Math.max(1, spec.perObject - 1) * spec.sliceBytes;
    const keyOf = sliceKeys({ objectKey, validator, sliceSize: spec.sliceBytes });
    const base = { objectKey, validator, size, expiresAt: t0 + 30 * DAY_MS };
    return Array.from({ length: entriesOf(o) }, (_, i) =>
      i === 0
        ? {
            key: metadataKey(objectKey),
            meta: { ...base, kind: 'metadata', range: { start: 0, end: size - 1 } },
          }
        : {
            key: keyOf(i - 1),
            meta: {
              ...base,
              kind: 'slice',
              range: { start: (i - 1) * spec.sliceBytes, end: i * spec.sliceBytes - 1 },
            },
          },
    );
  };

  // Object 0 through the store itself (its clock pinned to t0), then the same files re-encoded: must match.
  const first = entryList(0);
  const store = fsStorage({ dir, maxBytes: Number.MAX_SAFE_INTEGER, now: () => t0 });
  await store.ready;
  for (const { key, meta } of first) await store.set(key, [body], meta);
  await store.close();
  let headerBytes = 0;
  for (const { key, meta } of first) {
    const header = encodeHeader(key, meta, body.length, t0, crc);
    headerBytes = header.length;
    if (!readFileSync(entryPath(dir, key)).equals(Buffer.concat([header, body])))
      throw new Error(`bench:disk: the cloned file of ${key} differs from the one fsStorage wrote`);
  }

  const keep = spec.sample / spec.entries;
  const sample: string[] = [];
  const made = new Set<string>();
  let firstKey = '';
  let written = first.length;
  let nextLog = 0.1;
  for (let o = 1; o < objects; o++) {
    for (const { key, meta } of entryList(o)) {
      const path = entryPath(dir, key);
      const leaf = dirname(path);
      if (!made.has(leaf)) {
        mkdirSync(leaf, { recursive: true });
        made.add(leaf);
      }
      const fd = openSync(path, 'w');
      try {
        writeSync(fd, encodeHeader(key, meta, body.length, t0 + o, crc));
        writeSync(fd, body);
      } finally {
        closeSync(fd);
      }
      written++;
      if (o < objects - 1 && Math.random() < keep) sample.push(key);
      if (o === objects >> 1 && meta.kind === 'slice' && firstKey === '') firstKey = key;
    }
    if (written / spec.entries >= nextLog) {
      log(`bench:disk: ${written} / ${spec.entries} files (${Math.round(performance.now() - started)} ms)`);
      nextLog += 0.1;
    }
  }
  const last = objects - 1;
  const lastList = last === 0 ? first : entryList(last);
  return {
    entries: written,
    objects,
    headerBytes,
    body,
    firstKey: firstKey === '' ? (first[0]?.key ?? '') : firstKey,
    sample,
    purge: { objectKey: lastList[0]?.meta.objectKey ?? '', keys: lastList.map((e) => e.key) },
    fillMs: performance.now() - started,
  };
}
