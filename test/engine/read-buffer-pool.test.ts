import { describe, expect, it } from 'vitest';
import { ReadBufferPool } from '../../src/engine/read-buffer-pool.js';

describe('ReadBufferPool', () => {
  it('lends exactly the bytes asked for, and reuses memory only after it is given back', () => {
    const pool = new ReadBufferPool(1024, 4);
    const a = pool.allocate(1000);
    expect(a.byteLength).toBe(1000);
    expect(Buffer.isBuffer(a)).toBe(true);
    const b = pool.allocate(1000);
    expect(b.buffer).not.toBe(a.buffer);
    pool.release([a.subarray(10, 20)]); // a view of the loan gives the whole buffer back
    expect(pool.free).toBe(1);
    const c = pool.allocate(512);
    expect(c.buffer).toBe(a.buffer);
    expect(c.byteLength).toBe(512);
  });

  it('takes a loan back once: a piece given back twice frees one buffer, not two', () => {
    const pool = new ReadBufferPool(1024, 4);
    const a = pool.allocate(100);
    pool.release([a, a.subarray(50)]);
    pool.release([a]);
    expect(pool.free).toBe(1);
    expect(pool.allocate(100).buffer).toBe(a.buffer);
    expect(pool.allocate(100).buffer).not.toBe(a.buffer);
  });

  it('ignores memory it did not lend and gives requests larger than its buffers memory of their own', () => {
    const pool = new ReadBufferPool(1024, 4);
    pool.release([Buffer.alloc(1024), new Uint8Array(10)]);
    expect(pool.free).toBe(0);
    const big = pool.allocate(4096);
    expect(big.byteLength).toBe(4096);
    pool.release([big]);
    expect(pool.free).toBe(0);
    expect(pool.allocate(0).byteLength).toBe(0);
  });

  it('keeps at most maxFree buffers for reuse', () => {
    const pool = new ReadBufferPool(64, 2);
    const loans = [pool.allocate(64), pool.allocate(64), pool.allocate(64)];
    pool.release(loans);
    expect(pool.free).toBe(2);
  });
});
