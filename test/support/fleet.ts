/** A `slice-proxy` node as a balancer sees it. */
export interface FleetNode {
  /** `host:port` of its `listen` address. */
  readonly address: string;
  /** Port of its `admin` address (same host), where `/healthz` answers; for HAProxy's health checks. */
  readonly adminPort: number;
}

/**
 * Layout 1, nginx: every request for one URL goes to one node (`hash $request_uri consistent`), so each node
 * caches its own share of the objects on its own disk. The body of nginx's `http {}` block.
 *
 * @example
 * const conf = objectHashNginx({ listen: '127.0.0.1:8080', nodes: ['127.0.0.1:8081', '127.0.0.1:8082'] });
 */
export function objectHashNginx(options: {
  readonly listen: string;
  readonly nodes: readonly string[];
}): string {
  return `upstream slice_nodes {
    hash $request_uri consistent;
${servers(options.nodes)}    keepalive 64;
}

server {
    listen ${options.listen};
    location / {
        proxy_pass http://slice_nodes;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_read_timeout 90s;
    }
}
`;
}

/**
 * Layout 1, HAProxy: `balance uri` with consistent hashing, health checks on each node's `/healthz` (503 while
 * it drains), and with `balanceFactor` bounded loads (`hash-balance-factor`: a node busier than that percentage
 * of the average is skipped for the next one on the ring). Everything after HAProxy's `global` section.
 *
 * @example
 * const conf = objectHashHaproxy({ bind: '127.0.0.1:8080', nodes: [{ address: '127.0.0.1:8081', adminPort: 9091 }] });
 */
export function objectHashHaproxy(options: {
  readonly bind: string;
  readonly nodes: readonly FleetNode[];
  readonly balanceFactor?: number;
}): string {
  const lines = options.nodes.map(
    (node, i) =>
      `    server node${i + 1} ${node.address} check port ${node.adminPort} inter 2s fall 2 rise 2\n`,
  );
  return `defaults
    mode http
    timeout connect 5s
    timeout client 90s
    timeout server 90s

frontend fleet
    bind ${options.bind}
    default_backend slice_nodes

backend slice_nodes
    balance uri
    hash-type consistent
${options.balanceFactor === undefined ? '' : `    hash-balance-factor ${options.balanceFactor}\n`}    option httpchk
    http-check send meth GET uri /healthz
${lines.join('')}`;
}

/**
 * Layout 2, the shard balancer between edges and shards: nginx hashes the URL and the start offset of the
 * slice an edge asks for, so one object's slices spread over the shards. The key is the start, not the whole
 * `Range` value: an edge asks for the last slice as `bytes=a-(a+sliceSize-1)` when it is the first slice it
 * fetches (the object's size is not known yet) and as `bytes=a-(size-1)` otherwise, and both must reach the
 * same shard. The body of nginx's `http {}` block.
 *
 * @example
 * const conf = sliceHashNginx({ listen: '127.0.0.1:8080', shards: ['127.0.0.1:8081', '127.0.0.1:8082'] });
 */
export function sliceHashNginx(options: {
  readonly listen: string;
  readonly shards: readonly string[];
}): string {
  return `map $http_range $slice_start {
    "~^bytes=(?<start>[0-9]+)-" $start;
    default "";
}

upstream slice_shards {
    hash $request_uri$slice_start consistent;
${servers(options.shards)}    keepalive 64;
}

server {
    listen ${options.listen};
    location / {
        proxy_pass http://slice_shards;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_read_timeout 90s;
    }
}
`;
}

/**
 * Layout 2 with HAProxy: the same key as {@link sliceHashNginx} — the path and query, and the `Range` value up to
 * its first `-` (`bytes=<start>`) — through `balance hash`, with health checks on each shard's `/healthz`.
 * Everything after HAProxy's `global` section.
 *
 * @example
 * const conf = sliceHashHaproxy({ bind: '127.0.0.1:8080', shards: [{ address: '127.0.0.1:8081', adminPort: 9091 }] });
 */
export function sliceHashHaproxy(options: {
  readonly bind: string;
  readonly shards: readonly FleetNode[];
}): string {
  const lines = options.shards.map(
    (shard, i) =>
      `    server shard${i + 1} ${shard.address} check port ${shard.adminPort} inter 2s fall 2 rise 2\n`,
  );
  return `defaults
    mode http
    timeout connect 5s
    timeout client 90s
    timeout server 90s

frontend shards
    bind ${options.bind}
    default_backend slice_shards

backend slice_shards
    http-request set-var(txn.slice_start) req.hdr(range),field(1,-)
    balance hash pathq,concat(@,txn.slice_start)
    hash-type consistent
    option httpchk
    http-check send meth GET uri /healthz
${lines.join('')}`;
}

/** Where and how one `slice-proxy` of a fleet runs. */
export interface ProxyCommand {
  readonly upstream: string;
  readonly listen: string;
  readonly admin: string;
  /** A disk store in this directory; without it, a memory store. */
  readonly cacheDir?: string;
  /** Byte budget of the store, e.g. `900GiB` (a size with units). */
  readonly cacheSize: string;
  /** Must be the same on every node that serves one object's slices, e.g. `1MiB`. */
  readonly sliceSize: string;
}

/**
 * The arguments of one fleet `slice-proxy` (after the program name): a node or shard with a disk store
 * (`cacheDir`), or an edge with a memory store (no `cacheDir`).
 *
 * @example
 * runCli('slice-proxy', proxyArgs({ upstream, listen: '127.0.0.1:0', admin: '127.0.0.1:0', cacheSize: '64MiB', sliceSize: '64KiB' }));
 */
export function proxyArgs(command: ProxyCommand): string[] {
  const store =
    command.cacheDir === undefined
      ? ['--cache', 'memory']
      : ['--cache', 'fs', '--cache-dir', command.cacheDir];
  return [
    '--upstream',
    command.upstream,
    '--listen',
    command.listen,
    '--admin',
    command.admin,
    ...store,
    '--cache-size',
    command.cacheSize,
    '--slice-size',
    command.sliceSize,
  ];
}

/**
 * {@link proxyArgs} as the shell command docs/fleet.md shows.
 *
 * @example
 * proxyCommandLine({ upstream: 'https://origin.example.com', listen: '0.0.0.0:8080', admin: '10.0.0.11:9090', cacheDir: '/var/cache/slices', cacheSize: '900GiB', sliceSize: '1MiB' });
 */
export function proxyCommandLine(command: ProxyCommand): string {
  return ['slice-proxy', ...proxyArgs(command)].join(' ');
}

// ---------------------------------------------------------------------------------------------------------

function servers(addresses: readonly string[]): string {
  return addresses.map((address) => `    server ${address};\n`).join('');
}
