/**
 * Byte units shared by the benchmarks (binary: KiB = 1024 bytes, MiB = 1024 KiB).
 *
 * @module
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
