/**
 * The `slice-proxy` configuration: ONE zod schema — the engine's `sliceFetchConfigSchema` extended with the
 * proxy's own keys (upstream, listen, admin, store, purge) — that validates both a YAML file and the command-line
 * flags (mapped into the same object first, load-proxy-config.ts), worded with the library's sentences (R1).
 *
 * @module
 */
import * as z from 'zod/mini';
import { parseConfig, sliceFetchConfigSchema } from '../core/config.js';
import type { SliceFetchConfigInput } from '../core/config-types.js';
import { isSliceFetchError, SliceFetchError } from '../core/errors.js';

/** An HTTP field name (RFC 9110 §5.1: a token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The longest `sendTimeoutMs`: a day, well below the 2^31 − 1 ms a Node timer can wait (longer ones fire at once). */
const MAX_SEND_TIMEOUT_MS = 86_400_000;

/**
 * The schema of a `slice-proxy` configuration file: every engine option plus the proxy's keys. Unknown keys are
 * errors, as in the engine's schema; the engine's cross-field check (`maxBufferedBytes ≥ sliceSize`) is kept.
 *
 * @example
 * ```ts
 * sliceProxyConfigSchema.parse({ upstream: 'http://127.0.0.1:8000', store: { type: 'memory' } }).listen; // '127.0.0.1:8080'
 * ```
 */
export const sliceProxyConfigSchema = z
  .safeExtend(sliceFetchConfigSchema, {
    upstream: z.url({ protocol: /^https?$/ }),
    listen: z._default(address('listen'), '127.0.0.1:8080'),
    admin: z._default(address('admin'), '127.0.0.1:9090'),
    store: z.prefault(
      z.strictObject({
        type: z._default(z.enum(['memory', 'fs', 'redis', 'tiered', 'coordinated']), 'memory'),
        dir: z.optional(z.string().check(z.minLength(1))),
        // No default here: memory and disk tiers get DEFAULT_TIER_BYTES, a Redis tier none (its maxmemory rules).
        maxBytes: z.optional(z.int().check(z.minimum(1024 * 1024), z.maximum(Number.MAX_SAFE_INTEGER))),
        redisUrl: z.optional(z.url({ protocol: /^rediss?$/ })),
        redisCluster: z.optional(z.array(z.url({ protocol: /^rediss?$/ })).check(z.minLength(1))),
      }),
      {},
    ),
    purge: z.optional(z.strictObject({ token: z.string().check(z.minLength(1)) })),
    tls: z.optional(
      z.strictObject({ cert: z.string().check(z.minLength(1)), key: z.string().check(z.minLength(1)) }),
    ),
    include: z.optional(patterns('include')),
    exclude: z.optional(patterns('exclude')),
    minSize: z._default(z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)), 0),
    forwardRequestHeaders: z.optional(z.array(z.string().check(z.regex(HEADER_NAME)))),
    passThroughMethods: z._default(z.enum(['proxy', 'refuse']), 'proxy'),
    shutdownMs: z._default(z.int().check(z.minimum(0), z.maximum(600_000)), 10_000),
    sendTimeoutMs: z._default(z.int().check(z.minimum(0), z.maximum(MAX_SEND_TIMEOUT_MS)), 60_000),
    logLevel: z._default(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  })
  .check(
    z.superRefine((value, ctx) => {
      const { type, dir, redisUrl, redisCluster } = value.store ?? {};
      const redis = redisUrl !== undefined || redisCluster !== undefined;
      if ((type === 'fs' || type === 'coordinated' || (type === 'tiered' && !redis)) && dir === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['store', 'dir'],
          message: `Expected \`store.dir\` (--cache-dir) to be set for the \`${type}\` cache, got nothing.`,
        });
      if ((type === 'redis' || type === 'coordinated') && !redis)
        ctx.addIssue({
          code: 'custom',
          path: ['store', 'redisUrl'],
          message: `Expected \`store.redisUrl\` (--redis-url) or \`store.redisCluster\` (--redis-cluster) to be set for the \`${type}\` cache, got nothing.`,
        });
      if (redisUrl !== undefined && redisCluster !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['store', 'redisCluster'],
          message:
            'Expected one of `store.redisUrl` (--redis-url) and `store.redisCluster` (--redis-cluster), got both.',
        });
    }),
  );

/** One proxy-only key of {@link sliceProxyConfigSchema}, for the README's reference (a test keeps them equal). */
export interface ProxyOptionDoc {
  readonly path: string;
  readonly flag: string;
  readonly default: string;
  readonly description: string;
}

/** The proxy's own keys; the engine's are described by `describeConfig()`. */
export const PROXY_OPTION_DOCS: readonly ProxyOptionDoc[] = [
  {
    path: 'upstream',
    flag: '--upstream',
    default: '(required)',
    description: 'Origin base URL; the only place requests go.',
  },
  { path: 'listen', flag: '--listen', default: '127.0.0.1:8080', description: 'Address of the proxy.' },
  { path: 'admin', flag: '--admin', default: '127.0.0.1:9090', description: '`/metrics` and `/healthz`.' },
  {
    path: 'tls.cert',
    flag: '--tls-cert',
    default: '',
    description: 'PEM certificate chain file: the proxy listens with HTTPS (with `tls.key`).',
  },
  { path: 'tls.key', flag: '--tls-key', default: '', description: 'PEM private key file of `tls.cert`.' },
  {
    path: 'store.type',
    flag: '--cache',
    default: 'memory',
    description:
      '`memory`, `fs`, `redis`, `tiered` (memory in front of redis, else fs) or `coordinated` (bytes on this disk, Redis coordinating the fleet: docs/fleet.md).',
  },
  { path: 'store.dir', flag: '--cache-dir', default: '', description: 'Directory of the fs cache.' },
  {
    path: 'store.maxBytes',
    flag: '--cache-size',
    default: '',
    description:
      'Byte budget of each cache tier: 268435456 for memory and fs when unset; Redis has none unless set (its `maxmemory` rules).',
  },
  {
    path: 'store.redisUrl',
    flag: '--redis-url',
    default: '',
    description: '`redis://host:6379` for the redis cache.',
  },
  {
    path: 'store.redisCluster',
    flag: '--redis-cluster',
    default: '',
    description:
      'URLs of a few Redis Cluster nodes for the redis cache (instead of `redisUrl`); the rest is discovered.',
  },
  {
    path: 'purge.token',
    flag: '--purge-token',
    default: '',
    description: 'Enables `PURGE /path` with `Authorization: Bearer <token>`.',
  },
  {
    path: 'include',
    flag: '--include',
    default: '',
    description: 'Regular expressions (path+query); only matching GETs are sliced. Repeat the flag.',
  },
  {
    path: 'exclude',
    flag: '--exclude',
    default: '',
    description: 'Regular expressions (path+query); matching GETs are proxied unsliced. Repeat the flag.',
  },
  {
    path: 'minSize',
    flag: '--min-size',
    default: '0',
    description:
      'Objects smaller than this (bytes, e.g. `1MiB`) are proxied unsliced once their size is known.',
  },
  {
    path: 'forwardRequestHeaders',
    flag: '--forward-header',
    default: '',
    description:
      'Request headers sent to the origin (default `authorization`, `cookie`, `user-agent`, `accept-language`). Repeat the flag.',
  },
  {
    path: 'passThroughMethods',
    flag: '--pass-through',
    default: 'proxy',
    description:
      'Methods other than GET/HEAD/PURGE: `proxy` streams them to the origin, `refuse` answers 405.',
  },
  {
    path: 'shutdownMs',
    flag: '--shutdown-timeout',
    default: '10000',
    description:
      'Milliseconds SIGTERM/SIGINT let in-flight responses finish; closing the stores gets at most 1 s more.',
  },
  {
    path: 'sendTimeoutMs',
    flag: '--send-timeout',
    default: '60000',
    description: 'Milliseconds a client may read nothing before it is disconnected; `0` never.',
  },
  { path: 'logLevel', flag: '--log-level', default: 'info', description: 'pino level, or `silent`.' },
];

/** The validated proxy configuration. */
export type SliceProxyConfig = z.output<typeof sliceProxyConfigSchema>;

/**
 * Validates a configuration object with {@link sliceProxyConfigSchema}; errors carry the library's sentences.
 *
 * @throws {SliceFetchError} `ERR_SLICE_CONFIG` naming every bad path, one sentence each.
 * @example
 * ```ts
 * validateProxyConfig({ upstream: 'http://o', sliceSize: 0 });
 * // Expected `sliceSize` to be an integer between 65536 and 67108864, got `0`.
 * ```
 */
export function validateProxyConfig(input: unknown): SliceProxyConfig {
  return validate(input);
}

/**
 * The engine options of a proxy configuration (the keys of `sliceFetchConfigSchema`), for `createSliceFetcher`.
 *
 * @example
 * ```ts
 * const fetcher = createSliceFetcher({ ...engineOptions(config), cache: store });
 * ```
 */
export function engineOptions(config: SliceProxyConfig): SliceFetchConfigInput {
  return Object.fromEntries(
    Object.entries(config).filter(([key]) => ENGINE_KEYS.has(key)),
  ) as SliceFetchConfigInput;
}

/** Whether `value` is a mapping (an object, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The offending value in backticks, strings quoted — the engine's own wording (src/core/config.ts). */
export function got(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'object' && value !== null) text = JSON.stringify(value) ?? String(value);
  else text = String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\``;
}

// ---------------------------------------------------------------------------------------------------------

/** A `host:port` key: the shape, then the port's range (checked here, before anything tries to bind it). */
function address(key: string) {
  return z.string().check(
    z.regex(hostPort()),
    z.superRefine((value, ctx) => {
      const m = hostPort().exec(value);
      // Without the shape, the shape's own sentence applies.
      if (m !== null && Number(m[2]) > 65_535)
        ctx.addIssue({
          code: 'custom',
          message: `Expected \`${key}\` to be a host:port address with a port between 0 and 65535, got ${got(value)}.`,
        });
    }),
  );
}

/** A list of regular-expression sources, each compiled once here so a bad one is named at start-up. */
function patterns(key: string) {
  return z.array(z.string()).check(
    z.superRefine((list, ctx) => {
      list.forEach((pattern, i) => {
        try {
          new RegExp(pattern);
        } catch {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `Expected \`${key}[${i}]\` to be a valid regular expression, got ${got(pattern)}.`,
          });
        }
      });
    }),
  );
}

function hostPort(): RegExp {
  // host:port with an IPv4 address, a name, or a bracketed IPv6 address; port 0 means "any free port".
  return /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
}

const ENGINE_KEYS = new Set(Object.keys(sliceFetchConfigSchema.shape));

/** What each proxy key must be, for the sentence "Expected `x` to be …, got `y`." */
const EXPECTED: Readonly<Record<string, string>> = {
  upstream: 'an absolute http(s) URL',
  listen: 'a host:port address',
  admin: 'a host:port address',
  store: 'an object',
  'store.type': 'one of `memory`, `fs`, `redis`, `tiered`, `coordinated`',
  'store.dir': 'a directory path',
  'store.maxBytes': `an integer between ${1024 * 1024} and ${Number.MAX_SAFE_INTEGER}`,
  'store.redisUrl': 'a redis:// or rediss:// URL',
  'store.redisCluster': 'a non-empty list of redis:// or rediss:// URLs',
  'store.redisCluster.*': 'a redis:// or rediss:// URL',
  purge: 'an object with a `token`',
  'purge.token': 'a non-empty string',
  tls: 'an object with `cert` and `key`',
  'tls.cert': 'a certificate file path',
  'tls.key': 'a private key file path',
  include: 'a list of regular expressions',
  'include.*': 'a regular expression',
  exclude: 'a list of regular expressions',
  'exclude.*': 'a regular expression',
  minSize: `an integer between 0 and ${Number.MAX_SAFE_INTEGER}`,
  forwardRequestHeaders: 'a list of header names',
  'forwardRequestHeaders.*': 'a header name',
  passThroughMethods: 'one of `proxy`, `refuse`',
  shutdownMs: 'an integer between 0 and 600000',
  sendTimeoutMs: `an integer between 0 and ${MAX_SEND_TIMEOUT_MS}`,
  logLevel: 'one of `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`',
};

function validate(input: unknown): SliceProxyConfig {
  const result = sliceProxyConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const sentences: string[] = [];
  const paths: string[] = [];
  const add = (path: string, sentence: string): void => {
    if (paths.includes(path)) return;
    paths.push(path);
    sentences.push(sentence);
  };
  // The engine's keys are worded by the engine itself, so the file, the flags and the library say the same thing.
  if (isRecord(input)) {
    const engine = Object.fromEntries(Object.entries(input).filter(([k]) => ENGINE_KEYS.has(k)));
    try {
      parseConfig(engine);
    } catch (error) {
      if (!isSliceFetchError(error)) throw error;
      const lines = error.message.split('\n').slice(1);
      (error.details.paths ?? []).forEach((path, i) => {
        add(path, lines[i] ?? error.message);
      });
    }
  }
  for (const issue of result.error.issues) {
    const base = issue.path.map(String);
    const path = base.join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const full = [...base, key].join('.');
        add(full, `Unknown option \`${full}\`.`);
      }
    } else if (issue.code === 'custom') add(path, issue.message);
    else if (!ENGINE_KEYS.has(base[0] ?? '')) {
      const expected = EXPECTED[path] ?? EXPECTED[base.map((p) => (/^\d+$/.test(p) ? '*' : p)).join('.')];
      add(
        path,
        expected === undefined
          ? `Expected the configuration to be an object, got ${got(input)}.`
          : `Expected \`${path}\` to be ${expected}, got ${got(valueAt(input, base))}.`,
      );
    }
  }
  throw new SliceFetchError(
    'ERR_SLICE_CONFIG',
    `Invalid slice-proxy configuration:\n${sentences.join('\n')}`,
    {
      paths,
    },
  );
}

function valueAt(input: unknown, path: readonly string[]): unknown {
  let value = input;
  for (const key of path) {
    if ((!isRecord(value) && !Array.isArray(value)) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
