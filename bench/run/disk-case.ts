/**
 * Case 8 of `npm run bench`: the disk store at edge scale — `npm run bench:disk` (bench/disk-scale.ts) with a
 * million entries, run as a child process, its Markdown report appended to the bench's. The store goes to
 * tmpfs (`/dev/shm`) when it has room for it (a million 4 KiB files and their directories: ~5 GB), else to
 * `$TMPDIR` (on a disk the fill takes minutes, not ~35 s).
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { log } from '../log.js';
import { REPO_ROOT } from '../paths.js';

/** Entries of case 8's store. */
export const DISK_CASE_ENTRIES = 1_000_000;
/** Free bytes tmpfs needs for the case's store. */
const TMPFS_NEEDED = 6 * 1024 ** 3;

/**
 * Runs `bench:disk` with {@link DISK_CASE_ENTRIES} entries; resolves its report.
 *
 * @example
 * ```ts
 * if (options.withCase8) out.push('', await runDiskCase());
 * ```
 */
export async function runDiskCase(): Promise<string> {
  const where = tmpfsHasRoom() ? '/dev/shm' : tmpdir();
  log(`bench: case 8, the disk store with ${DISK_CASE_ENTRIES} entries under ${where} (~1–3 minutes)…`);
  const { stdout } = await promisify(execFile)(
    join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
    [join(REPO_ROOT, 'bench', 'disk-scale.ts'), '--entries', String(DISK_CASE_ENTRIES)],
    { env: { ...process.env, TMPDIR: where }, maxBuffer: 16 * 1024 * 1024 },
  );
  return `#### Case 8 — the disk store at edge scale (\`npm run bench:disk -- --entries ${DISK_CASE_ENTRIES}\`)\n\n${stdout.trim()}`;
}

function tmpfsHasRoom(): boolean {
  try {
    const stats = statfsSync('/dev/shm');
    return stats.bavail * stats.bsize >= TMPFS_NEEDED;
  } catch {
    return false;
  }
}
