/**
 * The objects the soak's nginx origin serves, and the slice size the proxy cuts them into.
 *
 * @module
 */
import { createHash, randomFillSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KiB, MiB } from '../units.js';

/** The proxy's `--slice-size`. */
export const SLICE_SIZE = MiB;

/** The objects served: two of at most one slice (whole-object GETs), three of several (odd sizes included). */
export const OBJECTS: readonly { readonly name: string; readonly size: number }[] = [
  { name: 'tiny-16k', size: 16 * KiB },
  { name: 'small-200k', size: 200 * KiB + 1 },
  { name: 'odd-5m', size: 5 * MiB + 12_345 },
  { name: 'mid-20m', size: 20 * MiB },
  { name: 'large-64m', size: 64 * MiB },
];

/**
 * Writes the objects (random bytes) into `www` and returns their SHA-256 by name.
 *
 * @example
 * ```ts
 * const shas = writeSoakObjects(www);
 * ```
 */
export function writeSoakObjects(www: string): Map<string, string> {
  const shas = new Map<string, string>();
  for (const { name, size } of OBJECTS) {
    const bytes = randomFillSync(Buffer.allocUnsafe(size));
    writeFileSync(join(www, name), bytes);
    shas.set(name, createHash('sha256').update(bytes).digest('hex'));
  }
  return shas;
}
