/**
 * The start-up check of a disk cache directory, before any store touches it: the directory exists or can be
 * made, is a directory, and takes a file. `fsStorage` fails open by design — a store that cannot write only
 * costs cache hits — so without this a proxy started on an unusable `--cache-dir` would run and cache nothing.
 *
 * Each parent is made without `recursive: true`: Node's recursive mkdir never settles on a path whose
 * parent exists but refuses children with ENOENT (`/proc/nope`), which is how such a store used to hang.
 * The whole check is bounded too, for a mount that does not answer.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** How long the check may take before the directory counts as unusable. */
export const CHECK_TIMEOUT_MS = 5000;

/**
 * Resolves when `dir` is a writable directory (made if missing, with its parents); rejects with an Error whose
 * message names the directory and the system's reason (`ENOENT: no such file or directory, mkdir '/proc/nope'`).
 *
 * @example
 * ```ts
 * await checkCacheDir('/var/cache/slices'); // made if missing, then a probe file written and removed
 * ```
 */
export async function checkCacheDir(dir: string, timeoutMs = CHECK_TIMEOUT_MS): Promise<void> {
  const path = resolve(dir);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`it did not answer within ${timeoutMs} ms (a hung mount?)`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([probe(path), timeout]);
  } catch (error) {
    throw new Error(
      `Cannot use the cache directory \`${path}\`: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------

async function probe(path: string): Promise<void> {
  await makeDirs(path);
  const info = await stat(path);
  if (!info.isDirectory()) throw new Error('it is not a directory');
  // A file of our own, written and removed: write permission, a read-only mount, a full disk all show here.
  const file = join(path, `.slice-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(file, 'wx');
  try {
    await handle.write(Buffer.from('slice-fetch\n'));
    await handle.sync();
  } finally {
    await handle.close();
    await unlink(file).catch(() => undefined);
  }
}

/** `mkdir -p` one level at a time (see the module comment). */
async function makeDirs(path: string): Promise<void> {
  const missing: string[] = [];
  for (let at = path; ; at = dirname(at)) {
    const found = await stat(at).then(
      (info) => info,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (found !== undefined) {
      if (!found.isDirectory()) throw new Error(`\`${at}\` is not a directory`);
      break;
    }
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const at of missing) {
    await mkdir(at).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error; // made meanwhile by another process: fine
    });
  }
}
