/**
 * Which request headers a client's GET or HEAD takes to the engine (R13, R15): the configured forwarded ones and
 * the preconditions (which the engine evaluates, never forwards), minus the hop-by-hop fields its `Connection`
 * lists; the `forwardRequestHeaders` option normalised once, at creation.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { CONDITIONAL_HEADERS, connectionTokens, NOT_FORWARDED } from '../core/headers.js';

/**
 * The `forwardRequestHeaders` option as lower-case names without duplicates, never one the engine sets
 * itself or that is hop-by-hop.
 *
 * @example
 * ```ts
 * forwardedNames(['User-Agent', 'host', 'user-agent']); // ['user-agent']
 * ```
 */
export function forwardedNames(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const lower = String(name).toLowerCase();
    if (!NOT_FORWARDED.has(lower) && !out.includes(lower)) out.push(lower);
  }
  return out;
}

/**
 * The request headers for the engine: a new record with lower-case names, repeated values joined.
 *
 * @example
 * ```ts
 * const headers = pickHeaders(req, forwardedNames(['user-agent']));
 * ```
 */
export function pickHeaders(req: IncomingMessage, forward: readonly string[]): Record<string, string> {
  const hop = connectionTokens(req.headers.connection);
  const out: Record<string, string> = {};
  for (const name of forward) copyHeader(req, name, hop, out);
  for (const name of CONDITIONAL_HEADERS) copyHeader(req, name, hop, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------------

function copyHeader(
  req: IncomingMessage,
  name: string,
  hop: ReadonlySet<string>,
  out: Record<string, string>,
): void {
  const value = req.headers[name];
  if (value !== undefined && !hop.has(name)) out[name] = Array.isArray(value) ? value.join(', ') : value;
}
