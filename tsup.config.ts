import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  entry: { index: 'src/index.ts' },
  dts: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
};

export default defineConfig([
  { ...shared, format: 'esm', clean: true },
  // p-queue is ESM-only and `require()` of ESM fails on Node 20, so the CJS build carries its own copy.
  { ...shared, format: 'cjs', noExternal: ['p-queue'] },
]);
