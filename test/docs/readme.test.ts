import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { configReference, proxyReference } from '../../scripts/config-reference.js';
import { loadProxyConfig } from '../../src/cli/load-proxy-config.js';
import { PROXY_OPTION_DOCS, sliceProxyConfigSchema } from '../../src/cli/proxy-config.js';
import { sliceFetchConfigSchema } from '../../src/core/config.js';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

describe('README', () => {
  it('carries the configuration reference generated from the schema table', () => {
    const start = readme.indexOf('<!-- config:start -->');
    const end = readme.indexOf('<!-- config:end -->');
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start + '<!-- config:start -->'.length, end).trim()).toBe(configReference());
  });

  it("carries the proxy keys' reference, and it lists exactly the schema's proxy keys with their defaults", () => {
    const start = readme.indexOf('<!-- proxy-config:start -->');
    const end = readme.indexOf('<!-- proxy-config:end -->');
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start + '<!-- proxy-config:start -->'.length, end).trim()).toBe(proxyReference());

    const engineKeys = new Set(Object.keys(sliceFetchConfigSchema.shape));
    const schemaPaths: string[] = [];
    for (const [key, field] of Object.entries(sliceProxyConfigSchema.shape)) {
      if (engineKeys.has(key)) continue;
      const inner = unwrap(field);
      if (inner instanceof z.ZodMiniObject)
        for (const sub of Object.keys(inner.shape)) schemaPaths.push(`${key}.${sub}`);
      else schemaPaths.push(key);
    }
    expect(PROXY_OPTION_DOCS.map((o) => o.path).sort()).toEqual(schemaPaths.sort());

    const defaults = sliceProxyConfigSchema.parse({ upstream: 'http://127.0.0.1:1' }) as Record<
      string,
      unknown
    >;
    for (const doc of PROXY_OPTION_DOCS) {
      const value = doc.path
        .split('.')
        .reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], defaults);
      if (doc.path === 'upstream') continue;
      expect({ path: doc.path, value: value === undefined ? '' : String(value) }).toEqual({
        path: doc.path,
        value: doc.default,
      });
    }
  });

  it('shows a slice-proxy YAML configuration that the proxy accepts', async () => {
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'readme-yaml-'));
    try {
      const file = join(dir, 'slice-proxy.yaml');
      writeFileSync(file, yaml as string);
      const config = await loadProxyConfig(['--config', file]);
      expect(config).toMatchObject({ upstream: 'https://origin.example.com', sliceSize: 1048576 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the two set-up commands: the demo and the test suite', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm test');
  });
});

/** The schema inside optional/default wrappers. */
function unwrap(field: unknown): unknown {
  let at = field as { unwrap?: () => unknown; def?: { innerType?: unknown } };
  for (let i = 0; i < 5; i++) {
    const inner = at.def?.innerType ?? (typeof at.unwrap === 'function' ? at.unwrap() : undefined);
    if (inner === undefined) break;
    at = inner as typeof at;
  }
  return at;
}
