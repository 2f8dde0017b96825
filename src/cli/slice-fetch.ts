/**
 * `slice-fetch <url>`: a parallel downloader (R18) — one URL fetched as concurrent aligned slices through
 * `createSliceFetcher`, written to `file.part` and renamed only when every byte announced by `Content-Length`
 * arrived, so a complete-looking file is always a complete file.
 *
 * An interrupted download resumes: the part keeps every byte that arrived, in order, and a sidecar names the
 * object's version (resume.ts); a rerun asks the origin only for the bytes after the part (at any size), or
 * starts over when the object changed. `--cache-dir` adds a disk slice cache on top, shared by later runs.
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { isSliceFetchError, SliceFetchError } from '../core/errors.js';
import { createSliceFetcher, type SliceFetcher } from '../engine/fetcher.js';
import { fsStorage } from '../storage/fs.js';
import { keepFreedHeap } from './malloc-tuning.js';
import {
  continues,
  findResumable,
  type PartInfo,
  partInfoOf,
  partLength,
  type Resumable,
  removePart,
  writeSidecar,
} from './resume.js';
import { integerFlag, sizeFlag } from './sizes.js';
import { checkCacheDir } from './store-check.js';
import { VERSION } from './version.js';

// Everything `main` reads is declared before the top-level `await main()` below: a `const` or a class further
// down would still be in its temporal dead zone when `main` runs.
const USAGE = `Usage: slice-fetch <url> [-o file] [--range a-b] [--concurrency N] [--slice-size S] [--cache-dir D] [-q]

  -o, --output <file>    write here, through <file>.part renamed when complete; default stdout.
                         A rerun after an interruption fetches only the bytes missing from <file>.part
  --range <a-b>          bytes a..b inclusive; also a- and -n (the last n bytes)
  --concurrency <n>      slices in flight (default 8)
  --slice-size <bytes>   e.g. 1048576, 4MiB or 4M (default 1MiB); 4MB is 4000000
  --cache-dir <dir>      also keep slices in a disk cache there, shared by later runs
  --cache-size <bytes>   budget of --cache-dir (default 1GiB)
  --restart              ignore an existing <file>.part and start over
  -q, --quiet            no progress bar, no notes
  -h, --help             this text
  --version              the version`;

/** Exit codes after SIGINT/SIGTERM: 128 + the signal number, as a shell reports them. */
const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Why the download stopped, when a signal stopped it. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

keepFreedHeap();
await main(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<void> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    fail(`${describe(error)}\n\n${USAGE}`, 2);
  }
  if (args.values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.values.version === true) {
    process.stdout.write(`slice-fetch ${VERSION}\n`);
    return;
  }
  const url = args.positionals[0];
  if (url === undefined || args.positionals.length > 1) fail(`expected exactly one URL.\n\n${USAGE}`, 2);
  const { output, range, quiet, restart } = args.values;
  const dir = args.values['cache-dir'];
  let fetcher: SliceFetcher;
  try {
    const cacheSize = sizeFlag(args.values['cache-size']);
    if (dir !== undefined) await checkCacheDir(dir);
    fetcher = createSliceFetcher({
      sliceSize: sizeFlag(args.values['slice-size']) as number | undefined,
      concurrency: integerFlag(args.values.concurrency) as number | undefined,
      ...(dir === undefined ? {} : { cache: fsStorage({ dir, maxBytes: cacheSize as number | undefined }) }),
    });
  } catch (error) {
    fail(describe(error), 2);
  }
  const note = (text: string): void => {
    if (quiet !== true) process.stderr.write(`slice-fetch: ${text}\n`);
  };

  const controller = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) process.exit(SIGNAL_EXIT[signal] ?? 1); // asked twice: now
    signalled = signal;
    controller.abort(new Interrupted(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const download: Download = {
    fetcher,
    url,
    range: range ?? null,
    signal: controller.signal,
    showProgress: quiet !== true && process.stderr.isTTY === true,
    note,
  };
  try {
    if (output === undefined) await toStdout(download);
    else await toFile(download, output, restart === true);
  } catch (error) {
    await fetcher.close();
    if (signalled !== undefined)
      fail(`${describe(new Interrupted(signalled))}.`, SIGNAL_EXIT[signalled] ?? 1);
    fail(describe(error), 1);
  }
  await fetcher.close();
}

interface Download {
  readonly fetcher: SliceFetcher;
  readonly url: string;
  /** The `--range` value, `null` for the whole object. */
  readonly range: string | null;
  readonly signal: AbortSignal;
  readonly showProgress: boolean;
  readonly note: (text: string) => void;
}

/** Without `-o`: the bytes to stdout; nothing to resume. */
async function toStdout(d: Download): Promise<void> {
  const res = await get(d, d.range === null ? undefined : `bytes=${d.range}`);
  await receive(d, res, process.stdout, 0, false);
}

/** With `-o`: through `file.part` and its sidecar, resumed when they match (resume.ts). */
async function toFile(d: Download, output: string, restart: boolean): Promise<void> {
  const part = `${output}.part`;
  const found = restart ? { reason: 'asked to --restart' } : await findResumable(part, d.url, d.range);
  let res: Response | undefined;
  let info: PartInfo | undefined;
  let have = 0;
  if ('info' in found) {
    ({ res, info, have } = await resume(d, found));
  } else if (found.reason !== undefined) d.note(`starting over: ${found.reason}.`);
  if (res === undefined) {
    res = await get(d, d.range === null ? undefined : `bytes=${d.range}`);
    have = 0;
    info = partInfoOf(d.url, d.range, res.status, res.headers);
    // The sidecar lands before the first byte, so whatever stops us, the part can be matched to its object.
    await removePart(part);
    if (info !== undefined) await writeSidecar(part, info);
  }
  const sink = createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
  try {
    await receive(d, res, sink, have, true);
  } catch (error) {
    const kept = await partLength(part);
    if (info === undefined || kept === 0) await removePart(part);
    else d.note(`${kept} bytes kept in ${part}; run the same command again to resume.`);
    throw error;
  }
  const total = await partLength(part);
  if (info !== undefined && total !== info.last - info.first + 1)
    throw new SliceFetchError(
      'ERR_SLICE_INVALID_RESPONSE',
      `${d.url}: expected ${info.last - info.first + 1} bytes in ${part}, got ${total}.`,
      { url: d.url },
    );
  await rename(part, output);
  await removePart(part); // the sidecar
}

/**
 * Asks for the bytes after the part; resolves the answer when it continues the part, or (with `res`
 * undefined) when it does not and the download must start over.
 */
async function resume(
  d: Download,
  found: Resumable,
): Promise<{ res: Response | undefined; info: PartInfo; have: number }> {
  const { info, have } = found;
  // A complete part whose rename was lost: one byte at the end still proves the version.
  const from = have === info.last - info.first + 1 ? info.last : info.first + have;
  const res = await get(d, `bytes=${from}-${info.last}`);
  if (from === info.last && continues({ info, have: have - 1 }, res.status, res.headers)) {
    await res.body?.cancel();
    return { res: new Response(null, { status: 206 }), info, have };
  }
  if (continues(found, res.status, res.headers)) {
    d.note(`resuming ${info.first + have}-${info.last} after the ${have} bytes already in the part.`);
    return { res, info, have };
  }
  await res.body?.cancel();
  d.note('starting over: the object changed since the part was written.');
  return { res: undefined, info, have: 0 };
}

/** `fetch` with the download's signal, refusing answers other than 200 and 206. */
async function get(d: Download, range: string | undefined): Promise<Response> {
  const res = await d.fetcher.fetch(d.url, { ...(range === undefined ? {} : { range }), signal: d.signal });
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    throw new SliceFetchError(
      'ERR_SLICE_ORIGIN_STATUS',
      `${d.url} answered ${res.status} ${res.statusText}.`,
      {
        url: d.url,
        originStatus: res.status,
      },
    );
  }
  return res;
}

/** Streams `res`'s body into `sink`, with the progress bar; fails when it ends short of `Content-Length`. */
async function receive(
  d: Download,
  res: Response,
  sink: NodeJS.WritableStream,
  already: number,
  end: boolean,
): Promise<void> {
  const expected = Number(res.headers.get('content-length') ?? Number.NaN);
  const progress = d.showProgress ? progressBar(already, already + expected) : undefined;
  let received = 0;
  const count = new Transform({
    transform(chunk: Uint8Array, _encoding, callback) {
      received += chunk.byteLength;
      progress?.(already + received, false);
      callback(null, chunk);
    },
  });
  const body = res.body ?? (async function* () {})();
  try {
    await pipeline(body as AsyncIterable<Uint8Array>, count, sink, { end, signal: d.signal });
  } catch (error) {
    if (d.signal.aborted) throw d.signal.reason;
    throw error;
  }
  progress?.(already + received, true);
  // A body that ended short of Content-Length is a failed download, whatever the stream said (R8).
  if (Number.isFinite(expected) && received !== expected)
    throw new SliceFetchError(
      'ERR_SLICE_INVALID_RESPONSE',
      `${d.url}: expected ${expected} bytes, got ${received}.`,
      { url: d.url, expected: String(expected), actual: String(received) },
    );
}

/** Draws `bytes / total, speed, ETA` on stderr at most ten times a second, and a final line when done. */
function progressBar(start: number, total: number): (bytes: number, done: boolean) => void {
  const started = Date.now();
  let last = 0;
  return (bytes, done) => {
    const now = Date.now();
    if (!done && now - last < 100) return;
    last = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    const speed = (bytes - start) / seconds;
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
      'cache-size': { type: 'string' },
      restart: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
}

function describe(error: unknown): string {
  if (isSliceFetchError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** An error that stops the process: one sentence on stderr, then the exit code. */
function fail(message: string, code: number): never {
  process.stderr.write(`slice-fetch: ${message}\n`);
  process.exit(code);
}
