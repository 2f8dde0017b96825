/**
 * Purge generations of the disk store (P27): two stores on one directory stand for two processes sharing it.
 * A purge through one moves the object's generation for both (and for a store opened later), removes the
 * files the other one wrote, and reaches the other one as a notice.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { objectKeyPrefix, sliceKey } from '../../src/core/keys.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import { type FsStorage, fsStorage } from '../../src/storage/fs.js';

const OBJECT = 'https://fs.test/purged.bin';
const OTHER = 'https://fs.test/kept.bin';
const SLICE = 1 << 16;
const dirs: string[] = [];
const stores: FsStorage[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-fsgen-'));
  dirs.push(dir);
  return dir;
}

async function open(dir: string): Promise<FsStorage> {
  const store = fsStorage({ dir });
  stores.push(store);
  await store.ready;
  return store;
}

function key(index: number, generation: string, objectKey = OBJECT): string {
  return sliceKey({ objectKey, validator: 'etag:"1"', sliceSize: SLICE, index, generation });
}

function meta(index: number, objectKey = OBJECT): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey,
    validator: 'etag:"1"',
    range: { start: index * SLICE, end: index * SLICE + 9 },
    size: 100 * SLICE,
    expiresAt: Date.now() + 3_600_000,
  };
}

/** Polls `condition` (no fixed sleep): resolves once it holds, fails the test after `ms`. */
async function eventually(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('fsStorage purge generations', () => {
  it("starts in generation '' (keys of earlier versions stay valid) and moves for every store on the directory", async () => {
    const dir = tempDir();
    const [one, two] = [await open(dir), await open(dir)];
    expect(await one.generation?.(OBJECT)).toBe('');
    await two.purgeObject(OBJECT);
    const moved = await one.generation?.(OBJECT);
    expect(moved).not.toBe('');
    expect(await two.generation?.(OBJECT)).toBe(moved);
    expect(await one.generation?.(OTHER)).toBe('');
    // A store opened later (a restarted process) reads the new generation.
    expect(await (await open(dir)).generation?.(OBJECT)).toBe(moved);
  });

  it('removes the files another store wrote, which its own index never listed, and counts them', async () => {
    const dir = tempDir();
    const [writer, purger] = [await open(dir), await open(dir)];
    for (let index = 0; index < 3; index++)
      await writer.set(key(index, ''), [Buffer.alloc(10, index)], meta(index));
    await writer.set(key(0, '', OTHER), [Buffer.alloc(10, 9)], meta(0, OTHER));
    expect(await purger.purgeObject(OBJECT)).toBe(3);
    for (let index = 0; index < 3; index++) expect(await writer.get(key(index, ''))).toBeUndefined();
    expect(await writer.get(key(0, '', OTHER))).toBeDefined();
    expect(await purger.purgeObject(OBJECT)).toBe(0);
  });

  it('tells the other stores on the directory of a purge, once, and not the store that made it', async () => {
    const dir = tempDir();
    const [one, two] = [await open(dir), await open(dir)];
    const heardByOne: string[] = [];
    const heardByTwo: string[] = [];
    const stopOne = one.onPurge?.((objectKey) => heardByOne.push(objectKey));
    two.onPurge?.((objectKey) => heardByTwo.push(objectKey));
    await two.purgeObject(OBJECT);
    await eventually(() => heardByOne.length > 0);
    await one.purgeObject(OTHER);
    await eventually(() => heardByTwo.length > 0);
    // The notices of each purge have been delivered: a third, marker purge reaches `one` after them.
    await two.purgeObject('https://fs.test/marker');
    await eventually(() => heardByOne.includes('https://fs.test/marker'));
    expect(heardByOne).toEqual([OBJECT, 'https://fs.test/marker']);
    expect(heardByTwo).toEqual([OTHER]);
    stopOne?.();
  });

  it('keeps one small generation file per purged object in generations/, apart from the entries', async () => {
    const dir = tempDir();
    const store = await open(dir);
    await store.purgeObject(OBJECT);
    expect(readdirSync(join(dir, 'generations'))).toEqual([objectKeyPrefix(OBJECT)]);
    // The start-up scan of a restarted store does not take it for an entry.
    const restarted = await open(dir);
    expect(await restarted.stats()).toMatchObject({ entries: 0 });
    expect(existsSync(join(dir, 'generations', objectKeyPrefix(OBJECT)))).toBe(true);
  });
});
