/**
 * slice-fetch: large HTTP GETs as aligned, cached, concurrently fetched Range slices, streamed back in order.
 *
 * @module
 */
export type { Chunks } from './core/chunks.js';
export { DEFAULT_CONFIG, describeConfig, parseConfig } from './core/config.js';
export type {
  CacheConfig,
  ConfigOptionDoc,
  RetryConfig,
  SliceFetchConfig,
  SliceFetchConfigInput,
  TimeoutsConfig,
} from './core/config-types.js';
export type { ContentRange } from './core/content-range.js';
export { formatContentRange, parseContentRange } from './core/content-range.js';
export type { SliceFetchErrorCode, SliceFetchErrorDetails, SliceFetchErrorOptions } from './core/errors.js';
export { isSliceFetchError, SliceFetchError } from './core/errors.js';
export type {
  ParsedRange,
  ParseRangeOptions,
  RangeSpec,
  ResolvedRange,
  ResolveRangeOptions,
} from './core/range.js';
export { formatRange, parseRange, resolveRange, resolveRangeHeader } from './core/range.js';
export type { RangeInput, SliceFetcher, SliceFetcherOptions, SliceFetchInit } from './engine/fetcher.js';
export { createSliceFetcher } from './engine/fetcher.js';
export type { RedirectMode } from './engine/redirects.js';
export { closeDefaultFetcher, sliceFetch } from './engine/slice-fetch.js';
export type { SliceFetcherStats } from './engine/telemetry.js';
export type { SliceHandler, SliceHandlerOptions } from './http/index.js';
export { createSliceHandler } from './http/index.js';
export { combineHooks } from './metrics/combine-hooks.js';
export type {
  Awaitable,
  BodyTarget,
  ByteRange,
  CacheChunks,
  CacheEntryMeta,
  CacheGetOptions,
  CacheStats,
  CacheStorage,
  HeaderRecord,
  LogFn,
  Logger,
  Metrics,
  RequestEventBase,
  RequestOutcome,
  SliceEvent,
  Transport,
  TransportHead,
  TransportRequest,
  TransportResponse,
} from './ports.js';
export type { CoordinatedStorageOptions } from './storage/coordinated.js';
export { coordinatedStorage } from './storage/coordinated.js';
export type { FsStorage, FsStorageOptions } from './storage/fs.js';
export { fsStorage } from './storage/fs.js';
export type { MemoryStorageOptions } from './storage/memory.js';
export { memoryStorage } from './storage/memory.js';
export type { TieredStorageOptions } from './storage/tiered.js';
export { tieredStorage } from './storage/tiered.js';
export type { UndiciTransportOptions } from './transport/undici.js';
export { undiciTransport } from './transport/undici.js';
