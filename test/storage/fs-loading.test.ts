/**
 * The disk store while its start-up scan runs (src/storage/fs-scan.ts): a store over a directory of many
 * objects answers `has`, purges, deletes, writes and evicts correctly at once and at every point of the scan,
 * never waiting for it (R7's byte budget, P27 purges). Steps are driven by the event loop (the scan yields between
 * leaves), never by sleeps; each case also holds whichever leaf the scan happens to have reached.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { objectKeyPrefix, sliceKey } from '../../src/core/keys.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import { type FsStorage, fsStorage } from '../../src/storage/fs.js';
import { FsIndex } from '../../src/storage/fs-index.js';
import { IndexLoader } from '../../src/storage/fs-scan.js';

const OBJECTS = 300;
const SLICES = 6;
const BYTES = 1000;
/** Slices of the one huge object of the sizing case. */
const HUGE_SLICES = 2000;
const objectOf = (object: number): string => `https://load.test/object-${object}`;
const keyOf = (object: number | string, index: number): string =>
  sliceKey({ objectKey: urlOf(object), validator: 'etag:"1"', sliceSize: BYTES, index });
const urlOf = (object: number | string): string => (typeof object === 'string' ? object : objectOf(object));
const metaOf = (object: number | string, index: number): CacheEntryMeta => ({
  kind: 'slice',
  objectKey: urlOf(object),
  validator: 'etag:"1"',
  range: { start: index * BYTES, end: index * BYTES + BYTES - 1 },
  size: SLICES * BYTES,
  expiresAt: Date.now() + 3_600_000,
});
const filesUnder = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((path) => /\.[0-9a-f]{32}$/.test(path));

let filled: string;
const dirs: string[] = [];

beforeAll(async () => {
  filled = mkdtempSync(join(tmpdir(), 'slice-fetch-fs-load-'));
  const store = fsStorage({ dir: filled });
  for (let object = 0; object < OBJECTS; object++) {
    for (let index = 0; index < SLICES; index++) {
      await store.set(keyOf(object, index), [Buffer.alloc(BYTES, object)], metaOf(object, index));
    }
  }
  await store.close();
  return () => rmSync(filled, { recursive: true, force: true });
});

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A copy of the filled directory made of hard links (quick), so each case starts from the same files: the
 * store never writes into a file in place (it renames new files over old names), so the original stays.
 */
function copyOfFilled(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-fs-load-'));
  dirs.push(dir);
  rmSync(dir, { recursive: true });
  execFileSync('cp', ['-al', filled, dir]);
  return dir;
}

/** Lets the scan run until it has indexed at least `share` of the entries (or finished). */
async function scanUntil(store: FsStorage, share: number): Promise<void> {
  let done = false;
  void store.ready.then(() => {
    done = true;
  });
  while (!done && (await store.stats()).entries < share * OBJECTS * SLICES) await turn();
}

describe('fsStorage while its index loads', () => {
  it('knows a file on disk before the scan reaches it, reading only that file', async () => {
    const store = fsStorage({ dir: copyOfFilled() });
    // Right after construction the scan has not read a single directory yet.
    expect((await store.stats()).entries).toBe(0);
    expect(await store.has?.(keyOf(OBJECTS - 1, 3))).toBe(true);
    expect(await store.has?.(keyOf(OBJECTS - 1, SLICES))).toBe(false);
    expect((await store.stats()).entries).toBe(1); // not the object's other files, nor its directory's
    await store.ready;
    expect(await store.stats()).toEqual({ entries: OBJECTS * SLICES, bytes: OBJECTS * SLICES * BYTES });
    await store.close();
  });

  for (const share of [0, 0.3, 0.7]) {
    it(`purges and deletes for good with ${share * 100} % of the index loaded`, async () => {
      const dir = copyOfFilled();
      const store = fsStorage({ dir });
      await scanUntil(store, share);
      const purged = [0, 17, 150, OBJECTS - 1];
      for (const object of purged) expect(await store.purgeObject(objectOf(object))).toBe(SLICES);
      expect(await store.delete(keyOf(42, 2))).toBe(true);
      await store.ready;
      expect(await store.stats()).toEqual({
        entries: (OBJECTS - purged.length) * SLICES - 1,
        bytes: ((OBJECTS - purged.length) * SLICES - 1) * BYTES,
      });
      for (const object of purged) {
        for (let index = 0; index < SLICES; index++) {
          expect(await store.has?.(keyOf(object, index))).toBe(false);
          expect(await store.get(keyOf(object, index))).toBeUndefined();
        }
      }
      expect(await store.get(keyOf(42, 2))).toBeUndefined();
      expect(filesUnder(dir)).toHaveLength((OBJECTS - purged.length) * SLICES - 1);
      await store.close();
    });

    it(`writes and keeps the budget with ${share * 100} % of the index loaded`, async () => {
      const dir = copyOfFilled();
      const maxBytes = 200 * BYTES;
      const store = fsStorage({ dir, maxBytes });
      await scanUntil(store, share);
      const fresh = { object: OBJECTS + 1, index: 0 };
      await store.set(keyOf(fresh.object, fresh.index), [Buffer.alloc(BYTES, 7)], metaOf(fresh.object, 0));
      // Eviction works with what is known so far, never over what it knows…
      expect((await store.stats()).bytes).toBeLessThanOrEqual(maxBytes);
      await store.ready;
      // …and catches up as the scan finds the rest: within the budget, the newest write kept, the disk
      // holding exactly what the index holds.
      const { bytes, entries } = await store.stats();
      expect(bytes).toBeLessThanOrEqual(maxBytes);
      expect(entries).toBe(filesUnder(dir).length);
      expect(await store.get(keyOf(fresh.object, fresh.index))).toEqual([Buffer.alloc(BYTES, 7)]);
      await store.close();
    });
  }

  it('never adopts what was removed or purged while it ran, even with the files still on disk', async () => {
    // The files stay (as when their unlinks are still in flight): the scan must not put them back.
    const index = new FsIndex();
    const loader = new IndexLoader(copyOfFilled(), index, {
      now: Date.now,
      logger: undefined,
      closed: () => false,
      overBudget: () => {},
      maxBytes: Number.MAX_SAFE_INTEGER,
    });
    loader.removing(keyOf(3, 1));
    loader.purging(objectKeyPrefix(objectOf(9)));
    expect(await loader.loadAll()).toBe(true);
    expect(index.size).toBe(OBJECTS * SLICES - 1 - SLICES);
    expect(index.get(keyOf(3, 1))).toBeUndefined();
    expect(index.keysOf(objectKeyPrefix(objectOf(9)))).toEqual([]);
    expect(index.get(keyOf(3, 0))).toBeDefined();
  });

  it('sizes the index from what it finds without being thrown by one huge object', async () => {
    // One object of many slices shares one directory; placed in the directory the scan lists first, it once made
    // the scan reserve room for that directory's count times 256 directories.
    const dir = copyOfFilled();
    // The scan lists with readdir too, so in this order.
    const firstListed = readdirSync(dir).find((name) => /^[0-9a-f]{2}$/.test(name)) as string;
    let huge = '';
    for (let n = 0; huge === ''; n++) {
      if (objectKeyPrefix(`https://load.test/huge-${n}`).startsWith(firstListed))
        huge = `https://load.test/huge-${n}`;
    }
    const store = fsStorage({ dir });
    await store.ready;
    const body = [Buffer.alloc(10, 1)];
    for (let index = 0; index < HUGE_SLICES; index++)
      await store.set(keyOf(huge, index), body, metaOf(huge, index));
    await store.close();
    const index = new FsIndex();
    const loader = new IndexLoader(dir, index, {
      now: Date.now,
      logger: undefined,
      closed: () => false,
      overBudget: () => {},
      maxBytes: Number.MAX_SAFE_INTEGER,
    });
    expect(await loader.loadAll()).toBe(true);
    expect(index.size).toBe(OBJECTS * SLICES + HUGE_SLICES);
    expect(index.memory / index.size).toBeLessThan(400); // ~80 B at scale; a few times that for a small index
  });

  it('stops its scan at close() and builds nothing after it', async () => {
    const store = fsStorage({ dir: copyOfFilled() });
    await scanUntil(store, 0.2);
    await store.close();
    await expect(store.ready).resolves.toBeUndefined();
    expect(() => store.stats()).toThrow(expect.objectContaining({ code: 'ERR_SLICE_CACHE' }));
  });
});
