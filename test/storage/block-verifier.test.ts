import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { sliceKey } from '../../src/core/keys.js';
import { ReadBufferPool } from '../../src/engine/read-buffer-pool.js';
import type { CacheEntryMeta } from '../../src/ports.js';
import { BlockVerifier } from '../../src/storage/block-verifier.js';
import { fsStorage } from '../../src/storage/fs.js';

const verifiers: BlockVerifier[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(verifiers.splice(0).map((v) => v.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function verifier(): BlockVerifier {
  const v = new BlockVerifier();
  verifiers.push(v);
  return v;
}

/** `bytes` of a pattern in shared memory (as the engine's pool lends it) or in memory of its own. */
function bodyOf(bytes: number, seed: number, shared: boolean): Uint8Array {
  const body = shared ? new Uint8Array(new SharedArrayBuffer(bytes + 16), 8, bytes) : new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) body[i] = (i * 131 + seed) & 255;
  return body;
}

function crcsOf(body: Uint8Array, blockSize: number): number[] {
  const out: number[] = [];
  for (let at = 0; at < body.length; at += blockSize)
    out.push(crc32(body.subarray(at, Math.min(at + blockSize, body.length))));
  return out;
}

describe('BlockVerifier', () => {
  it('finds the first flipped block, or none, in shared and own memory alike (worker and main thread)', async () => {
    const v = verifier();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600_000 }),
        fc.constantFrom(4096, 65_536, 100_000),
        fc.boolean(),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 }))),
        fc.nat({ max: 3 }),
        async (bytes, blockSize, shared, flip, skipBlocks) => {
          const whole = bodyOf(bytes, bytes % 251, shared);
          const crc = crcsOf(whole, blockSize);
          // Check from block `first` on, as a sub-range read does.
          const first = Math.min(skipBlocks, crc.length - 1);
          const body = whole.subarray(first * blockSize);
          let expected = -1;
          if (flip !== null) {
            const at = flip[0] % body.length;
            body[at] = (body[at] as number) ^ (1 << flip[1]);
            expected = first + Math.floor(at / blockSize);
          }
          expect(await v.badBlock({ blockSize, crc }, body, first)).toBe(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answers many checks in flight at once, each with its own answer', async () => {
    const v = verifier();
    const blockSize = 65_536;
    const jobs = Array.from({ length: 40 }, (_, i) => {
      const body = bodyOf(1 << 20, i, true);
      const crc = crcsOf(body, blockSize);
      const bad = i % 3 === 0 ? -1 : (i * 7) % 16;
      if (bad !== -1) body[bad * blockSize + 5] = (body[bad * blockSize + 5] as number) ^ 0x80;
      return { body, crc, bad };
    });
    const answers = await Promise.all(jobs.map((j) => v.badBlock({ blockSize, crc: j.crc }, j.body, 0)));
    expect(answers).toEqual(jobs.map((j) => j.bad));
  });

  it('completes checks still pending when closed, and checks on the main thread after that', async () => {
    const v = verifier();
    const blockSize = 65_536;
    const body = bodyOf(1 << 20, 9, true);
    const crc = crcsOf(body, blockSize);
    body[3 * blockSize] = (body[3 * blockSize] as number) ^ 1;
    const pending = [v.badBlock({ blockSize, crc }, body, 0), v.badBlock({ blockSize, crc }, body, 0)];
    await v.close();
    expect(await Promise.all(pending)).toEqual([3, 3]);
    expect(v.badBlock({ blockSize, crc }, body, 0)).toBe(3); // synchronous now: no worker
    await v.close(); // idempotent
  });
});

describe('fsStorage hits read into the engine pool (shared memory): block checks in a worker', () => {
  const OBJECT = 'https://fs.test/pool.bin';
  const SLICE = 1 << 20;
  const key = (index: number): string =>
    sliceKey({ objectKey: OBJECT, validator: 'etag:"1"', sliceSize: SLICE, index });
  const meta = (index: number, length: number): CacheEntryMeta => ({
    kind: 'slice',
    objectKey: OBJECT,
    validator: 'etag:"1"',
    range: { start: index * SLICE, end: index * SLICE + length - 1 },
    size: 64 * SLICE,
    expiresAt: Date.now() + 3_600_000,
  });

  it('serves intact slices byte for byte and never a slice with a flipped byte, many reads at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slice-fetch-bv-'));
    dirs.push(dir);
    const store = fsStorage({ dir, maxBytes: 256 * SLICE });
    await store.ready;
    const pool = new ReadBufferPool(SLICE + 64 * 1024, 16);
    const bodies = Array.from({ length: 24 }, (_, i) =>
      Buffer.from(bodyOf(SLICE - (i % 2) * 1000, i, false)),
    );
    await Promise.all(bodies.map((b, i) => store.set(key(i), [b], meta(i, b.length))));
    const corrupt = new Set([1, 5, 6, 13, 23]);
    for (const i of corrupt) {
      const path = join(dir, key(i).slice(0, 2), key(i).slice(2, 4), key(i));
      const file = readFileSync(path);
      const at = file.length - 1 - ((i * 77_777) % (SLICE - 2000));
      file[at] = (file[at] as number) ^ 0x10;
      writeFileSync(path, file);
    }
    const reads = await Promise.all(
      bodies.map((_, i) =>
        store.get(key(i), i % 4 === 3 ? { start: 100_000, end: 900_000 } : undefined, {
          allocate: pool.allocate,
        }),
      ),
    );
    reads.forEach((read, i) => {
      if (corrupt.has(i) && (i % 4 !== 3 || read === undefined)) expect(read).toBeUndefined();
      else {
        const want = i % 4 === 3 ? bodies[i]?.subarray(100_000, 900_001) : bodies[i];
        expect(read?.[0]?.buffer).toBeInstanceOf(SharedArrayBuffer);
        expect(Buffer.concat(read ?? []).equals(want as Buffer)).toBe(true);
      }
    });
    await store.close();
  });
});
