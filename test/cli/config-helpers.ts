/**
 * Loading `slice-proxy` configurations in tests: YAML files in a temporary directory, the loaded
 * configuration, and the sentence a configuration is refused with.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { loadProxyConfig } from '../../src/cli/load-proxy-config.js';
import type { SliceProxyConfig } from '../../src/cli/proxy-config.js';
import { isSliceFetchError } from '../../src/core/errors.js';

/**
 * A writer of YAML files into a temporary directory removed after the test file.
 *
 * @example
 * const yamlFile = yamlFiles('proxy-options-');
 * await load(['--config', yamlFile('upstream: http://127.0.0.1:1\n')]);
 */
export function yamlFiles(prefix: string): (text: string) => string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return (text) => {
    const file = join(dir, `config-${files++}.yaml`);
    writeFileSync(file, text);
    return file;
  };
}

/**
 * The configuration `argv` loads (not `--help` or `--version`).
 *
 * @example
 * expect((await load(['--upstream', 'http://127.0.0.1:1'])).listen).toBe('127.0.0.1:8080');
 */
export async function load(argv: readonly string[]): Promise<SliceProxyConfig> {
  const config = await loadProxyConfig(argv);
  if (config === 'help' || config === 'version') throw new Error(`unexpected ${config}`);
  return config;
}

/**
 * The `ERR_SLICE_CONFIG` message `argv` is refused with; throws when it is accepted.
 *
 * @example
 * expect(await refusal(['--upstream', 'ftp://x'])).toMatch(/upstream/);
 */
export async function refusal(argv: readonly string[]): Promise<string> {
  try {
    await loadProxyConfig(argv);
  } catch (error) {
    if (isSliceFetchError(error) && error.code === 'ERR_SLICE_CONFIG') return error.message;
    throw error;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}
