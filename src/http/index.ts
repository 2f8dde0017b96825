/**
 * The Node HTTP adapter of the engine: `createSliceHandler()` for `http.createServer`, Express and Connect.
 *
 * @module
 */
export type { SliceHandler, SliceHandlerOptions } from './handler.js';
export { createSliceHandler } from './handler.js';
