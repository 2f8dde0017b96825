/**
 * `slice-proxy`'s configuration of `sendTimeoutMs` (R18, R20): the YAML key and the `--send-timeout` flag
 * (milliseconds) go through the one proxy schema (R1), the flag overrides the file, bad values are refused with
 * the schema's sentence, and the value stays a proxy key — the engine never sees it. Guards the gap where the
 * handler could drop stalled clients but slice-proxy had no way to set how soon.
 */
import { describe, expect, it } from 'vitest';
import { PROXY_USAGE } from '../../src/cli/load-proxy-config.js';
import { engineOptions, PROXY_OPTION_DOCS } from '../../src/cli/proxy-config.js';
import { load, refusal, yamlFiles } from './config-helpers.js';

const yamlFile = yamlFiles('proxy-config-');
const UPSTREAM = ['--upstream', 'http://127.0.0.1:1'];

describe('slice-proxy sendTimeoutMs', () => {
  it('defaults to 60000 ms, as the handler does', async () => {
    expect((await load(UPSTREAM)).sendTimeoutMs).toBe(60_000);
  });

  it('reads the YAML key sendTimeoutMs', async () => {
    const file = yamlFile('upstream: http://127.0.0.1:1\nsendTimeoutMs: 1500\n');
    expect((await load(['--config', file])).sendTimeoutMs).toBe(1500);
  });

  it('reads --send-timeout in milliseconds, and the flag overrides the file', async () => {
    expect((await load([...UPSTREAM, '--send-timeout', '300'])).sendTimeoutMs).toBe(300);
    const file = yamlFile('upstream: http://127.0.0.1:1\nsendTimeoutMs: 1500\n');
    expect((await load(['--config', file, '--send-timeout', '250'])).sendTimeoutMs).toBe(250);
  });

  it('accepts 0, which never disconnects', async () => {
    expect((await load([...UPSTREAM, '--send-timeout', '0'])).sendTimeoutMs).toBe(0);
    const file = yamlFile('upstream: http://127.0.0.1:1\nsendTimeoutMs: 0\n');
    expect((await load(['--config', file])).sendTimeoutMs).toBe(0);
  });

  it('refuses a value that is not a whole number of milliseconds in range, naming the key and the value', async () => {
    const expected = 'Expected `sendTimeoutMs` to be an integer between 0 and 86400000, got';
    expect(await refusal([...UPSTREAM, '--send-timeout', 'soon'])).toContain(`${expected} \`"soon"\`.`);
    // Binary suffixes are for sizes: a time flag with one is refused, not multiplied by 1024.
    expect(await refusal([...UPSTREAM, '--send-timeout', '5K'])).toContain(`${expected} \`"5K"\`.`);
    expect(await refusal([...UPSTREAM, '--send-timeout=-1'])).toContain(`${expected} \`"-1"\`.`);
    expect(await refusal([...UPSTREAM, '--send-timeout', '86400001'])).toContain(`${expected} \`86400001\`.`);
    const fraction = yamlFile('upstream: http://127.0.0.1:1\nsendTimeoutMs: 1.5\n');
    expect(await refusal(['--config', fraction])).toContain(`${expected} \`1.5\`.`);
    const negative = yamlFile('upstream: http://127.0.0.1:1\nsendTimeoutMs: -5\n');
    expect(await refusal(['--config', negative])).toContain(`${expected} \`-5\`.`);
  });

  it('keeps sendTimeoutMs a proxy key: the engine options never carry it', async () => {
    const config = await load([...UPSTREAM, '--send-timeout', '300']);
    expect(engineOptions(config)).not.toHaveProperty('sendTimeoutMs');
  });

  it('documents the key and the flag for the README table and in --help', () => {
    expect(PROXY_OPTION_DOCS.find((doc) => doc.path === 'sendTimeoutMs')).toMatchObject({
      flag: '--send-timeout',
      default: '60000',
    });
    expect(PROXY_USAGE).toContain('--send-timeout <ms>');
  });
});
