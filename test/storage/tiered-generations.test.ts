/**
 * The tiered store in a fleet (R16, P27): its generation is the shared tier's, a purge notice from the shared
 * tier drops the object from the memory tier before the engine hears of it, and an entry another process
 * wrote into the shared tier is promoted into the memory tier once read.
 */
import { describe, expect, it } from 'vitest';
import { sliceKey } from '../../src/core/keys.js';
import type { CacheEntryMeta, CacheStorage } from '../../src/ports.js';
import { memoryStorage } from '../../src/storage/memory.js';
import { tieredStorage } from '../../src/storage/tiered.js';

const OBJECT = 'https://tiered.test/a.bin';
const OTHER = 'https://tiered.test/b.bin';

function key(index: number, objectKey = OBJECT, generation = ''): string {
  return sliceKey({ objectKey, validator: 'etag:"1"', sliceSize: 1 << 16, index, generation });
}

function meta(objectKey = OBJECT): CacheEntryMeta {
  return {
    kind: 'slice',
    objectKey,
    validator: 'etag:"1"',
    range: { start: 0, end: 9 },
    size: 100,
    expiresAt: Date.now() + 60_000,
  };
}

/** A shared tier: a memory store that can also announce purges, as Redis or a shared directory does. */
function sharedTier(): CacheStorage & { announce(objectKey: string): void; listeners: number } {
  const store = memoryStorage();
  const listeners = new Set<(objectKey: string) => void>();
  return {
    ...store,
    generation: (objectKey) => `shared-${store.generation?.(objectKey) as string}`,
    onPurge(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    announce(objectKey) {
      for (const listener of listeners) listener(objectKey);
    },
    get listeners() {
      return listeners.size;
    },
  };
}

describe('tieredStorage generations and notices', () => {
  it('takes the generation from the lowest tier, the shared one, or keeps none when it keeps none', async () => {
    const shared = sharedTier();
    const tiered = tieredStorage([memoryStorage(), shared]);
    expect(await tiered.generation?.(OBJECT)).toBe('shared-');
    await shared.purgeObject(OBJECT);
    expect(await tiered.generation?.(OBJECT)).toMatch(/^shared-[0-9a-f]{16}$/);
    // Without a tier that keeps generations, the tiered store keeps none either.
    const plain = (): CacheStorage => ({ ...memoryStorage(), generation: undefined });
    expect(tieredStorage([plain(), plain()]).generation).toBeUndefined();
    expect(tieredStorage([memoryStorage(), plain()]).generation).toBeUndefined();
  });

  it('drops a purged object from the memory tier on a notice, then tells its own listeners', async () => {
    const front = memoryStorage();
    const shared = sharedTier();
    const tiered = tieredStorage([front, shared]);
    await tiered.set(key(0), [Buffer.alloc(10, 1)], meta());
    await tiered.set(key(0, OTHER), [Buffer.alloc(10, 2)], meta(OTHER));
    const heard: string[] = [];
    const stop = tiered.onPurge?.((objectKey) => {
      // By the time the engine hears of it, the memory tier no longer holds the object.
      expect(front.get(key(0))).toBeUndefined();
      heard.push(objectKey);
    });
    expect(shared.listeners).toBe(1);
    shared.announce(OBJECT);
    await expect.poll(() => heard).toEqual([OBJECT]);
    expect(front.get(key(0, OTHER))).toBeDefined();
    expect(await shared.get(key(0))).toBeDefined(); // the shared tier is the announcer's to purge
    stop?.();
    expect(shared.listeners).toBe(0);
  });

  it('promotes into the memory tier an entry another process wrote, once the object is known here', async () => {
    const shared = sharedTier();
    const writer = tieredStorage([memoryStorage(), shared]); // another process
    const front = memoryStorage();
    const reader = tieredStorage([front, shared]);
    const generation = (await reader.generation?.(OBJECT)) as string;
    await writer.set(key(0, OBJECT, generation), [Buffer.alloc(10, 7)], meta());
    expect(front.get(key(0, OBJECT, generation))).toBeUndefined();
    expect(Buffer.concat((await reader.get(key(0, OBJECT, generation))) ?? [])).toEqual(Buffer.alloc(10, 7));
    expect(Buffer.concat((await front.get(key(0, OBJECT, generation))) ?? [])).toEqual(Buffer.alloc(10, 7));
    // An object this store never asked about is served, not promoted: nothing names it here.
    await writer.set(key(0, OTHER), [Buffer.alloc(10, 8)], meta(OTHER));
    expect(await reader.get(key(0, OTHER))).toBeDefined();
    expect(front.get(key(0, OTHER))).toBeUndefined();
  });

  it('does not promote a read that a purge overtook', async () => {
    const shared = sharedTier();
    const front = memoryStorage();
    const reader = tieredStorage([front, shared]);
    await reader.generation?.(OBJECT);
    await shared.set(key(1), [Buffer.alloc(10, 3)], meta());
    const reading = reader.get(key(1));
    await reader.purgeObject(OBJECT);
    await reading;
    expect(front.get(key(1))).toBeUndefined();
  });
});
