/**
 * The soak's check before anything is timed: every object through the proxy, byte for byte.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { OBJECTS, SLICE_SIZE } from './objects.js';

/**
 * Before anything is timed, through the proxy, per object: the whole body's SHA-256 (which also fills the
 * store), a range across the first slice boundary (or the middle of a small object), a suffix, a HEAD and a 416.
 *
 * @example
 * ```ts
 * await verifyThroughProxy(proxy.base, shas);
 * ```
 */
export async function verifyThroughProxy(base: string, shas: ReadonlyMap<string, string>): Promise<void> {
  const fail = (what: string): never => {
    throw new Error(`soak verification failed: ${what}`);
  };
  for (const { name, size } of OBJECTS) {
    const url = `${base}/${name}`;
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    const sha = createHash('sha256').update(whole).digest('hex');
    if (whole.length !== size || sha !== shas.get(name))
      fail(`${name}: got ${whole.length} bytes with SHA-256 ${sha}`);
    const first = size > SLICE_SIZE ? SLICE_SIZE - 1000 : Math.floor(size / 3);
    const last = Math.min(size - 1, first + 4095);
    const ranged = await fetch(url, { headers: { range: `bytes=${first}-${last}` } });
    const part = Buffer.from(await ranged.arrayBuffer());
    if (ranged.status !== 206 || !part.equals(whole.subarray(first, last + 1)))
      fail(`${name} bytes=${first}-${last}: status ${ranged.status}, ${part.length} bytes`);
    const suffix = await fetch(url, { headers: { range: 'bytes=-100' } });
    const end = Buffer.from(await suffix.arrayBuffer());
    if (suffix.status !== 206 || !end.equals(whole.subarray(size - 100)))
      fail(`${name} bytes=-100: status ${suffix.status}, ${end.length} bytes`);
    const head = await fetch(url, { method: 'HEAD' });
    if (head.status !== 200 || head.headers.get('content-length') !== String(size))
      fail(`${name} HEAD: status ${head.status}, content-length ${head.headers.get('content-length')}`);
    const past = await fetch(url, { headers: { range: `bytes=${size}-` } });
    await past.arrayBuffer();
    if (past.status !== 416 || past.headers.get('content-range') !== `bytes */${size}`)
      fail(
        `${name} bytes=${size}-: status ${past.status}, content-range ${past.headers.get('content-range')}`,
      );
  }
}
