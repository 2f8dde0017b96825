/**
 * `slice-fetch <url>`: a parallel downloader (R18) — one URL fetched as concurrent aligned slices through
 * `createSliceFetcher`, written to `file.part` and renamed only when every byte announced by `Content-Length`
 * arrived, so a complete-looking file is always a complete file. With `--cache-dir`, slices go to a disk cache
 * and a rerun after a failure only fetches what is missing.
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { isSliceFetchError, SliceFetchError } from '../core/errors.js';
import { createSliceFetcher, type SliceFetcher } from '../engine/fetcher.js';
import { fsStorage } from '../storage/fs.js';
import { toNumber } from './load-proxy-config.js';
import { keepFreedHeap } from './malloc-tuning.js';

keepFreedHeap();
await main(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------------------

const USAGE = `Usage: slice-fetch <url> [-o file] [--range a-b] [--concurrency N] [--slice-size S] [--cache-dir D] [-q]

  -o, --output <file>    write here (through <file>.part, renamed when complete); default stdout
  --range <a-b>          bytes a..b inclusive; also a- and -n (the last n bytes)
  --concurrency <n>      slices in flight (default 8)
  --slice-size <bytes>   e.g. 1048576 or 4MiB (default 1MiB)
  --cache-dir <dir>      keep slices on disk: a rerun resumes from them
  -q, --quiet            no progress bar`;

async function main(argv: readonly string[]): Promise<void> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`, 2);
  }
  if (args.values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const url = args.positionals[0];
  if (url === undefined || args.positionals.length > 1) fail(`expected exactly one URL.\n\n${USAGE}`, 2);
  const { output, range, quiet } = args.values;
  let fetcher: SliceFetcher;
  try {
    const dir = args.values['cache-dir'];
    fetcher = createSliceFetcher({
      sliceSize: toNumber(args.values['slice-size']) as number | undefined,
      concurrency: toNumber(args.values.concurrency) as number | undefined,
      ...(dir === undefined ? {} : { cache: fsStorage({ dir }) }),
    });
  } catch (error) {
    fail(describe(error), 2);
  }
  const part = output === undefined ? undefined : `${output}.part`;
  try {
    await download(fetcher, url, range, output, part, quiet !== true && process.stderr.isTTY === true);
  } catch (error) {
    if (part !== undefined) await rm(part, { force: true });
    await fetcher.close();
    fail(describe(error), 1);
  }
  await fetcher.close();
}

async function download(
  fetcher: SliceFetcher,
  url: string,
  range: string | undefined,
  output: string | undefined,
  part: string | undefined,
  showProgress: boolean,
): Promise<void> {
  const res = await fetcher.fetch(url, range === undefined ? {} : { range: `bytes=${range}` });
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    throw new SliceFetchError('ERR_SLICE_ORIGIN_STATUS', `${url} answered ${res.status} ${res.statusText}.`, {
      url,
      originStatus: res.status,
    });
  }
  const expected = Number(res.headers.get('content-length') ?? Number.NaN);
  const progress = showProgress ? progressBar(expected) : undefined;
  let received = 0;
  const count = new Transform({
    transform(chunk: Uint8Array, _encoding, callback) {
      received += chunk.byteLength;
      progress?.(received, false);
      callback(null, chunk);
    },
  });
  const sink = part === undefined ? process.stdout : createWriteStream(part);
  const body = res.body ?? (async function* () {})();
  await pipeline(body as AsyncIterable<Uint8Array>, count, sink, { end: part !== undefined });
  progress?.(received, true);
  // A body that ended short of Content-Length is a failed download, whatever the stream said (R8).
  if (Number.isFinite(expected) && received !== expected)
    throw new SliceFetchError(
      'ERR_SLICE_INVALID_RESPONSE',
      `${url}: expected ${expected} bytes, got ${received}.`,
      { url, expected: String(expected), actual: String(received) },
    );
  if (part !== undefined && output !== undefined) await rename(part, output);
}

/** Draws `bytes / total, speed, ETA` on stderr at most ten times a second, and a final line when done. */
function progressBar(total: number): (bytes: number, done: boolean) => void {
  const started = Date.now();
  let last = 0;
  return (bytes, done) => {
    const now = Date.now();
    if (!done && now - last < 100) return;
    last = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    const speed = bytes / seconds;
    const known = Number.isFinite(total) && total > 0;
    const pct = known ? `${((bytes / total) * 100).toFixed(1).padStart(5)}% ` : '';
    const eta = known && speed > 0 ? ` ETA ${formatSeconds((total - bytes) / speed)}` : '';
    const line = `${pct}${formatBytes(bytes)}${known ? ` / ${formatBytes(total)}` : ''}  ${formatBytes(speed)}/s${eta}`;
    process.stderr.write(`\r${line.padEnd(60)}${done ? '\n' : ''}`);
  };
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  const total = Math.ceil(s);
  const m = Math.floor(total / 60);
  return m > 0 ? `${m}m${String(total % 60).padStart(2, '0')}s` : `${total}s`;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      range: { type: 'string' },
      concurrency: { type: 'string' },
      'slice-size': { type: 'string' },
      'cache-dir': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function describe(error: unknown): string {
  if (isSliceFetchError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function fail(message: string, code: number): never {
  process.stderr.write(`slice-fetch: ${message}\n`);
  process.exit(code);
}
