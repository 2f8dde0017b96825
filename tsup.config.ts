import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  dts: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
  // Optional peers stay external: the root entry must never load them (a smoke test checks it).
  external: ['redis', 'vitest', 'prom-client', 'pino'],
};

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
  // The command-line tools: ESM-only (top-level await), one file each, with a shebang; no types.
  {
    ...shared,
    dts: false,
    // Splitting keeps the dynamic imports of the optional peers (redis, prom-client, pino) in their own chunks.
    splitting: true,
    entry: { 'cli/slice-proxy': 'src/cli/slice-proxy.ts', 'cli/slice-fetch': 'src/cli/slice-fetch.ts' },
    format: 'esm',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
