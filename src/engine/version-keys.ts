/**
 * The slice keys of one object version in one sharing scope, derived once per version and remembered per
 * index: a warm request for slices it has asked for before costs map lookups, not SHA-256s (design.md
 * "Per-request costs"). Versions are the metadata objects the engine keeps; when one is dropped, its keys go
 * with it.
 *
 * @module
 */
import { sliceKeys } from '../core/keys.js';
import type { ObjectMetadata } from './metadata.js';

/**
 * The key of slice `index` of `meta`'s version, for slices of `sliceSize` bytes.
 *
 * @example
 * ```ts
 * const key = versionKeys(meta, config.sliceSize)(3);
 * ```
 */
export function versionKeys(meta: ObjectMetadata, sliceSize: number): (index: number) => string {
  let memo = MEMOS.get(meta);
  if (memo === undefined || memo.sliceSize !== sliceSize) {
    memo = { sliceSize, keyOf: remembered(sliceKeys({ ...meta, sliceSize })) };
    MEMOS.set(meta, memo);
  }
  return memo.keyOf;
}

// ---------------------------------------------------------------------------------------------------------

/** Keys remembered per version at most: beyond, a key is derived again (a huge object read once). */
const MAX_REMEMBERED = 4096;

const MEMOS = new WeakMap<
  ObjectMetadata,
  { readonly sliceSize: number; readonly keyOf: (index: number) => string }
>();

function remembered(derive: (index: number) => string): (index: number) => string {
  const keys = new Map<number, string>();
  return (index) => {
    let key = keys.get(index);
    if (key === undefined) {
      key = derive(index);
      if (keys.size < MAX_REMEMBERED) keys.set(index, key);
    }
    return key;
  };
}
