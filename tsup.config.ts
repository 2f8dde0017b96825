import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  dts: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
  // Optional peers stay external: the root entry must never load them (a smoke test checks it).
  external: ['redis', 'vitest'],
};

export default defineConfig([
  {
    ...shared,
    entry: { index: 'src/index.ts', redis: 'src/storage/redis.ts', testing: 'src/testing/conformance.ts' },
    format: 'esm',
    clean: true,
  },
  // p-queue is ESM-only and `require()` of ESM fails on Node 20, so the CJS build carries its own copy.
  // The conformance suite is ESM-only, like vitest itself.
  {
    ...shared,
    entry: { index: 'src/index.ts', redis: 'src/storage/redis.ts' },
    format: 'cjs',
    noExternal: ['p-queue'],
  },
]);
