#!/usr/bin/env node
/**
 * The packed tarball works for a new user: `npm pack` (of the built `dist/`), `npm i <tgz>` into an empty
 * folder (dependencies from the registry, no optional peer), and then, from that folder only:
 *
 * - `npx slice-proxy --help`, `npx slice-proxy --version` and `npx slice-fetch --version` answer (`npx --no --`:
 *   the installed bins, never a package of that name fetched from the registry);
 * - the root entry loads through `import` and `require`;
 * - `npx slice-proxy` in front of a small local origin serves a range byte-exact and answers `/metrics` with
 *   200 and `slice_` counters;
 * - the README's "Use it from code" example runs against the local origin (instead of cdn.example.com) and
 *   prints the status, `Content-Range` and `x-slice-cache` it promises, with the right bytes.
 *
 * Every process it starts is stopped, and the folder and the tarball removed, whatever happens. Run after
 * `npm run build` (CI: `.ci/run`); `npm run check:pack`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { transformSync } from 'esbuild';

const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const DEADLINE_MS = 120_000;
const EXAMPLE_URL = 'https://cdn.example.com/video.mp4';
const OBJECT_PATH = '/video.mp4';
const SIZE = 4 * 1024 * 1024;

/** Deterministic bytes: each 32-byte block is the SHA-256 of its index, so a misplaced slice shows. */
const object = Buffer.alloc(SIZE);
for (let i = 0; i * 32 < SIZE; i++)
  createHash('sha256')
    .update(String(i))
    .digest()
    .copy(object, i * 32);
const ETAG = `"${createHash('sha256').update(object).digest('hex').slice(0, 16)}"`;

const work = mkdtempSync(join(tmpdir(), 'slice-fetch-pack-'));
const children = new Set();
let origin;
let originRequests = 0;

const log = (line) => console.log(`check-pack: ${line}`);

async function main() {
  const started = performance.now();

  // 1. Pack and install into an empty folder.
  expect(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is missing: run `npm run build` first');
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
  const [{ filename, files }] = JSON.parse(packed.stdout);
  const tarball = join(work, filename);
  const paths = files.map((file) => file.path);
  for (const path of [
    'package.json',
    'README.md',
    'LICENSE',
    'CHANGELOG.md',
    'dist/index.js',
    'dist/cli/slice-proxy.js',
  ])
    expect(paths.includes(path), `the tarball lacks ${path}`);
  log(`packed ${filename} (${files.length} files)`);
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'new-user', private: true, type: 'module' }, null, 2)}\n`,
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app });
  log('installed the tarball into an empty folder');

  // 2. The command-line tools answer. `--no`: never fetch a package of that name from the registry.
  const help = await run('npx', ['--no', '--', 'slice-proxy', '--help'], { cwd: app });
  expect(/^Usage: slice-proxy/m.test(help.stdout), `slice-proxy --help printed:\n${help.stdout}`);
  for (const bin of ['slice-proxy', 'slice-fetch']) {
    const version = await run('npx', ['--no', '--', bin, '--version'], { cwd: app });
    expect(
      version.stdout.trim() === `${bin} ${pkg.version}`,
      `${bin} --version printed ${JSON.stringify(version.stdout.trim())}, expected "${bin} ${pkg.version}"`,
    );
  }
  log('npx slice-proxy --help, npx slice-proxy --version and npx slice-fetch --version answer');

  // 3. The library loads from both module systems without its optional peers.
  const esm = await run(
    'node',
    [
      '--input-type=module',
      '-e',
      "import('slice-fetch').then((m) => console.log(typeof m.createSliceFetcher))",
    ],
    { cwd: app },
  );
  const cjs = await run('node', ['-e', "console.log(typeof require('slice-fetch').createSliceFetcher)"], {
    cwd: app,
  });
  expect(esm.stdout.trim() === 'function' && cjs.stdout.trim() === 'function', 'the root entry did not load');
  log("import('slice-fetch') and require('slice-fetch') load");

  // 4. A local origin, and slice-proxy in front of it.
  origin = await startOrigin();
  const base = `http://127.0.0.1:${origin.address().port}`;
  const proxy = await startProxy(app, base);
  const res = await fetch(`http://${proxy.listen}${OBJECT_PATH}`, {
    headers: { range: 'bytes=1048000-3000000' },
  });
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status === 206, `slice-proxy answered ${res.status} to a range`);
  expect(body.equals(object.subarray(1048000, 3000001)), 'slice-proxy served wrong bytes');
  const metrics = await fetch(`http://${proxy.admin}/metrics`);
  const text = await metrics.text();
  expect(metrics.status === 200, `/metrics answered ${metrics.status}`);
  expect(text.includes('slice_'), `/metrics has no slice_ metric:\n${text.slice(0, 500)}`);
  log(
    `npx slice-proxy served a range byte-exact and /metrics (200, ${text.split('\n').filter((l) => l.startsWith('slice_')).length} slice_ samples)`,
  );
  await stop(proxy.child);
  log('slice-proxy stopped');

  // 5. The README's "Use it from code" example, pointed at the local origin.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it from code'));
  const source = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(
    source?.includes(EXAMPLE_URL),
    `README "Use it from code" no longer fetches ${EXAMPLE_URL}; update check-pack.mjs`,
  );
  const example = transformSync(source.replaceAll(EXAMPLE_URL, `${base}${OBJECT_PATH}`), {
    loader: 'ts',
    format: 'esm',
  }).code;
  writeFileSync(join(app, 'readme-example.mjs'), example);
  const ran = await run('node', ['readme-example.mjs'], { cwd: app, binary: true });
  const out = ran.stdoutBuffer;
  const firstLine = out.subarray(0, out.indexOf(10)).toString();
  expect(
    firstLine === `206 bytes 1000000-1999999/${SIZE} MISS`,
    `the README example printed ${JSON.stringify(firstLine)}`,
  );
  expect(out.includes(object.subarray(1000000, 2000000)), 'the README example wrote wrong bytes');
  log(`the README "Use it from code" example ran: ${firstLine}`);

  log(`passed in ${((performance.now() - started) / 1000).toFixed(1)} s (${originRequests} origin requests)`);
}

// ---------------------------------------------------------------------------------------------------------

function expect(ok, message) {
  if (!ok) throw new Error(message);
}

/** Runs a command to completion; rejects with its output when it fails. */
function run(command, args, { cwd = work, binary = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(child);
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      const result = {
        stdout: Buffer.concat(stdout).toString(),
        stdoutBuffer: binary ? Buffer.concat(stdout) : undefined,
        stderr: Buffer.concat(stderr).toString(),
      };
      if (code === 0) resolve(result);
      else
        reject(
          new Error(
            `\`${command} ${args.join(' ')}\` failed (${code ?? signal}):\n${result.stderr || result.stdout}`.trimEnd(),
          ),
        );
    });
  });
}

/** A small origin: one object, single ranges (206), strong ETag, HEAD. */
function startOrigin() {
  const server = createServer((req, res) => {
    originRequests++;
    if (req.url !== OBJECT_PATH) {
      res.writeHead(404).end();
      return;
    }
    const headers = { etag: ETAG, 'accept-ranges': 'bytes', 'content-type': 'video/mp4' };
    const match = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = SIZE - 1;
    let status = 200;
    if (match !== null) {
      const [, first, last] = match;
      if (first === '') start = Math.max(0, SIZE - Number(last));
      else {
        start = Number(first);
        if (last !== '') end = Math.min(end, Number(last));
      }
      if (start >= SIZE || start > end) {
        res.writeHead(416, { 'content-range': `bytes */${SIZE}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${SIZE}`;
    }
    headers['content-length'] = String(end - start + 1);
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : object.subarray(start, end + 1));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** `npx slice-proxy` on free ports; resolves its addresses once it logs "listening". */
function startProxy(cwd, upstream) {
  const args = [
    '--no',
    '--',
    'slice-proxy',
    '--upstream',
    upstream,
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
  ];
  // Its own process group, so `npx` and the node process it starts are stopped together.
  const child = spawn('npx', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(child);
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('slice-proxy did not log "listening" within 20 s')),
      20_000,
    );
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`slice-proxy exited (${code ?? signal}) before listening:\n${Buffer.concat(stderr)}`)),
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.includes('"listening"')) return;
      clearTimeout(timer);
      const { listen, admin } = JSON.parse(line);
      resolve({ child, listen, admin });
    });
  });
}

/** SIGTERM to the child's process group, SIGKILL after 5 s; resolves when it has exited. */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const kill = setTimeout(() => signalGroup(child, 'SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      children.delete(child);
      resolve();
    });
    signalGroup(child, 'SIGTERM');
  });
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function cleanUp() {
  await Promise.all([...children].map(stop));
  if (origin !== undefined) {
    const closed = new Promise((resolve) => origin.close(() => resolve()));
    origin.closeAllConnections();
    await closed;
  }
  rmSync(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    console.error(`check-pack: ${signal}, cleaning up`);
    void cleanUp().finally(() => process.exit(1));
  });
const deadline = setTimeout(() => {
  console.error(`check-pack: FAILED: still running after ${DEADLINE_MS / 1000} s`);
  void cleanUp().finally(() => process.exit(1));
}, DEADLINE_MS);

try {
  await main();
} catch (error) {
  console.error(`check-pack: FAILED: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
  await cleanUp();
}
