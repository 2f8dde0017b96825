import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  dts: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // Shared code (SliceFetchError above all) goes into one chunk that every entry point imports, so
  // `instanceof SliceFetchError` holds across `slice-fetch`, `slice-fetch/redis` and the rest.
  splitting: true,
  treeshake: true,
  // Optional peers stay external: the root entry must never load them (a smoke test checks it).
  external: ['redis', 'vitest', 'prom-client', 'pino'],
};

/** Packages compiled into dist/cli (and their own dependencies, which esbuild follows). */
const CLI_BUNDLED = ['prom-client', 'pino', 'yaml', /^@opentelemetry\//, 'tdigest', 'bintrees'];

export default defineConfig([
  {
    ...shared,
    entry: {
      index: 'src/index.ts',
      redis: 'src/storage/redis.ts',
      testing: 'src/testing/conformance.ts',
      prometheus: 'src/metrics/prometheus.ts',
    },
    format: 'esm',
    clean: true,
  },
  // p-queue is ESM-only and `require()` of ESM fails on Node 20, so the CJS build carries its own copy.
  // The conformance suite is ESM-only, like vitest itself.
  {
    ...shared,
    entry: { index: 'src/index.ts', redis: 'src/storage/redis.ts', prometheus: 'src/metrics/prometheus.ts' },
    format: 'cjs',
    noExternal: ['p-queue'],
  },
  // The command-line tools: ESM-only (top-level await), one file each, with a shebang; no types. prom-client,
  // pino and yaml are bundled in (they are the library's optional peers / dev tools, not its dependencies), so
  // `npm i -g slice-fetch` gets a proxy with /metrics, logs and YAML and nothing else installed; pino runs
  // without transports, so none of its worker-thread files is needed. `redis` stays external: an optional peer
  // loaded only for `--cache redis`.
  {
    ...shared,
    dts: false,
    // Splitting keeps the dynamic import of the redis store (and so of `redis`) in a chunk of its own.
    splitting: true,
    entry: { 'cli/slice-proxy': 'src/cli/slice-proxy.ts', 'cli/slice-fetch': 'src/cli/slice-fetch.ts' },
    format: 'esm',
    external: ['redis'],
    noExternal: CLI_BUNDLED,
    // The bundled CommonJS packages call `require('node:…')`, which an ES module has no binding for.
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __cliRequire } from 'node:module';\nconst require = __cliRequire(import.meta.url);",
    },
  },
]);
