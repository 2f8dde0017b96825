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

/** Usage text of `slice-proxy --help`. */
export const PROXY_USAGE = `Usage: slice-proxy [--config file.yaml] [flags]

  --config <file>        YAML file: every engine option plus upstream, listen, admin, store, purge
  --upstream <url>       origin base URL (required)
  --listen <host:port>   proxy address (default 127.0.0.1:8080)
  --admin <host:port>    /metrics and /healthz (default 127.0.0.1:9090)
  --slice-size <bytes>   e.g. 1048576 or 1MiB
  --concurrency <n>      sub-requests in flight per response
  --cache <type>         memory | fs | redis | tiered (memory in front of fs or redis)
  --cache-dir <dir>      directory of the fs cache
  --cache-size <bytes>   byte budget of each cache tier, e.g. 512MiB
  --redis-url <url>      redis://host:6379
  --purge-token <token>  enables PURGE /path with Authorization: Bearer <token>
  --send-timeout <ms>    disconnect a client that reads nothing this long (default 60000, 0 = never)
  --log-level <level>    fatal | error | warn | info | debug | trace | silent
Flags override the file.`;

/**
 * Reads `--config` (if any), maps the flags over it and validates the result with `sliceProxyConfigSchema`.
 * Returns `'help'` for `--help`.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` with one sentence per bad option (or an unreadable file / bad flag).
 * @example
 * ```ts
 * const config = await loadProxyConfig(['--upstream', 'http://127.0.0.1:8000', '--slice-size', '2MiB']);
 * ```
 */
export async function loadProxyConfig(argv: readonly string[]): Promise<SliceProxyConfig | 'help'> {
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
  const input: Record<string, unknown> = values.config === undefined ? {} : await readYaml(values.config);
  const store = isRecord(input.store) ? { ...input.store } : input.store === undefined ? {} : input.store;
  const set = (target: Record<string, unknown>, key: string, value: unknown): void => {
    if (value !== undefined) target[key] = value;
  };
  set(input, 'upstream', values.upstream);
  set(input, 'listen', values.listen);
  set(input, 'admin', values.admin);
  set(input, 'sliceSize', toNumber(values['slice-size']));
  set(input, 'concurrency', toNumber(values.concurrency));
  set(input, 'logLevel', values['log-level']);
  set(input, 'sendTimeoutMs', toMilliseconds(values['send-timeout']));
  if (values['purge-token'] !== undefined) input.purge = { token: values['purge-token'] };
  if (isRecord(store)) {
    set(store, 'type', values.cache);
    set(store, 'dir', values['cache-dir']);
    set(store, 'maxBytes', toNumber(values['cache-size']));
    set(store, 'redisUrl', values['redis-url']);
    if (Object.keys(store).length > 0 || input.store !== undefined) input.store = store;
  }
  return validateProxyConfig(input);
}

/**
 * A flag value as a number: plain integers and binary suffixes (`64KiB`, `1MiB`, `2GiB`, or `K`/`M`/`G`).
 * Anything else is passed through as the string, so the schema names it in its sentence.
 *
 * @example
 * ```ts
 * toNumber('2MiB'); // 2097152
 * ```
 */
export function toNumber(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s*(k|m|g|kib|mib|gib)?\s*$/i.exec(value);
  if (m === null) return value;
  const unit = (m[2] ?? '').toLowerCase().charAt(0);
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * factor;
}

// ---------------------------------------------------------------------------------------------------------

/** A flag value in milliseconds: a plain integer; anything else passes through for the schema to name. */
function toMilliseconds(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s*$/.exec(value);
  return m === null ? value : Number(m[1]);
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
      'slice-size': { type: 'string' },
      concurrency: { type: 'string' },
      cache: { type: 'string' },
      'cache-dir': { type: 'string' },
      'cache-size': { type: 'string' },
      'redis-url': { type: 'string' },
      'purge-token': { type: 'string' },
      'log-level': { type: 'string' },
      'send-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function readYaml(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SliceFetchError('ERR_SLICE_CONFIG', `Cannot read the configuration file \`${file}\`.`, {
      cause: error,
    });
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
