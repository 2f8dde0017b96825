/**
 * docs/fleet.md shows exactly the configurations the fleet tests run: each block of the document is rendered
 * here by the same functions the end-to-end tests call (test/support/fleet.ts), with the document's example
 * addresses, and must appear in it verbatim, fenced.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  objectHashHaproxy,
  objectHashNginx,
  type ProxyCommand,
  proxyCommandLine,
  sliceHashHaproxy,
  sliceHashNginx,
} from '../support/fleet.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'fleet.md'), 'utf8');

const nodeAddresses = ['10.0.1.11:8080', '10.0.1.12:8080', '10.0.1.13:8080'];
const shardAddresses = ['10.0.3.11:8080', '10.0.3.12:8080', '10.0.3.13:8080'];
const disk = { cacheDir: '/var/cache/slice-proxy', cacheSize: '900GiB', sliceSize: '1MiB' } as const;
const node: ProxyCommand = {
  upstream: 'https://origin.example.com',
  listen: '0.0.0.0:8080',
  admin: '10.0.1.11:9090',
  ...disk,
};
const shard: ProxyCommand = { ...node, admin: '10.0.3.11:9090' };
const edge: ProxyCommand = {
  upstream: 'http://10.0.2.1:8080',
  listen: '0.0.0.0:8080',
  admin: '10.0.4.11:9090',
  cacheSize: '4GiB',
  sliceSize: '1MiB',
};

/** The fenced blocks of the document, by language tag. */
function blocks(language: string): string[] {
  return [...doc.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map(
    (m) => m[1] as string,
  );
}

describe('docs/fleet.md', () => {
  it('shows the nginx object-hash balancer the tests run', () => {
    expect(blocks('nginx')).toContain(objectHashNginx({ listen: '80', nodes: nodeAddresses }));
  });

  it('shows the HAProxy object-hash balancer the tests run, and its bounded-load line', () => {
    const nodes = nodeAddresses.map((address) => ({ address, adminPort: 9090 }));
    expect(blocks('haproxy')).toContain(objectHashHaproxy({ bind: ':80', nodes }));
    const bounded = objectHashHaproxy({ bind: ':80', nodes, balanceFactor: 150 }).split('\n');
    const line = bounded.find((text) => text.includes('hash-balance-factor'));
    expect(doc).toContain(`\`${line?.trim()}\``);
  });

  it('shows the nginx and HAProxy slice-hash balancers of the shard tier the tests run', () => {
    expect(blocks('nginx')).toContain(sliceHashNginx({ listen: '8080', shards: shardAddresses }));
    const shards = shardAddresses.map((address) => ({ address, adminPort: 9090 }));
    expect(blocks('haproxy')).toContain(sliceHashHaproxy({ bind: ':8080', shards }));
  });

  it('shows the node, shard and edge command lines the tests run', () => {
    const commands = blocks('sh').join('');
    expect(commands).toContain(`${proxyCommandLine(node)}\n`);
    expect(commands).toContain(`${proxyCommandLine(shard)}\n`);
    expect(commands).toContain(`${proxyCommandLine(edge)}\n`);
  });
});
