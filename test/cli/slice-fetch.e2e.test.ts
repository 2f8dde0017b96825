import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contentBytes, contentHash } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { killAll, runToEnd } from './cli-helpers.js';

const KiB = 1024;
let origin: TestOrigin;
let dir: string;

beforeAll(async () => {
  origin = await startOrigin();
  dir = await mkdtemp(join(tmpdir(), 'slice-fetch-cli-'));
});
afterAll(async () => {
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(killAll);

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('slice-fetch', () => {
  it('downloads a whole object to a file byte-exact, with no .part left', async () => {
    const size = 1536 * KiB + 123;
    const { seed } = origin.setObject('/cli/whole.bin', { size });
    const file = join(dir, 'whole.bin');
    const { code, stderr } = await runToEnd('slice-fetch', [
      origin.url('/cli/whole.bin'),
      '-o',
      file,
      '--slice-size',
      '64KiB',
      '--concurrency',
      '4',
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(sha256(await readFile(file))).toBe(contentHash(seed, 0, size - 1));
    expect(existsSync(`${file}.part`)).toBe(false);
  });

  it('downloads only --range a-b', async () => {
    const { seed } = origin.setObject('/cli/range.bin', { size: 1024 * KiB });
    const file = join(dir, 'range.bin');
    const { code } = await runToEnd('slice-fetch', [
      origin.url('/cli/range.bin'),
      '-o',
      file,
      '--range',
      '70000-200000',
      '--slice-size',
      '65536',
    ]);
    expect(code).toBe(0);
    expect((await readFile(file)).equals(contentBytes(seed, 70_000, 200_000))).toBe(true);
  });

  it('writes to stdout without -o', async () => {
    const { seed } = origin.setObject('/cli/stdout.bin', { size: 100 * KiB });
    const { code, stdout } = await runToEnd('slice-fetch', [
      origin.url('/cli/stdout.bin'),
      '--range',
      '0-999',
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(contentBytes(seed, 0, 999).toString('utf8'));
  });

  it('exits non-zero with a clear message on 404 and leaves no file behind', async () => {
    const file = join(dir, 'missing.bin');
    const { code, stderr } = await runToEnd('slice-fetch', [origin.url('/cli/missing.bin'), '-o', file]);
    expect(code).not.toBe(0);
    expect(stderr).toContain('404');
    expect(stderr).toContain('/cli/missing.bin');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.part`)).toBe(false);
  });

  it('exits non-zero with the library sentence for a bad --slice-size', async () => {
    const { code, stderr } = await runToEnd('slice-fetch', [origin.url('/x'), '--slice-size', '0']);
    expect(code).not.toBe(0);
    expect(stderr).toContain('Expected `sliceSize` to be an integer between 65536 and 67108864, got `0`.');
  });
});
