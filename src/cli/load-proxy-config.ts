/**
 * Loading the `slice-proxy` configuration: the command-line flags and their usage text, the `--config` YAML file
 * they are laid over, and the result validated by the one proxy schema (proxy-config.ts), so the file, the flags
 * and the library word every error the same way (R1).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { SliceFetchError } from '../core/errors.js';
import { got, isRecord, type SliceProxyConfig, validateProxyConfig } from './proxy-config.js';
import { integerFlag, parseSize, sizeFlag } from './sizes.js';

/** Usage text of `slice-proxy --help`. */
export const PROXY_USAGE = `Usage: slice-proxy [--config file.yaml] [flags]

  -c, --config <file>       YAML file: every engine option plus the proxy's keys (README "Command line")
  --upstream <url>          origin base URL (required)
  --listen <host:port>      proxy address (default 127.0.0.1:8080; port 0-65535, 0 = any free port)
  --admin <host:port>       /metrics and /healthz (default 127.0.0.1:9090)
  --tls-cert <file>         PEM certificate chain: listen with HTTPS (with --tls-key)
  --tls-key <file>          PEM private key of --tls-cert
  --slice-size <bytes>      e.g. 1048576, 1MiB or 1M (binary), 1MB (decimal: 10^6)
  --concurrency <n>         sub-requests in flight per response
  --cache <type>            memory | fs | redis | tiered (memory in front of fs or redis) |
                            coordinated (bytes in --cache-dir, Redis coordinating a fleet)
  --cache-dir <dir>         directory of the fs cache (checked at start-up)
  --cache-size <bytes>      byte budget of each cache tier, e.g. 20GiB (memory and fs: 256MiB when unset;
                            redis: none unless set, its maxmemory rules)
  --redis-url <url>         redis://host:6379
  --redis-cluster <urls>    a few Redis Cluster nodes, comma-separated or repeated: redis://a:6379,redis://b:6379
  --purge-token <token>     enables PURGE /path with Authorization: Bearer <token>
  --include <regex>         only GETs whose path+query matches are sliced (repeatable)
  --exclude <regex>         GETs whose path+query matches are proxied unsliced (repeatable)
  --min-size <bytes>        objects smaller than this are proxied unsliced
  --forward-header <name>   a request header sent to the origin (repeatable; replaces the default list)
  --pass-through <mode>     other methods: proxy (default) | refuse (405)
  --send-timeout <ms>       disconnect a client that reads nothing this long (default 60000, 0 = never)
  --shutdown-timeout <ms>   how long SIGTERM/SIGINT let responses finish (default 10000)
  --log-level <level>       fatal | error | warn | info | debug | trace | silent
  -h, --help                this text
  --version                 the version
Flags override the file. Sizes: K, M, G, KiB, MiB, GiB are powers of 1024; kB, MB, GB powers of 1000.`;

/**
 * Reads `--config` (if any), maps the flags over it and validates the result with `sliceProxyConfigSchema`.
 * Returns `'help'` for `--help` and `'version'` for `--version`.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` with one sentence per bad option (or an unreadable file / bad flag).
 * @example
 * ```ts
 * const config = await loadProxyConfig(['--upstream', 'http://127.0.0.1:8000', '--slice-size', '2MiB']);
 * ```
 */
export async function loadProxyConfig(
  argv: readonly string[],
): Promise<SliceProxyConfig | 'help' | 'version'> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    throw new SliceFetchError('ERR_SLICE_CONFIG', `${(error as Error).message}\n\n${PROXY_USAGE}`, {
      cause: error,
    });
  }
  const { values } = parsed;
  if (values.help === true) return 'help';
  if (values.version === true) return 'version';
  const input: Record<string, unknown> = values.config === undefined ? {} : await readYaml(values.config);
  sizesIn(input);
  const store = isRecord(input.store) ? { ...input.store } : input.store === undefined ? {} : input.store;
  const set = (target: Record<string, unknown>, key: string, value: unknown): void => {
    if (value !== undefined) target[key] = value;
  };
  set(input, 'upstream', values.upstream);
  set(input, 'listen', values.listen);
  set(input, 'admin', values.admin);
  set(input, 'sliceSize', sizeFlag(values['slice-size']));
  set(input, 'concurrency', integerFlag(values.concurrency));
  set(input, 'logLevel', values['log-level']);
  set(input, 'sendTimeoutMs', integerFlag(values['send-timeout']));
  set(input, 'shutdownMs', integerFlag(values['shutdown-timeout']));
  set(input, 'include', values.include);
  set(input, 'exclude', values.exclude);
  set(input, 'minSize', sizeFlag(values['min-size']));
  set(input, 'forwardRequestHeaders', values['forward-header']);
  set(input, 'passThroughMethods', values['pass-through']);
  if (values['purge-token'] !== undefined) input.purge = { token: values['purge-token'] };
  if (values['tls-cert'] !== undefined || values['tls-key'] !== undefined) {
    const tls: Record<string, unknown> = isRecord(input.tls) ? { ...input.tls } : {};
    set(tls, 'cert', values['tls-cert']);
    set(tls, 'key', values['tls-key']);
    input.tls = tls;
  }
  if (isRecord(store)) {
    set(store, 'type', values.cache);
    set(store, 'dir', values['cache-dir']);
    set(store, 'maxBytes', sizeFlag(values['cache-size']));
    set(store, 'redisUrl', values['redis-url']);
    set(
      store,
      'redisCluster',
      values['redis-cluster']?.flatMap((list) => list.split(',')),
    );
    if (Object.keys(store).length > 0 || input.store !== undefined) input.store = store;
  }
  return validateProxyConfig(input);
}

// ---------------------------------------------------------------------------------------------------------

/** The keys holding byte counts: a string there (`1MiB`, `512MB`) is read as a size (sizes.ts). */
const SIZE_PATHS: readonly (readonly string[])[] = [
  ['sliceSize'],
  ['maxBufferedBytes'],
  ['maxObjectSize'],
  ['minSize'],
  ['store', 'maxBytes'],
];

/** Replaces size strings among the file's values by their byte counts; anything else is left to the schema. */
function sizesIn(input: Record<string, unknown>): void {
  for (const path of SIZE_PATHS) {
    let parent: unknown = input;
    for (const key of path.slice(0, -1)) parent = isRecord(parent) ? parent[key] : undefined;
    const last = path[path.length - 1] as string;
    if (!isRecord(parent)) continue;
    const value = parent[last];
    if (typeof value === 'string') parent[last] = parseSize(value);
  }
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      upstream: { type: 'string' },
      listen: { type: 'string' },
      admin: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'slice-size': { type: 'string' },
      concurrency: { type: 'string' },
      cache: { type: 'string' },
      'cache-dir': { type: 'string' },
      'cache-size': { type: 'string' },
      'redis-url': { type: 'string' },
      'redis-cluster': { type: 'string', multiple: true },
      'purge-token': { type: 'string' },
      include: { type: 'string', multiple: true },
      exclude: { type: 'string', multiple: true },
      'min-size': { type: 'string' },
      'forward-header': { type: 'string', multiple: true },
      'pass-through': { type: 'string' },
      'log-level': { type: 'string' },
      'send-timeout': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
}

async function readYaml(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    // Node's message carries the reason and the path: "ENOENT: no such file or directory, open 'x.yaml'".
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Cannot read the configuration file \`${file}\`: ${(error as Error).message}.`,
      { cause: error },
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `The configuration file \`${file}\` is not valid YAML: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc))
    throw new SliceFetchError(
      'ERR_SLICE_CONFIG',
      `Expected the configuration file \`${file}\` to hold a mapping, got ${got(doc)}.`,
    );
  return { ...doc };
}
