import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { metadataKey, sliceKey } from '../../src/core/keys.js';
import type { CacheEntryMeta, Logger } from '../../src/ports.js';
import { fsStorage } from '../../src/storage/fs.js';
import { runCacheStorageConformance } from '../../src/testing/conformance.js';

runCacheStorageConformance('fsStorage', async ({ maxBytes, now }) => {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-fs-'));
  const store = fsStorage({ dir, maxBytes, now });
  await store.ready;
  return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

const OBJECT = 'https://fs.test/video.mp4';
const SLICE = 1 << 20;
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-fs-'));
  dirs.push(dir);
  return dir;
}

function key(index: number, objectKey = OBJECT): string {
  return sliceKey({ objectKey, validator: 'etag:"1"', sliceSize: SLICE, index });
}

function meta(index: number, length: number, objectKey = OBJECT): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey,
    validator: 'etag:"1"',
    range: { start: index * SLICE, end: index * SLICE + length - 1 },
    size: 100 * SLICE,
    expiresAt: Date.now() + 3_600_000,
  };
}

function fileOf(dir: string, k: string): string {
  return join(dir, k.slice(0, 2), k.slice(2, 4), k);
}

function pattern(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) & 255));
}

function collectingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const noop = (): void => {};
  return {
    debug: noop,
    info: noop,
    error: noop,
    warn: (_o, message) => warnings.push(String(message)),
    warnings,
  };
}

describe('fsStorage', () => {
  it('lays files out as dir/<2 hex>/<2 hex>/<key> with a magic-tagged header before the body', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    await store.set(key(0), [pattern(100, 1)], meta(0, 100));
    const file = readFileSync(fileOf(dir, key(0)));
    expect(file.subarray(0, 4).toString('latin1')).toBe('SFCE');
    expect(file.subarray(file.length - 100).equals(pattern(100, 1))).toBe(true);
    await store.close();
  });

  it('treats a flipped body byte as a miss, removes the file and never serves it', async () => {
    const dir = tempDir();
    const logger = collectingLogger();
    const store = fsStorage({ dir, logger });
    const body = pattern(200_000, 3);
    await store.set(key(0), [body], meta(0, body.length));
    await store.set(key(1), [body], meta(1, body.length));
    for (const [k, range] of [
      [key(0), undefined],
      [key(1), { start: 150_000, end: 150_010 }], // a sub-range read verifies the blocks it touches
    ] as const) {
      const file = readFileSync(fileOf(dir, k));
      const at = file.length - 50_000;
      file[at] = (file[at] as number) ^ 0x01;
      writeFileSync(fileOf(dir, k), file);
      expect(await store.get(k, range)).toBeUndefined();
      expect(readdirSync(join(fileOf(dir, k), '..'))).not.toContain(k);
    }
    expect(logger.warnings).toHaveLength(2);
    expect(await store.stats()).toMatchObject({ bytes: 0, entries: 0 });
    await store.close();
  });

  it('treats a corrupt header or a truncated file as a miss and removes it', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    await store.set(key(0), [pattern(1000, 1)], meta(0, 1000));
    await store.set(key(1), [pattern(1000, 2)], meta(1, 1000));
    const header = readFileSync(fileOf(dir, key(0)));
    header[30] = (header[30] as number) ^ 0x20; // inside the meta JSON
    writeFileSync(fileOf(dir, key(0)), header);
    writeFileSync(fileOf(dir, key(1)), readFileSync(fileOf(dir, key(1))).subarray(0, 500));
    expect(await store.get(key(0))).toBeUndefined();
    expect(await store.get(key(1))).toBeUndefined();
    expect(readdirSync(join(fileOf(dir, key(0)), '..'))).toEqual([]);
    await store.close();
  });

  it('serves a sub-range of a slice without reading a corrupt block elsewhere in it', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    const body = pattern(300_000, 5);
    await store.set(key(0), [body], meta(0, body.length));
    const file = readFileSync(fileOf(dir, key(0)));
    file[file.length - 1] = (file[file.length - 1] as number) ^ 0xff; // last block only
    writeFileSync(fileOf(dir, key(0)), file);
    const head = await store.get(key(0), { start: 10, end: 70_000 });
    expect(Buffer.concat(head ?? []).equals(body.subarray(10, 70_001))).toBe(true);
    expect(await store.get(key(0))).toBeUndefined();
    await store.close();
  });

  it('reads into memory from options.allocate (whole entries and sub-ranges), fresh memory if it is the wrong size', async () => {
    const store = fsStorage({ dir: tempDir() });
    await store.ready;
    const value = pattern(200_000, 3);
    await store.set(key(0), [value], meta(0, value.length));
    const lent: Uint8Array[] = [];
    const allocate = (bytes: number): Uint8Array => {
      const memory = new Uint8Array(new ArrayBuffer(bytes + 10), 5, bytes);
      lent.push(memory);
      return memory;
    };
    const whole = await store.get(key(0), undefined, { allocate });
    expect(Buffer.concat(whole ?? []).equals(value)).toBe(true);
    expect(whole?.[0]?.buffer).toBe(lent[0]?.buffer);
    const part = await store.get(key(0), { start: 70_000, end: 140_000 }, { allocate });
    expect(Buffer.concat(part ?? []).equals(value.subarray(70_000, 140_001))).toBe(true);
    expect(part?.[0]?.buffer).toBe(lent[1]?.buffer);
    const wrong = await store.get(key(0), undefined, { allocate: () => new Uint8Array(3) });
    expect(Buffer.concat(wrong ?? []).equals(value)).toBe(true);
  });

  it('rejects keys that are not core-made hashes, so no path can escape the directory (R15)', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    for (const bad of ['../../etc/passwd', `${'a'.repeat(32)}.${'b'.repeat(31)}/`, 'A'.repeat(65), '']) {
      await expect(store.get(bad)).rejects.toMatchObject({ code: 'ERR_SLICE_CACHE' });
      await expect(store.set(bad, [pattern(1, 1)], meta(0, 1))).rejects.toMatchObject({
        code: 'ERR_SLICE_CACHE',
      });
      await expect(store.delete(bad)).rejects.toMatchObject({ code: 'ERR_SLICE_CACHE' });
    }
    expect(readdirSync(dir)).toEqual([]);
    await store.close();
  });

  it('throws from every method when the directory is unusable (a file in its place: ENOTDIR)', async () => {
    // Tests run as root, for whom chmod 0o555 stops nothing; a file where the directory should be fails for
    // everyone, the way a read-only or vanished mount does.
    const parent = tempDir();
    const dir = join(parent, 'not-a-dir');
    writeFileSync(dir, 'x');
    const store = fsStorage({ dir });
    await expect(store.ready).rejects.toMatchObject({ code: 'ERR_SLICE_CACHE' });
    const failure = { code: 'ERR_SLICE_CACHE', cause: expect.objectContaining({ code: 'ENOTDIR' }) };
    await expect(store.set(key(0), [pattern(10, 1)], meta(0, 10))).rejects.toMatchObject(failure);
    await expect(store.get(key(0))).rejects.toMatchObject(failure);
    await expect(store.delete(key(0))).rejects.toMatchObject(failure);
    await store.close();
  });

  it('throws ENOSPC on a full disk, leaves no temp file and keeps the entries already written', async () => {
    // A real 1 MiB tmpfs. Needs root for `mount`: this sandbox and CI (.ci/run) run as root.
    const dir = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    try {
      const store = fsStorage({ dir, maxBytes: 64 * 1024 * 1024 });
      const written: number[] = [];
      let failure: unknown;
      for (let index = 0; index < 16 && failure === undefined; index++) {
        try {
          await store.set(key(index), [pattern(200_000, index)], meta(index, 200_000));
          written.push(index);
        } catch (error) {
          failure = error;
        }
      }
      expect(failure).toMatchObject({
        code: 'ERR_SLICE_CACHE',
        cause: expect.objectContaining({ code: 'ENOSPC' }),
      });
      expect(written.length).toBeGreaterThan(0);
      const leaf = join(fileOf(dir, key(0)), '..');
      expect(readdirSync(leaf).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect(await store.stats()).toMatchObject({ entries: written.length, bytes: written.length * 200_000 });
      for (const index of written) {
        expect(Buffer.concat((await store.get(key(index))) ?? []).equals(pattern(200_000, index))).toBe(true);
      }
      await store.close();
    } finally {
      execFileSync('umount', [dir]);
    }
  });

  it('rebuilds its index after a restart: entries, bytes, LRU order and per-object purge', async () => {
    const dir = tempDir();
    let time = Date.now();
    const first = fsStorage({ dir, maxBytes: 3000, now: () => time++ });
    for (let index = 0; index < 3; index++)
      await first.set(key(index), [pattern(1000, index)], meta(index, 1000));
    await first.set(metadataKey(OBJECT), [Buffer.from('{}')], { ...meta(0, 2), kind: 'metadata' });
    await first.set(key(0, 'https://fs.test/other'), [pattern(10, 9)], meta(0, 10, 'https://fs.test/other'));
    await first.close();

    const second = fsStorage({ dir, maxBytes: 3000, now: () => time++ });
    await second.ready;
    expect(await second.stats()).toEqual({ bytes: 2012, entries: 4 }); // key(0) was evicted by the first
    await second.set(key(3), [pattern(1000, 3)], meta(3, 1000)); // evicts key(1), the oldest written
    expect(await second.get(key(1))).toBeUndefined();
    expect(Buffer.concat((await second.get(key(2))) ?? []).equals(pattern(1000, 2))).toBe(true);
    expect(await second.purgeObject(OBJECT)).toBe(3);
    expect(await second.stats()).toEqual({ bytes: 10, entries: 1 });
    await second.close();
  });

  it('shares one directory between two stores: a hit on a file the other wrote, deletes seen by both', async () => {
    const dir = tempDir();
    const one = fsStorage({ dir });
    const two = fsStorage({ dir });
    await Promise.all([one.ready, two.ready]);
    await one.set(key(0), [pattern(500, 1)], meta(0, 500));
    expect(Buffer.concat((await two.get(key(0))) ?? []).equals(pattern(500, 1))).toBe(true);
    expect(await two.stats()).toMatchObject({ entries: 1, bytes: 500 }); // adopted on the hit
    expect(await two.delete(key(0))).toBe(true);
    expect(await one.get(key(0))).toBeUndefined();
    expect(await one.stats()).toMatchObject({ entries: 0, bytes: 0 });
    await Promise.all([one.close(), two.close()]);
  });

  it('serves only whole values while two stores on one directory race sets, gets, deletes and evictions', async () => {
    const dir = tempDir();
    const stores = [fsStorage({ dir, maxBytes: 40_000 }), fsStorage({ dir, maxBytes: 40_000 })];
    // Each value is one byte repeated, its length a function of that byte: a torn or mixed read shows.
    const value = (fill: number): Buffer => Buffer.alloc(1000 + fill * 37, fill);
    let hits = 0;
    const op = async (n: number): Promise<void> => {
      const store = stores[n % 2] as (typeof stores)[number];
      const index = n % 7;
      if (n % 5 === 0) {
        await store.delete(key(index));
      } else if (n % 3 === 0) {
        await store.set(key(index), [value(n % 200)], meta(index, 1000 + (n % 200) * 37));
      } else {
        const got = await store.get(key(index));
        if (got === undefined) return;
        const bytes = Buffer.concat(got);
        expect(bytes.equals(value(bytes[0] as number))).toBe(true);
        hits++;
      }
    };
    for (let wave = 0; wave < 20; wave++) {
      await Promise.all(Array.from({ length: 30 }, (_, i) => op(wave * 31 + i * 7)));
    }
    expect(hits).toBeGreaterThan(0);
    for (const store of stores) expect((await store.stats()).bytes).toBeLessThanOrEqual(40_000);
    expect(readdirSync(join(fileOf(dir, key(0)), '..')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    await Promise.all(stores.map((store) => store.close()));
  });

  it('deletes an expired file lazily when it is read, and at start-up', async () => {
    const dir = tempDir();
    let time = 1_900_000_000_000;
    const store = fsStorage({ dir, now: () => time });
    await store.set(key(0), [pattern(10, 1)], { ...meta(0, 10), expiresAt: time + 10 });
    await store.set(key(1), [pattern(10, 2)], { ...meta(1, 10), expiresAt: time + 10 });
    time += 11;
    expect(await store.get(key(0))).toBeUndefined();
    expect(readdirSync(join(fileOf(dir, key(0)), '..'))).toEqual([key(1)]);
    await store.close();
    const restarted = fsStorage({ dir, now: () => time });
    await restarted.ready;
    expect(readdirSync(join(fileOf(dir, key(0)), '..'))).toEqual([]);
    await restarted.close();
  });

  it('keeps entries that never expire (expiresAt Infinity) across a restart', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    await store.set(key(0), [pattern(10, 1)], { ...meta(0, 10), expiresAt: Number.POSITIVE_INFINITY });
    await store.close();
    const restarted = fsStorage({ dir });
    expect(Buffer.concat((await restarted.get(key(0))) ?? []).equals(pattern(10, 1))).toBe(true);
    await restarted.close();
  });

  it('removes temp files a crashed writer left behind, and only old ones', async () => {
    const dir = tempDir();
    const leaf = join(dir, 'ab', 'cd');
    mkdirSync(leaf, { recursive: true });
    writeFileSync(join(leaf, '.old.tmp'), 'x');
    writeFileSync(join(leaf, '.fresh.tmp'), 'x');
    execFileSync('touch', ['-d', '2 hours ago', join(leaf, '.old.tmp')]);
    const store = fsStorage({ dir });
    await store.ready;
    await store.close();
    expect(readdirSync(leaf)).toEqual(['.fresh.tmp']);
  });

  it('throws after close', async () => {
    const store = fsStorage({ dir: tempDir() });
    await store.close();
    await expect(store.get(key(0))).rejects.toMatchObject({ code: 'ERR_SLICE_CACHE' });
    await expect(store.set(key(0), [pattern(1, 1)], meta(0, 1))).rejects.toMatchObject({
      code: 'ERR_SLICE_CACHE',
    });
  });

  it('validates its options once, at creation', () => {
    expect(() => fsStorage({ dir: '' })).toThrow(expect.objectContaining({ code: 'ERR_SLICE_CONFIG' }));
    expect(() => fsStorage({ dir: tempDir(), maxBytes: 0 })).toThrow(
      'Expected `maxBytes` to be a positive integer, got `0`.',
    );
  });

  it('rebuilds the index of 20,000 files (time printed, not asserted)', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    const value = [pattern(64, 1)];
    for (let batch = 0; batch < 20_000; batch += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) => {
          const objectKey = `https://fs.test/${(batch + i) % 997}`;
          return store.set(key(batch + i, objectKey), value, meta(batch + i, 64, objectKey));
        }),
      );
    }
    await store.close();
    const started = performance.now();
    const restarted = fsStorage({ dir });
    await restarted.ready;
    const ms = performance.now() - started;
    console.log(`fsStorage rebuilt the index of 20,000 files in ${ms.toFixed(0)} ms`);
    expect(await restarted.stats()).toEqual({ bytes: 20_000 * 64, entries: 20_000 });
    await restarted.close();
  });
});

describe('fsStorage has', () => {
  it('answers from the index alone: synchronously, without touching the disk', async () => {
    const dir = tempDir();
    const store = fsStorage({ dir });
    await store.ready;
    await store.set(key(0), [pattern(100, 1)], meta(0, 100));
    expect(store.has?.(key(0))).toBe(true); // a boolean, not a promise
    expect(store.has?.(key(1))).toBe(false);
    expect(store.has?.('../../etc/passwd')).toBe(false); // not a key the index can hold; no path is built
    rmSync(fileOf(dir, key(0))); // another process evicted it: the index cannot know yet
    expect(store.has?.(key(0))).toBe(true);
    expect(await store.get(key(0))).toBeUndefined(); // the miss corrects the index
    expect(store.has?.(key(0))).toBe(false);
    await store.close();
  });

  it('knows the entries found by the start-up scan, and forgets those another process wrote only once read', async () => {
    const dir = tempDir();
    const first = fsStorage({ dir });
    await first.set(key(0), [pattern(100, 1)], meta(0, 100));
    const second = fsStorage({ dir });
    await second.ready;
    await first.set(key(1), [pattern(100, 2)], meta(1, 100));
    expect(second.has?.(key(0))).toBe(true);
    expect(second.has?.(key(1))).toBe(false); // written after the scan: unknown until a hit adopts it
    expect(await second.get(key(1))).toBeDefined();
    expect(second.has?.(key(1))).toBe(true);
    await Promise.all([first.close(), second.close()]);
  });
});
