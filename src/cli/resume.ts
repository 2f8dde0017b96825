/**
 * Resuming `slice-fetch -o file`: the download goes to `file.part`, and next to it `file.part.json` says what
 * the part is a prefix of — the URL, the range asked for, the absolute bytes `first`…`last` it will hold, and the
 * object's version (ETag, Last-Modified, size). The sidecar is written before the first byte, and the part only
 * ever grows by appending in order, so whatever stopped the download (an error, Ctrl-C, `kill -9`, a reboot) the
 * part's length says which bytes are already there.
 *
 * A rerun asks only for `bytes=<first + part length>-<last>` and appends, after checking that the answer is the
 * same version (ETag, Last-Modified and size equal to the sidecar's, and the exact range); anything else — no
 * sidecar, another URL or range, a changed or unidentifiable object, a part longer than the range — starts over.
 * This does not depend on the slice cache at all, so it works at any size.
 *
 * @module
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { parseContentRange } from '../core/content-range.js';

/** The sidecar `file.part.json`. */
export interface PartInfo {
  /** Sidecar format version. */
  readonly format: 1;
  readonly url: string;
  /** The `--range` asked for (`null`: the whole object), so a rerun with another range starts over. */
  readonly range: string | null;
  /** Absolute offsets in the object of the part's first byte and of the last byte it will hold. */
  readonly first: number;
  readonly last: number;
  /** The object's complete length. */
  readonly size: number;
  readonly etag: string | null;
  readonly lastModified: string | null;
}

/** A part that may be resumed: its sidecar and the bytes already there. */
export interface Resumable {
  readonly info: PartInfo;
  readonly have: number;
}

/** The sidecar's path for `part`. */
export function sidecarOf(part: string): string {
  return `${part}.json`;
}

/**
 * The part to resume for `url` and `range`, or why there is none (`reason` is `undefined` when simply no part
 * exists).
 *
 * @example
 * ```ts
 * const found = await findResumable('big.iso.part', url, null);
 * if ('info' in found) console.log(`resuming at ${found.info.first + found.have}`);
 * ```
 */
export async function findResumable(
  part: string,
  url: string,
  range: string | null,
): Promise<Resumable | { readonly reason: string | undefined }> {
  const have = await stat(part).then(
    (s) => s.size,
    () => undefined,
  );
  if (have === undefined) return { reason: undefined };
  let info: PartInfo;
  try {
    info = JSON.parse(await readFile(sidecarOf(part), 'utf8')) as PartInfo;
  } catch {
    return { reason: `${part} has no readable ${sidecarOf(part)}` };
  }
  if (info.format !== 1 || info.url !== url || info.range !== range)
    return { reason: `${part} belongs to another URL or range` };
  if (info.etag === null && info.lastModified === null)
    return {
      reason: 'the origin gives the object no ETag or Last-Modified, so a part cannot be matched to it',
    };
  if (have === 0) return { reason: `${part} is empty` };
  if (have > info.last - info.first + 1) return { reason: `${part} is longer than the range` };
  return { info, have };
}

/**
 * What a `200`/`206` head says the body holds, as the sidecar records it; `undefined` when it cannot be
 * resumed later (no length, no version).
 */
export function partInfoOf(
  url: string,
  range: string | null,
  status: number,
  headers: Headers,
): PartInfo | undefined {
  const etag = headers.get('etag');
  const lastModified = headers.get('last-modified');
  let first: number;
  let last: number;
  let size: number;
  if (status === 206) {
    const parsed = parseContentRange(headers.get('content-range') ?? undefined);
    if (parsed.kind !== 'range') return undefined;
    ({ start: first, end: last, size } = parsed);
  } else {
    const length = headers.get('content-length');
    if (length === null || !/^\d+$/.test(length)) return undefined;
    size = Number(length);
    first = 0;
    last = size - 1;
  }
  return { format: 1, url, range, first, last, size, etag, lastModified };
}

/** Whether a `206` answer to the resume request is the rest of the same part: same version, exact range. */
export function continues(resumable: Resumable, status: number, headers: Headers): boolean {
  const { info, have } = resumable;
  if (status !== 206) return false;
  const parsed = parseContentRange(headers.get('content-range') ?? undefined);
  return (
    parsed.kind === 'range' &&
    parsed.start === info.first + have &&
    parsed.end === info.last &&
    parsed.size === info.size &&
    headers.get('etag') === info.etag &&
    headers.get('last-modified') === info.lastModified
  );
}

/** Writes the sidecar atomically (temp file, fsync, rename), before any byte of the part. */
export async function writeSidecar(part: string, info: PartInfo): Promise<void> {
  const path = sidecarOf(part);
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(info)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** Removes the part and its sidecar. */
export async function removePart(part: string): Promise<void> {
  await Promise.all([rm(part, { force: true }), rm(sidecarOf(part), { force: true })]);
}

/** The part's length on disk now (0 when missing). */
export async function partLength(part: string): Promise<number> {
  return stat(part).then(
    (s) => s.size,
    () => 0,
  );
}
