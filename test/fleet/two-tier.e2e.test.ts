/**
 * docs/fleet.md, layout 2 (R22): edge `slice-proxy` processes with small memory stores fetch through a real
 * balancer that hashes the URL and the start of the slice asked for — nginx (`hash $request_uri$slice_start
 * consistent`) and, when it is installed, HAProxy (`balance hash` on the same key) — onto three shard
 * `slice-proxy` processes with disk stores, which fetch from the counting test origin. One object's slices
 * spread over the shards; the origin is asked for each slice once, even when two edges spell the last slice's
 * range differently; a fresh edge afterwards costs the origin nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type Balancer,
  freePort,
  HAPROXY_BINARY,
  missingBinary,
  NGINX_BINARY,
  startHaproxy,
  startNginx,
} from '../support/balancers.js';
import { sliceHashHaproxy, sliceHashNginx } from '../support/fleet.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import {
  coldRounds,
  expectEachSliceOnce,
  type FleetObject,
  getAll,
  type RunningProxy,
  SLICE,
  servedPaths,
  startProxy,
  stopProxies,
  storedSlices,
  waitForStores,
  warmRequests,
} from './fleet-scenario.js';

/** Each balancer of the shard tier, started in front of the shards; `missing` says why it cannot run here. */
const BALANCERS: readonly {
  readonly name: string;
  /** Where its test's objects live at the origin. */
  readonly prefix: string;
  readonly missing: string | undefined;
  readonly start: (shards: readonly RunningProxy[], port: number) => Promise<Balancer>;
}[] = [
  {
    name: 'nginx hash $request_uri$slice_start consistent',
    prefix: '/nginx',
    missing: missingBinary(NGINX_BINARY, 'nginx'),
    start: (shards, port) =>
      startNginx(
        () => sliceHashNginx({ listen: `127.0.0.1:${port}`, shards: shards.map((shard) => shard.address) }),
        port,
      ),
  },
  {
    name: 'HAProxy balance hash on the path and the slice start',
    prefix: '/haproxy',
    missing: missingBinary(HAPROXY_BINARY, 'haproxy'),
    start: (shards, port) =>
      startHaproxy(() => sliceHashHaproxy({ bind: `127.0.0.1:${port}`, shards }), port),
  },
];

let origin: TestOrigin;
/** Shared by the tests, each with objects of its own prefix. */
let shards: RunningProxy[] = [];
let edges: RunningProxy[] = [];
let balancer: Balancer | undefined;
/** Slices the shards had stored when the test started. */
let baseline = 0;

beforeAll(async () => {
  origin = await startOrigin();
  shards = await Promise.all([1, 2, 3].map(() => startProxy(origin.url('/'), true)));
});
afterAll(async () => {
  await stopProxies(shards);
  await origin.close();
});
beforeEach(async () => {
  origin.resetStats();
  baseline = await storedSlices(shards);
});
afterEach(async () => {
  await balancer?.stop();
  balancer = undefined;
  await stopProxies(edges);
  edges = [];
});

/** Six objects of 10–12 slices, the last one short. */
function hotObjects(prefix: string): FleetObject[] {
  return Array.from({ length: 6 }, (_, i) => {
    const path = `${prefix}/object-${i}.bin`;
    const size = (10 + (i % 3)) * SLICE + 5000 + 31 * i;
    const { seed } = origin.setObject(path, { size });
    return { path, size, seed, slices: Math.ceil(size / SLICE) };
  });
}

describe.each(BALANCERS)('edges over $name over three shards', ({ prefix, missing, start }) => {
  it.skipIf(missing !== undefined)(
    `spreads each object's slices over the shards, fetches each slice once, and nothing warm${missing ?? ''}`,
    async () => {
      // Fresh edges (empty memory) on the balancer's port, started while the balancer starts.
      const port = await freePort();
      const edgesUp = Promise.all([1, 2, 3].map(() => startProxy(`http://127.0.0.1:${port}/`, false)));
      balancer = await start(shards, port);
      edges = await edgesUp;
      const [first, second, fresh] = edges as [RunningProxy, RunningProxy, RunningProxy];
      const objects = hotObjects(prefix);
      const [ranges, whole] = coldRounds(objects);

      // The first edge learns odd objects from their last slice (asked for as a whole slice, size unknown);
      // the second then asks for that slice up to the object's last byte: one shard, one origin fetch.
      await getAll(first.url, ranges, 6);
      await waitForStores(shards, origin, baseline);
      await getAll(second.url, whole, 6);
      await waitForStores(shards, origin, baseline);
      expectEachSliceOnce(origin, objects);

      const shares = shards.map((shard) => servedPaths(shard, prefix));
      for (const object of objects)
        expect(
          shares.filter((paths) => paths.has(object.path)).length,
          `shards that served slices of ${object.path}`,
        ).toBeGreaterThan(1);

      origin.resetStats();
      await getAll(fresh.url, warmRequests(objects), 6);
      expect(origin.stats.requests).toBe(0);
    },
  );
});
