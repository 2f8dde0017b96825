/**
 * Where the benchmarks live: the `bench/` directory and the repository root, computed once so a module in a
 * subfolder of `bench/` does not have to count `..` segments.
 *
 * @module
 */
import { join } from 'node:path';

/** The `bench/` directory. */
export const BENCH_DIR = import.meta.dirname;

/** The repository root (the parent of `bench/`). */
export const REPO_ROOT = join(BENCH_DIR, '..');
