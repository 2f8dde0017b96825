/**
 * The options of `fsStorage`: their types and defaults, validated once when the store is created (R1).
 *
 * @module
 */
import { resolve } from 'node:path';
import { optionError, optionsObject } from '../core/errors.js';
import type { Logger } from '../ports.js';

/** Options of {@link fsStorage}. */
export interface FsStorageOptions {
  /** The cache directory; created when missing. Several processes may share it. */
  dir: string;
  /**
   * Byte budget of the bodies held (headers of ~200 bytes per file and file-system block rounding come on
   * top); the least recently used entries are deleted beyond it. Each process sharing `dir` enforces it over
   * the entries it knows (its own writes, the start-up scan and the hits it served).
   * @default 1073741824 (1 GiB)
   */
  maxBytes?: number;
  /** Clock for expiry checks, milliseconds since the epoch. @default Date.now */
  now?: () => number;
  /** Receives warnings about corrupt files removed and failed evictions. @default no logging */
  logger?: Logger;
}

/** {@link FsStorageOptions} validated, defaults applied, `dir` made absolute. */
export interface ResolvedFsOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly now: () => number;
  readonly logger: Logger | undefined;
}

/**
 * Validates the options of `fsStorage` once.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` when `dir` is empty or `maxBytes` is not a positive integer.
 * @example
 * ```ts
 * const { dir, maxBytes } = resolveFsOptions({ dir: './cache' }); // absolute dir, 1 GiB
 * ```
 */
export function resolveFsOptions(input: FsStorageOptions): ResolvedFsOptions {
  const options = optionsObject(input, ['dir', 'maxBytes', 'now', 'logger'], 'fsStorage options');
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw optionError('dir', 'a directory path', options.dir);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw optionError('maxBytes', 'a positive integer', maxBytes);
  }
  return { dir: resolve(options.dir), maxBytes, now: options.now ?? Date.now, logger: options.logger };
}

// ---------------------------------------------------------------------------------------------------------

const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
