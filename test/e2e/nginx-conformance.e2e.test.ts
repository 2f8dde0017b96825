/**
 * @module nginx conformance: the same requests sent to nginx (`slice 1m` + `proxy_cache`, the module slice-fetch
 * reimplements) and to `createSliceHandler({ sliceSize: 1 MiB })`, both in front of one test origin. Status,
 * `Content-Range`, `Content-Length` and the body's SHA-256 must agree, except in the cases where we differ on
 * purpose: those assert our answer explicitly and docs/nginx-differences.md gives the reason (RFC 9110 sections).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSliceHandler, type SliceHandler } from '../../src/http/index.js';
import { contentHash } from '../support/content.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';

const MiB = 1024 * 1024;
const NGINX = '/usr/sbin/nginx';
const nginxReason = nginxMissing();

/** What a case's response must look like when nginx and we disagree on purpose (see docs/nginx-differences.md). */
interface Ours {
  readonly status: number;
  readonly contentRange?: string;
  /** Expected body as `[start, end]` of the object, when the answer carries one. */
  readonly bytes?: readonly [number, number];
  /** nginx's status for the same request (pinned, so the document cannot go stale unnoticed). */
  readonly nginx: number;
  /** The heading in docs/nginx-differences.md that explains it. */
  readonly why: string;
}

interface Case {
  readonly name: string;
  readonly path: string;
  readonly method?: 'GET' | 'HEAD';
  readonly headers?: Record<string, string>;
  /** Set when we differ from nginx on purpose. */
  readonly ours?: Ours;
}

interface Answer {
  readonly status: number;
  readonly contentRange: string | undefined;
  readonly contentLength: string | undefined;
  readonly bodyHash: string;
  readonly bodyLength: number;
}

const SMALL = 5000;
const THREE = 3 * MiB - 1000; // three slices, the last one short
const objects = { small: '/small.bin', three: '/three.bin', empty: '/empty.bin', one: '/one.bin' };
let etag = '';
const etagOf = (): string => etag;

/** We ignore the field and send the whole object; nginx answers `nginx` (416 unless told). */
const ignoredRange = (why: string, nginx = 416): Ours => ({ status: 200, bytes: [0, SMALL - 1], nginx, why });

const CASES: readonly Case[] = [
  { name: 'whole small object', path: objects.small },
  { name: 'whole 3-slice object', path: objects.three },
  { name: 'a-b', path: objects.small, headers: { range: 'bytes=0-499' } },
  { name: 'a-', path: objects.small, headers: { range: 'bytes=1000-' } },
  { name: 'suffix -n', path: objects.small, headers: { range: 'bytes=-500' } },
  { name: 'suffix longer than the object', path: objects.small, headers: { range: 'bytes=-999999' } },
  { name: 'end past EOF clamps', path: objects.small, headers: { range: 'bytes=4000-99999' } },
  { name: 'start = size → 416', path: objects.small, headers: { range: `bytes=${SMALL}-` } },
  { name: 'start > size → 416', path: objects.small, headers: { range: 'bytes=6000-7000' } },
  { name: 'bytes=0-0', path: objects.small, headers: { range: 'bytes=0-0' } },
  { name: 'last byte a-b', path: objects.small, headers: { range: `bytes=${SMALL - 1}-${SMALL - 1}` } },
  { name: 'last byte a-', path: objects.small, headers: { range: `bytes=${SMALL - 1}-` } },
  { name: 'last byte -1', path: objects.small, headers: { range: 'bytes=-1' } },
  { name: 'unit case-insensitive (Bytes=)', path: objects.small, headers: { range: 'Bytes=10-20' } },
  { name: 'unknown unit items=0-1 ignored', path: objects.small, headers: { range: 'items=0-1' } },
  {
    name: 'malformed bytes=abc',
    path: objects.small,
    headers: { range: 'bytes=abc' },
    ours: ignoredRange('Malformed ranges'),
  },
  {
    name: 'malformed bytes=5-2',
    path: objects.small,
    headers: { range: 'bytes=5-2' },
    ours: ignoredRange('Malformed ranges'),
  },
  { name: 'empty range set bytes= ignored', path: objects.small, headers: { range: 'bytes=' } },
  {
    name: 'whitespace around = (BYTES = 0-5) ignored',
    path: objects.small,
    headers: { range: 'BYTES = 0-5' },
  },
  {
    name: 'whitespace after = (bytes= 0-5)',
    path: objects.small,
    headers: { range: 'bytes= 0-5' },
    ours: ignoredRange('Whitespace inside a range', 206),
  },
  {
    name: 'whitespace inside a range (bytes=0 - 5)',
    path: objects.small,
    headers: { range: 'bytes=0 - 5' },
    ours: ignoredRange('Whitespace inside a range', 206),
  },
  {
    name: 'trailing empty list element (bytes=0-5, )',
    path: objects.small,
    headers: { range: 'bytes=0-5, ' },
    ours: {
      status: 206,
      contentRange: `bytes 0-5/${SMALL}`,
      bytes: [0, 5],
      nginx: 416,
      why: 'Empty list elements',
    },
  },
  { name: 'trailing OWS (bytes=0-5 )', path: objects.small, headers: { range: 'bytes=0-5 ' } },
  { name: 'suffix -0 → 416', path: objects.small, headers: { range: 'bytes=-0' } },
  {
    name: 'first-pos beyond 2^53 → 416',
    path: objects.small,
    headers: { range: 'bytes=99999999999999999999-' },
  },
  {
    name: 'malformed second spec (bytes=0-5,abc)',
    path: objects.small,
    headers: { range: 'bytes=0-5,abc' },
    ours: ignoredRange('Malformed ranges'),
  },
  {
    name: 'signed position (bytes=+5-6)',
    path: objects.small,
    headers: { range: 'bytes=+5-6' },
    ours: ignoredRange('Malformed ranges'),
  },
  {
    name: 'duplicate ranges coalesce (bytes=0-5,0-5)',
    path: objects.small,
    headers: { range: 'bytes=0-5,0-5' },
    ours: {
      status: 206,
      contentRange: `bytes 0-5/${SMALL}`,
      bytes: [0, 5],
      nginx: 200,
      why: 'Multi-range requests',
    },
  },
  {
    name: 'multi-range',
    path: objects.small,
    headers: { range: 'bytes=0-9,100-199' },
    ours: { status: 206, nginx: 200, why: 'Multi-range requests' },
  },
  {
    name: 'overlapping multi-range coalesces to one range',
    path: objects.small,
    headers: { range: 'bytes=0-99,50-149' },
    ours: {
      status: 206,
      contentRange: `bytes 0-149/${SMALL}`,
      bytes: [0, 149],
      nginx: 200,
      why: 'Multi-range requests',
    },
  },
  {
    name: 'If-Range ETag match → 206',
    path: objects.small,
    headers: { range: 'bytes=100-199', 'if-range': 'ETAG' },
  },
  {
    name: 'If-Range mismatch → full 200',
    path: objects.small,
    headers: { range: 'bytes=100-199', 'if-range': '"other"' },
  },
  { name: 'If-None-Match match → 304', path: objects.small, headers: { 'if-none-match': 'ETAG' } },
  { name: 'If-None-Match * → 304', path: objects.small, headers: { 'if-none-match': '*' } },
  { name: 'If-None-Match mismatch → 200', path: objects.small, headers: { 'if-none-match': '"other"' } },
  { name: 'If-Match mismatch → 412', path: objects.small, headers: { 'if-match': '"other"' } },
  { name: 'If-Match match → 200', path: objects.small, headers: { 'if-match': 'ETAG' } },
  { name: 'HEAD whole object', path: objects.three, method: 'HEAD' },
  { name: 'HEAD with a range', path: objects.three, method: 'HEAD', headers: { range: 'bytes=10-19' } },
  {
    name: 'zero-length object',
    path: objects.empty,
    ours: { status: 200, bytes: [0, -1], nginx: 416, why: 'Zero-length objects' },
  },
  { name: 'zero-length object, bytes=0- → 416', path: objects.empty, headers: { range: 'bytes=0-' } },
  { name: 'zero-length object, suffix bytes=-5', path: objects.empty, headers: { range: 'bytes=-5' } },
  { name: 'one-byte object', path: objects.one },
  { name: 'one-byte object, bytes=0-0', path: objects.one, headers: { range: 'bytes=0-0' } },
  { name: 'one-byte object, bytes=-5', path: objects.one, headers: { range: 'bytes=-5' } },
  { name: 'one-byte object, bytes=1- → 416', path: objects.one, headers: { range: 'bytes=1-' } },
  {
    name: 'range crossing two slice boundaries',
    path: objects.three,
    headers: { range: `bytes=${MiB - 576}-${2 * MiB + 424}` },
  },
  {
    name: 'exactly the second slice',
    path: objects.three,
    headers: { range: `bytes=${MiB}-${2 * MiB - 1}` },
  },
  {
    name: 'last slice, end past EOF',
    path: objects.three,
    headers: { range: `bytes=${2 * MiB + 5}-${4 * MiB}` },
  },
  { name: 'suffix crossing a boundary', path: objects.three, headers: { range: `bytes=-${MiB + 1}` } },
  {
    name: 'start = size of 3-slice object → 416',
    path: objects.three,
    headers: { range: `bytes=${THREE}-` },
  },
];

let origin: TestOrigin;
let nginx: RunningNginx;
let ours: { server: Server; handler: SliceHandler; url: string };
const agent = new Agent({ keepAliveTimeout: 10, connections: 4 });
const seeds = new Map<string, number>();

describe.skipIf(nginxReason !== undefined)(`nginx slice conformance${nginxReason ?? ''}`, () => {
  beforeAll(async () => {
    origin = await startOrigin();
    for (const [path, size] of [
      [objects.small, SMALL],
      [objects.three, THREE],
      [objects.empty, 0],
      [objects.one, 1],
    ] as const) {
      const object = origin.setObject(path, { size });
      seeds.set(path, object.seed);
      if (path === objects.small) etag = String(object.etag);
    }
    nginx = await startNginx(origin.port);
    const handler = createSliceHandler({ upstream: origin.url('/'), sliceSize: MiB });
    const server = createServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    ours = { server, handler, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  });

  afterAll(async () => {
    await agent.close();
    if (ours !== undefined) {
      ours.server.close();
      await ours.handler.close();
    }
    await nginx?.stop();
    await origin?.close();
  });

  it('is configured with at least 30 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  // Two passes: the first fills both caches (nginx's slices, our slices and metadata), the second is served from them.
  for (const pass of ['cold', 'warm'] as const) {
    describe(`${pass} cache`, () => {
      for (const c of CASES) {
        const title = c.ours === undefined ? `agrees with nginx: ${c.name}` : `differs on purpose: ${c.name}`;
        it(title, async () => {
          const [theirs, mine] = await Promise.all([send(nginx.url, c), send(ours.url, c)]);
          if (c.ours === undefined) {
            expect(mine).toEqual(theirs);
            expectSelfConsistent(c, mine);
            return;
          }
          const want = c.ours;
          expect(mine.status).toBe(want.status);
          if (want.contentRange !== undefined) expect(mine.contentRange).toBe(want.contentRange);
          if (want.bytes !== undefined) {
            const [start, end] = want.bytes;
            expect(mine.bodyLength).toBe(end - start + 1);
            expect(mine.bodyHash).toBe(hashOf(c.path, start, end));
          }
          expect(theirs.status).toBe(want.nginx);
          expect(mine).not.toEqual(theirs);
        });
      }
    });
  }

  it('answers a multi-range request with multipart/byteranges where nginx sends the whole object', async () => {
    const c: Case = { name: 'multi', path: objects.small, headers: { range: 'bytes=0-9,100-199' } };
    const theirs = await send(nginx.url, c);
    expect(theirs.status).toBe(200);
    expect(theirs.bodyHash).toBe(hashOf(objects.small, 0, SMALL - 1));
    const res = await request(`${ours.url}${c.path}`, { dispatcher: agent, headers: c.headers });
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(206);
    expect(String(res.headers['content-type'])).toMatch(/^multipart\/byteranges; boundary=/);
    expect(body.length).toBe(Number(res.headers['content-length']));
    expect(body.toString('latin1')).toContain(`Content-Range: bytes 0-9/${SMALL}`);
    expect(body.toString('latin1')).toContain(`Content-Range: bytes 100-199/${SMALL}`);
  });
});

// ---------------------------------------------------------------------------------------------------------

interface RunningNginx {
  readonly url: string;
  stop(): Promise<void>;
}

function nginxMissing(): string | undefined {
  if (!existsSync(NGINX)) return ` (skipped: ${NGINX} is not installed — apt-get install nginx)`;
  // `nginx -V` prints its build flags on stderr.
  const built = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  if (!`${built.stdout}${built.stderr}`.includes('--with-http_slice_module'))
    return ` (skipped: ${NGINX} was built without --with-http_slice_module)`;
  return undefined;
}

async function send(base: string, c: Case): Promise<Answer> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(c.headers ?? {}))
    headers[name] = value === 'ETAG' ? etagOf() : value;
  const res = await request(`${base}${c.path}`, { dispatcher: agent, method: c.method ?? 'GET', headers });
  const hash = createHash('sha256');
  let bodyLength = 0;
  for await (const chunk of res.body) {
    hash.update(chunk);
    bodyLength += chunk.byteLength;
  }
  // Error bodies (304/412/416 pages) legitimately differ between servers; only representation bytes are compared.
  const carriesObject = res.statusCode === 200 || res.statusCode === 206;
  return {
    status: res.statusCode,
    contentRange: header(res.headers['content-range']),
    contentLength: carriesObject ? header(res.headers['content-length']) : undefined,
    bodyHash: carriesObject ? hash.digest('hex') : '',
    bodyLength: carriesObject ? bodyLength : 0,
  };
}

/** Beyond agreeing with nginx, a 200/206 body must be the object's bytes that Content-Range names. */
function expectSelfConsistent(c: Case, answer: Answer): void {
  if (c.method === 'HEAD' || (answer.status !== 200 && answer.status !== 206)) return;
  const size = Number(answer.contentLength);
  if (answer.status === 200) {
    expect(answer.bodyHash).toBe(hashOf(c.path, 0, size - 1));
    return;
  }
  const match = /^bytes (\d+)-(\d+)\/\d+$/.exec(answer.contentRange ?? '');
  expect(match).not.toBeNull();
  expect(answer.bodyHash).toBe(hashOf(c.path, Number(match?.[1]), Number(match?.[2])));
}

function hashOf(path: string, start: number, end: number): string {
  return contentHash(seeds.get(path) ?? 0, start, end);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

async function startNginx(originPort: number): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'slice-nginx-'));
  for (const sub of ['cache', 'tmp']) await mkdir(join(dir, sub));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(dir, port, originPort));
  const started = waitForFile(dir, 'nginx.pid');
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit').then(async ([code]) => {
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    throw new Error(`nginx exited with ${String(code)}: ${stderr}\n${log}`);
  });
  await Promise.race([started, exited]);
  exited.catch(() => undefined);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        const gone = once(child, 'exit');
        child.kill('SIGQUIT');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function nginxConfig(dir: string, port: number, originPort: number): string {
  // As root the workers would drop to `nobody`, which cannot write into a 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `${user}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=slices:10m max_size=256m inactive=1h use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location / {
      slice 1m;
      proxy_cache slices;
      proxy_cache_key $uri$is_args$args$slice_range;
      proxy_set_header Range $slice_range;
      proxy_cache_valid 200 206 1h;
      proxy_http_version 1.1;
      proxy_pass http://127.0.0.1:${originPort};
    }
  }
}
`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * nginx writes its pid file after binding its listening sockets, so the file's appearance means connections
 * are accepted (queued by the kernel until the worker takes them) — an event to wait for, not a delay.
 */
function waitForFile(dir: string, name: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir, () => {
      if (existsSync(join(dir, name))) {
        watcher.close();
        resolve();
      }
    });
    if (existsSync(join(dir, name))) {
      watcher.close();
      resolve();
    }
  });
}
