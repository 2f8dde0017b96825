/**
 * Keeps glibc from handing freed heap back to the kernel after every collection, for the CLIs' own process.
 *
 * Node reads sockets into 64 KiB buffers that V8's collector frees in bursts; glibc then trims the top of its
 * heap (its default trim threshold is 128 KiB) and the next reads fault the same memory in again — a third of
 * the page faults and ~15 % of the main thread of a cold 1 GiB pass through slice-proxy (BENCHMARKS.md). glibc
 * adjusts its thresholds itself when a block larger than the mmap threshold is freed: the mmap threshold rises
 * to that block's size (at most 32 MiB on 64-bit) and the trim threshold to twice it (mallopt(3), "dynamic mmap
 * threshold"). Allocating one such block and dropping it at start-up therefore sets a 64 MiB trim threshold —
 * what `MALLOC_TRIM_THRESHOLD_` would, without having to set the environment before the process starts.
 *
 * Only the CLIs do this: a library must not change its host's allocator. Operators who set any `MALLOC_*`
 * threshold keep theirs (glibc then turns the dynamic adjustment off), and other C libraries just see one
 * allocation come and go.
 *
 * @module
 */

/** glibc's largest dynamic mmap threshold on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`), less a page of headroom. */
const BLOCK_BYTES = 32 * 1024 * 1024 - 8192;

/**
 * Allocates and drops one block just under glibc's largest dynamic mmap threshold (see the module comment); the
 * collector frees it soon after, which raises the process's trim threshold to 64 MiB. A no-op off Linux.
 *
 * @example
 * ```ts
 * keepFreedHeap(); // first thing in a long-running CLI
 * ```
 */
export function keepFreedHeap(): void {
  if (process.platform !== 'linux') return;
  // Large enough that glibc maps it on its own and, once V8 frees it, adjusts its thresholds to its size.
  new Uint8Array(BLOCK_BYTES)[0] = 1;
}
