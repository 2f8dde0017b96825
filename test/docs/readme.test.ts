import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configReference } from '../../scripts/config-reference.js';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

describe('README', () => {
  it('carries the configuration reference generated from the schema table', () => {
    const start = readme.indexOf('<!-- config:start -->');
    const end = readme.indexOf('<!-- config:end -->');
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start + '<!-- config:start -->'.length, end).trim()).toBe(configReference());
  });

  it('names the two set-up commands: the demo and the test suite', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm test');
  });
});
