/**
 * Sizes and counts as operators write them, for both CLIs' flags and `slice-proxy`'s YAML: `1048576`, `64KiB`,
 * `1MB`, `1M`, `1.5GiB`.
 *
 * The units, case-insensitive: a bare letter (`K`, `M`, `G`, `T`) and the IEC forms (`KiB`, `MiB`, … and `Ki`,
 * `Mi`, …) are binary, powers of 1024, as in curl, nginx and GNU dd; `kB`, `MB`, `GB`, `TB` are decimal, powers
 * of 1000, as in SI and dd. `B` alone, or no unit, is bytes. So `1M` = `1MiB` = 1048576 and `1MB` = 1000000.
 *
 * @module
 */

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i)?(b)?|(b))?\s*$/i;
const POWERS: Readonly<Record<string, number>> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/**
 * A size in bytes, or the value itself when it is not a size (so the schema names it in its sentence).
 * A fraction is accepted when the product is a whole number of bytes (`1.5KiB`), not otherwise (`1.5B`).
 *
 * @example
 * ```ts
 * parseSize('2MiB'); // 2097152
 * parseSize('2M'); // 2097152
 * parseSize('2MB'); // 2000000
 * parseSize('lots'); // 'lots'
 * ```
 */
export function parseSize(value: string): number | string {
  const m = SIZE.exec(value);
  if (m === null) return value;
  const [, digits, letter, iec, b] = m;
  const power = letter === undefined ? 0 : (POWERS[letter.toLowerCase()] as number);
  // A letter followed by `B` and no `i` is SI (kB, MB, GB); anything else with a letter is binary.
  const base = letter !== undefined && b !== undefined && iec === undefined ? 1000 : 1024;
  const bytes = Number(digits) * base ** power;
  return Number.isSafeInteger(bytes) ? bytes : value;
}

/** {@link parseSize} for an optional flag value. */
export function sizeFlag(value: string | undefined): number | string | undefined {
  return value === undefined ? undefined : parseSize(value);
}

/**
 * A flag value that must be a plain whole number (a count, milliseconds): no unit, so `5K` milliseconds is
 * refused rather than multiplied. Anything else passes through for the schema to name.
 *
 * @example
 * ```ts
 * integerFlag('300'); // 300
 * integerFlag('5K'); // '5K'
 * ```
 */
export function integerFlag(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s*$/.exec(value);
  return m === null ? value : Number(m[1]);
}
