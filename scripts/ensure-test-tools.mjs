#!/usr/bin/env node
/**
 * `pretest`: makes sure the system tools the end-to-end tests drive are present, so `npm test` works on a fresh
 * machine. The tests spawn `redis-server` (from `PATH`, or `$REDIS_SERVER`; test/support/redis-server.ts),
 * `curl` and `aria2c` (test/e2e/clients.e2e.test.ts), `/usr/sbin/nginx`, built with its slice module
 * (test/e2e/nginx-conformance.e2e.test.ts), and `/usr/sbin/haproxy` (or `$SLICE_FETCH_HAPROXY`; test/fleet/).
 *
 * Missing tools are installed from Debian's packages when the system has `apt-get` and we are root; anywhere
 * else the script stops with one sentence naming what is missing and how to install it, and exits 1.
 *
 * Environment (the overrides exist so a test can simulate other machines):
 * - `SLICE_FETCH_SKIP_TOOLS=1`: check nothing (for running unit tests on a machine without the tools).
 * - `SLICE_FETCH_NGINX`: where nginx is looked for (default `/usr/sbin/nginx`, the path the tests use).
 * - `SLICE_FETCH_AS_ROOT=0|1`: pretend not to be / to be root.
 * - `SLICE_FETCH_APT=0`: pretend apt-get is not available.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import process from 'node:process';

const env = process.env;

if (env.SLICE_FETCH_SKIP_TOOLS === '1') process.exit(0);

const NGINX = {
  name: 'nginx',
  command: env.SLICE_FETCH_NGINX || '/usr/sbin/nginx',
  pkg: 'nginx',
  brew: 'nginx',
};
/** Each tool: how to find it, and the Debian package (and the Homebrew formula) that provides it. */
const TOOLS = [
  { name: 'redis-server', command: env.REDIS_SERVER || 'redis-server', pkg: 'redis-server', brew: 'redis' },
  NGINX,
  { name: 'aria2c', command: 'aria2c', pkg: 'aria2', brew: 'aria2' },
  { name: 'curl', command: 'curl', pkg: 'curl', brew: 'curl' },
  // The fleet tests put HAProxy in front of slice-proxy nodes (docs/fleet.md).
  {
    name: 'haproxy',
    command: env.SLICE_FETCH_HAPROXY || '/usr/sbin/haproxy',
    pkg: 'haproxy',
    brew: 'haproxy',
  },
];

function isExecutable(path) {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The command's path: itself when it has a slash, else the first executable of that name on `PATH`. */
function which(command) {
  if (isAbsolute(command) || command.includes('/')) return isExecutable(command) ? command : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, command);
    if (isExecutable(path)) return path;
  }
  return undefined;
}

const missingTools = () => TOOLS.filter((tool) => which(tool.command) === undefined);

/** "a", "a and b", "a, b and c". */
function list(words) {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function fail(sentence) {
  console.error(sentence);
  process.exit(1);
}

let missing = missingTools();
if (missing.length === 0) process.exit(0);

const names = list(missing.map((tool) => tool.name));
const packages = missing.map((tool) => tool.pkg).join(' ');
const isRoot =
  env.SLICE_FETCH_AS_ROOT !== undefined ? env.SLICE_FETCH_AS_ROOT === '1' : process.getuid?.() === 0;
const apt = env.SLICE_FETCH_APT === '0' ? undefined : which('apt-get');
const verb = missing.length === 1 ? 'is' : 'are';

if (apt === undefined) {
  const brew = missing.map((tool) => tool.brew).join(' ');
  fail(
    `The end-to-end tests need ${names}, which ${verb} not installed: install ${missing.length === 1 ? 'it' : 'them'} ` +
      `with your package manager (Debian/Ubuntu: \`sudo apt-get install ${packages}\`, macOS: \`brew install ${brew}\`` +
      `${missing.includes(NGINX) ? `, with nginx at ${NGINX.command}` : ''}), ` +
      'or set SLICE_FETCH_SKIP_TOOLS=1 to run the tests without them.',
  );
}
if (!isRoot) {
  fail(
    `The end-to-end tests need ${names}, which ${verb} not installed: run \`sudo apt-get update && sudo apt-get install -y ${packages}\` ` +
      'and then `npm test` again.',
  );
}

console.error(`pretest: installing ${packages} (apt-get) for the end-to-end tests`);
const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', ...missing.map((tool) => tool.pkg)],
]) {
  const run = spawnSync(apt, args, { env: aptEnv, stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0)
    fail(
      `\`apt-get ${args.join(' ')}\` failed (${run.error?.message ?? `exit ${run.status ?? run.signal}`}), so ${names} ` +
        `${verb} still missing: install ${packages} by hand and run \`npm test\` again.`,
    );
}

missing = missingTools();
if (missing.length > 0)
  fail(
    `apt-get installed ${packages}, but ${list(missing.map((tool) => `${tool.name} (${tool.command})`))} ` +
      `${missing.length === 1 ? 'is' : 'are'} still not found: check PATH and the tool overrides (REDIS_SERVER, SLICE_FETCH_NGINX).`,
  );
