/**
 * The handler's options as `slice-proxy` keys and flags (R18): `include`, `exclude`, `minSize`,
 * `forwardRequestHeaders`, `passThroughMethods` and `tls` in YAML and as `--include`, `--exclude`,
 * `--min-size`, `--forward-header`, `--pass-through`, `--tls-cert`/`--tls-key` — one schema, flags over the
 * file, the schema's sentence for a bad value — and sizes with units in flags and YAML alike.
 */
import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/cli/sizes.js';
import { load, refusal, yamlFiles } from './config-helpers.js';

const yamlFile = yamlFiles('proxy-options-');
const UPSTREAM = ['--upstream', 'http://127.0.0.1:1'];

describe('the handler options in YAML and flags', () => {
  it('defaults to what the handler does on its own', async () => {
    const config = await load(UPSTREAM);
    expect(config).toMatchObject({ minSize: 0, passThroughMethods: 'proxy' });
    expect(config.include).toBeUndefined();
    expect(config.exclude).toBeUndefined();
    expect(config.forwardRequestHeaders).toBeUndefined();
    expect(config.tls).toBeUndefined();
  });

  it('reads every key from YAML', async () => {
    const file = yamlFile(
      [
        'upstream: http://127.0.0.1:1',
        'include: ["^/video/", "\\\\.iso$"]',
        'exclude: [^/video/live/]',
        'minSize: 4MiB',
        'forwardRequestHeaders: [authorization, x-tenant]',
        'passThroughMethods: refuse',
        'tls: { cert: /etc/tls/cert.pem, key: /etc/tls/key.pem }',
      ].join('\n'),
    );
    expect(await load(['--config', file])).toMatchObject({
      include: ['^/video/', '\\.iso$'],
      exclude: ['^/video/live/'],
      minSize: 4 * 1024 * 1024,
      forwardRequestHeaders: ['authorization', 'x-tenant'],
      passThroughMethods: 'refuse',
      tls: { cert: '/etc/tls/cert.pem', key: '/etc/tls/key.pem' },
    });
  });

  it('reads every flag, repeatable ones as lists, and the flags replace the file', async () => {
    const file = yamlFile(
      'upstream: http://127.0.0.1:1\ninclude: [a]\nforwardRequestHeaders: [cookie]\ntls: { cert: c, key: k }\n',
    );
    expect(
      await load([
        '--config',
        file,
        '--include',
        '^/x/',
        '--include',
        '^/y/',
        '--exclude',
        'nope',
        '--min-size',
        '1MB',
        '--forward-header',
        'x-tenant',
        '--forward-header',
        'user-agent',
        '--pass-through',
        'refuse',
        '--tls-key',
        'other-key.pem',
      ]),
    ).toMatchObject({
      include: ['^/x/', '^/y/'],
      exclude: ['nope'],
      minSize: 1_000_000,
      forwardRequestHeaders: ['x-tenant', 'user-agent'],
      passThroughMethods: 'refuse',
      tls: { cert: 'c', key: 'other-key.pem' },
    });
  });

  it('refuses bad values with one sentence each, naming the key', async () => {
    const message = await refusal([
      ...UPSTREAM,
      '--include',
      '(',
      '--forward-header',
      'bad header',
      '--pass-through',
      'maybe',
      '--min-size',
      'small',
    ]);
    expect(message).toContain('Expected `include[0]` to be a valid regular expression, got `"("`.');
    expect(message).toContain('Expected `forwardRequestHeaders.0` to be a header name, got `"bad header"`.');
    expect(message).toContain('Expected `passThroughMethods` to be one of `proxy`, `refuse`, got `"maybe"`.');
    expect(message).toContain(
      'Expected `minSize` to be an integer between 0 and 9007199254740991, got `"small"`.',
    );
    const file = yamlFile('upstream: http://127.0.0.1:1\ntls: { cert: c }\n');
    expect(await refusal(['--config', file])).toContain('Expected `tls.key` to be a private key file path');
  });
});

describe('sizes', () => {
  it('reads K/M/G and KiB/MiB/GiB as powers of 1024, kB/MB/GB as powers of 1000', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('1M')).toBe(1048576);
    expect(parseSize('1MiB')).toBe(1048576);
    expect(parseSize('1mi')).toBe(1048576);
    expect(parseSize('1MB')).toBe(1_000_000);
    expect(parseSize('1mb')).toBe(1_000_000);
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize('64k')).toBe(65536);
    expect(parseSize('64kB')).toBe(64_000);
    expect(parseSize('20GiB')).toBe(20 * 1024 ** 3);
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
    expect(parseSize('2GB')).toBe(2_000_000_000);
    expect(parseSize('1TiB')).toBe(1024 ** 4);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('512B')).toBe(512);
  });

  it('leaves what is not a whole number of bytes as it is, for the schema to name', () => {
    for (const value of ['', 'lots', '1.5', '1.5B', '-1M', '1 XB', '1iB', '1e6'])
      expect(parseSize(value)).toBe(value);
  });

  it('takes units in flags and in YAML', async () => {
    expect((await load([...UPSTREAM, '--slice-size', '1MB', '--cache-size', '1M'])).sliceSize).toBe(
      1_000_000,
    );
    expect((await load([...UPSTREAM, '--cache-size', '1M'])).store.maxBytes).toBe(1048576);
    const file = yamlFile(
      'upstream: http://127.0.0.1:1\nsliceSize: 2MiB\nmaxBufferedBytes: 256MB\nstore: { maxBytes: 1GiB }\n',
    );
    expect(await load(['--config', file])).toMatchObject({
      sliceSize: 2 * 1024 * 1024,
      maxBufferedBytes: 256_000_000,
      store: { maxBytes: 1024 ** 3 },
    });
    expect(await refusal([...UPSTREAM, '--slice-size', '1XB'])).toContain(
      'Expected `sliceSize` to be an integer between 65536 and 67108864, got `"1XB"`.',
    );
  });

  it('takes counts and milliseconds without units', async () => {
    expect(await refusal([...UPSTREAM, '--concurrency', '8K'])).toContain('got `"8K"`');
    expect((await load([...UPSTREAM, '--shutdown-timeout', '250'])).shutdownMs).toBe(250);
  });
});

describe('ports', () => {
  it('accepts 0 and 65535 and refuses 65536, before anything binds', async () => {
    expect((await load([...UPSTREAM, '--listen', '127.0.0.1:0'])).listen).toBe('127.0.0.1:0');
    expect((await load([...UPSTREAM, '--listen', '[::1]:65535'])).listen).toBe('[::1]:65535');
    expect(await refusal([...UPSTREAM, '--admin', 'localhost:65536'])).toContain(
      'Expected `admin` to be a host:port address with a port between 0 and 65535, got `"localhost:65536"`.',
    );
  });
});
