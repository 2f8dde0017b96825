/**
 * A small, allocation-light SHA-256 (FIPS 180-4) in pure TypeScript, used to build cache keys.
 *
 * Why not `node:crypto`: the core stays runtime-agnostic and free of I/O modules (it runs unchanged in
 * Node, Deno, Bun and workers), and WebCrypto's `subtle.digest` is asynchronous, which the synchronous key
 * functions cannot use. Why a cryptographic hash and not FNV or xxHash: a cache key collision would serve
 * one object's bytes as another's, so keys need collision resistance even against chosen URLs.
 *
 * The string is UTF-8 encoded on the fly, straight into the one 64-byte message block, so a call allocates
 * nothing but its hex result. Lone surrogates (not valid UTF-16) are encoded as their own three-byte
 * sequence (WTF-8) instead of U+FFFD, keeping the string → bytes step injective: two distinct strings never
 * hash the same input. For well-formed strings the digest equals any standard SHA-256 of their UTF-8 bytes.
 *
 * @module
 */

/**
 * The SHA-256 digest of the UTF-8 encoding of `input`, as 64 lowercase hex characters.
 *
 * @example
 * ```ts
 * sha256Hex('abc'); // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 * ```
 */
export function sha256Hex(input: string): string {
  state.set(INITIAL);
  blockLength = 0;
  totalBytes = 0;
  const length = input.length;
  for (let i = 0; i < length; i++) {
    let c = input.charCodeAt(i);
    if (c < 0x80) {
      pushByte(c);
    } else if (c < 0x800) {
      pushByte(0xc0 | (c >> 6));
      pushByte(0x80 | (c & 0x3f));
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
        const low = input.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          i++;
          pushByte(0xf0 | (c >> 18));
          pushByte(0x80 | ((c >> 12) & 0x3f));
          pushByte(0x80 | ((c >> 6) & 0x3f));
          pushByte(0x80 | (c & 0x3f));
          continue;
        }
      }
      // Three bytes: the rest of the BMP, and lone surrogates (WTF-8, see the module note).
      pushByte(0xe0 | (c >> 12));
      pushByte(0x80 | ((c >> 6) & 0x3f));
      pushByte(0x80 | (c & 0x3f));
    }
  }
  finish();
  let hex = '';
  for (let i = 0; i < 8; i++) {
    const word = state[i]!;
    hex +=
      HEX_BYTE[(word >>> 24) & 0xff]! +
      HEX_BYTE[(word >>> 16) & 0xff]! +
      HEX_BYTE[(word >>> 8) & 0xff]! +
      HEX_BYTE[word & 0xff]!;
  }
  return hex;
}

// ---- module-private state and helpers -------------------------------------------------------------------
// One shared state is safe: sha256Hex is synchronous and never re-entered.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

const state = new Int32Array(8);
const schedule = new Int32Array(64);
const block = new Uint8Array(64);
let blockLength = 0;
let totalBytes = 0;

function pushByte(byte: number): void {
  block[blockLength++] = byte;
  totalBytes++;
  if (blockLength === 64) {
    compress();
    blockLength = 0;
  }
}

/** Appends the padding and the 64-bit big-endian bit length, then compresses the last block(s). */
function finish(): void {
  const bytes = totalBytes;
  pushByte(0x80);
  while (blockLength !== 56) pushByte(0);
  // Bit length = bytes × 8, split without overflowing 2^53: high word = bytes / 2^29, low word = (bytes × 8) mod 2^32.
  const high = Math.floor(bytes / 0x20000000);
  const low = (bytes * 8) >>> 0;
  pushByte(high >>> 24);
  pushByte((high >>> 16) & 0xff);
  pushByte((high >>> 8) & 0xff);
  pushByte(high & 0xff);
  pushByte(low >>> 24);
  pushByte((low >>> 16) & 0xff);
  pushByte((low >>> 8) & 0xff);
  pushByte(low & 0xff);
}

function compress(): void {
  const w = schedule;
  for (let i = 0, j = 0; i < 16; i++, j += 4) {
    w[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i]! + w[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}
