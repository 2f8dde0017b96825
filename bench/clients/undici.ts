/**
 * Benchmark baseline: one plain undici GET of the whole object on one connection, default options, bytes
 * discarded. This is what "just download it" costs, and the yardstick the slice client is divided by.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { byteSink, readSpec, report, startPass } from './protocol.js';

/** The JSON argument of this client. */
export interface UndiciClientSpec {
  readonly url: string;
  /** Hash the body (correctness check only). */
  readonly verify?: boolean;
}

const spec = readSpec<UndiciClientSpec>();
const sink = byteSink(spec.verify === true ? createHash('sha256') : undefined);
const stop = startPass();
const { statusCode, body } = await request(spec.url);
for await (const chunk of body) sink.add(chunk as Uint8Array);
report({ passes: [{ ...stop(), bytes: sink.bytes, status: statusCode, sha256: sink.digest() }] });
