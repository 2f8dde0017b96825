import fc from 'fast-check';
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

  it('reuses held memory only once the consumer and every holder gave it back, whatever the order', () => {
    const pool = new ReadBufferPool(1024, 4);
    const a = pool.allocate(600);
    const done = pool.hold([a.subarray(0, 100), a.subarray(100)]); // two chunks of one loan: one share
    pool.release([a]);
    expect(pool.free).toBe(0); // the store write still reads it
    expect(pool.allocate(600).buffer).not.toBe(a.buffer);
    done();
    done(); // a second call gives nothing back
    expect(pool.free).toBe(1);
    expect(pool.allocate(600).buffer).toBe(a.buffer);
    // Holding memory the pool did not lend (or no longer lends) changes nothing.
    pool.hold([Buffer.alloc(10)])();
    expect(pool.free).toBe(0);
  });

  it('never lends memory again while any holder of it remains (model check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constant({ op: 'allocate' as const }),
            fc.record({ op: fc.constant('hold' as const), at: fc.nat() }),
            fc.record({ op: fc.constant('release' as const), at: fc.nat() }),
            fc.record({ op: fc.constant('done' as const), at: fc.nat() }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const pool = new ReadBufferPool(256, 3);
          // Each loan: its memory, whether its consumer still has it, and the share functions not yet called.
          const loans: { memory: Uint8Array; consumer: boolean; shares: (() => void)[] }[] = [];
          const live = () => loans.filter((l) => l.consumer || l.shares.length > 0);
          for (const step of ops) {
            const open = live();
            if (step.op === 'allocate') {
              const memory = pool.allocate(200);
              for (const l of open) expect(memory.buffer).not.toBe(l.memory.buffer);
              loans.push({ memory, consumer: true, shares: [] });
            } else if (open.length > 0) {
              const loan = open[step.at % open.length] as (typeof loans)[number];
              if (step.op === 'hold' && loan.consumer) loan.shares.push(pool.hold([loan.memory]));
              else if (step.op === 'release' && loan.consumer) {
                loan.consumer = false;
                pool.release([loan.memory]);
              } else if (step.op === 'done' && loan.shares.length > 0) loan.shares.pop()?.();
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
