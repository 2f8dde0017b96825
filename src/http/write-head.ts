/**
 * Writes the head of an engine answer to a `ServerResponse` in one call: the answer's fields, hop-by-hop ones
 * dropped (RFC 9110 §7.6.1), and `x-slice-cache` set (R19). Node's own `writeHead` takes the head as one flat
 * list of fields — no record to build, copy and filter per response (design.md "Small-range fast path"); a
 * `writeHead` that some middleware wrapped (on-headers, compression) gets the record form it expects, since
 * such wrappers read a list as `[name, value]` pairs.
 *
 * @module
 */
import { type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { HOP_BY_HOP } from '../core/headers.js';
import type { MemoryAnswer, SliceResult } from '../engine/fetcher.js';

/**
 * Writes the head of `result`.
 *
 * @throws {Error} What `res.writeHead` throws: a head already sent, a value Node refuses.
 * @example
 * ```ts
 * writeHead(res, result);
 * writeInHand(result.pieces, res);
 * ```
 */
export function writeHead(res: ServerResponse, result: SliceResult | MemoryAnswer): void {
  if (res.writeHead !== NATIVE_WRITE_HEAD) {
    res.writeHead(result.status, headRecord(result.headers, result.cacheStatus));
    return;
  }
  const out: (string | readonly string[])[] = [];
  const { cacheStatus } = result;
  let marked = false;
  const fields = 'head' in result ? result.head : undefined;
  if (fields === undefined)
    for (const name in result.headers)
      marked = addField(out, name, result.headers[name] as string | readonly string[], cacheStatus) || marked;
  else
    for (let i = 0; i < fields.length; i += 2)
      marked = addField(out, fields[i] as string, fields[i + 1] as string, cacheStatus) || marked;
  if (!marked) out.push(CACHE_HEADER, cacheStatus);
  res.writeHead(result.status, out as string[]);
}

// ---------------------------------------------------------------------------------------------------------

const CACHE_HEADER = 'x-slice-cache';
const NATIVE_WRITE_HEAD = ServerResponse.prototype.writeHead;

/** Adds one field of a result's head to `out`, unless hop-by-hop; whether it was `x-slice-cache` (then set). */
function addField(
  out: (string | readonly string[])[],
  name: string,
  value: string | readonly string[],
  cacheStatus: string,
): boolean {
  if (HOP_BY_HOP.has(name)) return false;
  if (name !== CACHE_HEADER) {
    out.push(name, value);
    return false;
  }
  out.push(name, cacheStatus);
  return true;
}

/** The head as a record, for a wrapped `writeHead`: the result's headers, hop-by-hop ones dropped. */
function headRecord(headers: SliceResult['headers'], cacheStatus: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers)
    if (!HOP_BY_HOP.has(name)) out[name] = headers[name] as OutgoingHttpHeaders[string];
  out[CACHE_HEADER] = cacheStatus;
  return out;
}
