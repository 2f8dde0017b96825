/**
 * The adapters given to `createSliceFetcher` (R1, R17), checked once at construction: a store, a transport,
 * hooks, a logger or a key function that would only fail later (`cache: {}`, `transport: {}`) is refused with
 * the option's name and what it got.
 *
 * @module
 */
import {
  CACHE_STORAGE_METHODS,
  describeGiven as describe,
  hasMethods as has,
  optionError,
} from '../core/errors.js';

/**
 * Refuses adapters that lack a method their port requires.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` naming the option.
 * @example
 * ```ts
 * checkAdapters(options.cache, options.transport, options.hooks, options.logger, options.cacheKey);
 * ```
 */
export function checkAdapters(
  cache: unknown,
  transport: unknown,
  hooks: unknown,
  logger: unknown,
  cacheKey: unknown,
): void {
  if (cache !== undefined && cache !== false && !has(cache, CACHE_STORAGE_METHODS))
    throw optionError(
      'cache',
      `\`false\` or a CacheStorage (${CACHE_STORAGE_METHODS.join(', ')})`,
      describe(cache),
    );
  if (transport !== undefined && !has(transport, ['request']))
    throw optionError('transport', 'a Transport (a `request` method)', describe(transport));
  if (hooks !== undefined && !hooksOf(hooks))
    throw optionError('hooks', 'an object whose `on…` members are hook functions', describe(hooks));
  if (logger !== undefined && !has(logger, ['debug', 'info', 'warn', 'error']))
    throw optionError('logger', 'a pino-compatible logger (debug, info, warn, error)', describe(logger));
  if (cacheKey !== undefined && typeof cacheKey !== 'function')
    throw optionError('cacheKey', 'a function of the URL', describe(cacheKey));
}

// ---------------------------------------------------------------------------------------------------------

/** Whether `hooks` is an object whose hook members (`on…`) are functions; other members are its own business. */
function hooksOf(hooks: unknown): boolean {
  if (typeof hooks !== 'object' || hooks === null) return false;
  for (const [name, hook] of Object.entries(hooks))
    if (name.startsWith('on') && hook !== undefined && typeof hook !== 'function') return false;
  return true;
}
