import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../scripts/config-reference.js';
import { loadProxyConfig } from '../../src/cli/proxy-config.js';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

describe('README', () => {
  it('carries the configuration reference generated from the schema table', () => {
    const start = readme.indexOf('<!-- config:start -->');
    const end = readme.indexOf('<!-- config:end -->');
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start + '<!-- config:start -->'.length, end).trim()).toBe(configReference());
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
