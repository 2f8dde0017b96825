/**
 * docs/fleet.md, layout 1 (R22): a consistent-hash balancer routes each URL to one of three real `slice-proxy`
 * nodes, each with its own disk store, in front of the counting test origin — real nginx
 * (`hash $request_uri consistent`) and, when it is installed, real HAProxy (`balance uri`, `hash-type
 * consistent`). Over 30 objects asked for by ranges and whole: every body is byte-exact, each object is
 * served by one node only and every node gets a share, the origin is asked for each slice exactly once, and the
 * same requests again cost the origin nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type Balancer,
  HAPROXY_BINARY,
  missingBinary,
  NGINX_BINARY,
  startHaproxy,
  startNginx,
} from '../support/balancers.js';
import { objectHashHaproxy, objectHashNginx } from '../support/fleet.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import {
  coldRounds,
  createObjects,
  expectEachSliceOnce,
  getAll,
  type RunningProxy,
  servedPaths,
  sliceFetches,
  startProxy,
  stopProxies,
  storedSlices,
  waitForStores,
  warmRequests,
} from './fleet-scenario.js';

const OBJECTS = 30;
const nginxMissing = missingBinary(NGINX_BINARY, 'nginx');
const haproxyMissing = missingBinary(HAPROXY_BINARY, 'haproxy');

let origin: TestOrigin;
/** Shared by the tests, each with objects of its own prefix. */
let nodes: RunningProxy[] = [];
let balancer: Balancer | undefined;
/** Slices the nodes had stored when the test started. */
let baseline = 0;

beforeAll(async () => {
  origin = await startOrigin();
  nodes = await Promise.all([1, 2, 3].map(() => startProxy(origin.url('/'), true)));
});
afterAll(async () => {
  await stopProxies(nodes);
  await origin.close();
});
beforeEach(async () => {
  origin.resetStats();
  baseline = await storedSlices(nodes);
});
afterEach(async () => {
  await balancer?.stop();
  balancer = undefined;
});

/**
 * The scenario through `balancer`: cold ranges, then the whole objects (`parallel` requests in flight), then
 * all of it again warm.
 */
async function expectOneNodePerObject(prefix: string, parallel: number): Promise<void> {
  const url = (balancer as Balancer).url;
  const objects = createObjects(origin, prefix, OBJECTS);
  const [ranges, whole] = coldRounds(objects);
  await getAll(url, ranges, parallel);
  await waitForStores(nodes, origin, baseline);
  await getAll(url, whole, parallel);
  await waitForStores(nodes, origin, baseline);
  expectEachSliceOnce(origin, objects);

  const shares = nodes.map((node) => servedPaths(node, prefix));
  for (const object of objects)
    expect(shares.filter((paths) => paths.has(object.path)).length, `nodes that served ${object.path}`).toBe(
      1,
    );
  for (const paths of shares) expect(paths.size).toBeGreaterThan(0);

  origin.resetStats();
  const statuses = await getAll(url, warmRequests(objects), parallel);
  expect(new Set(statuses)).toEqual(new Set(['HIT']));
  expect(origin.stats.requests).toBe(0);
}

describe.skipIf(nginxMissing !== undefined)(
  `nginx hash $request_uri consistent over three slice-proxy nodes${nginxMissing ?? ''}`,
  () => {
    it('fetches each slice of 30 objects once, each object on one node, and nothing from the origin warm', async () => {
      balancer = await startNginx((port) =>
        objectHashNginx({ listen: `127.0.0.1:${port}`, nodes: nodes.map((node) => node.address) }),
      );
      await expectOneNodePerObject('/nginx', 6);
    });
  },
);

describe.skipIf(haproxyMissing !== undefined)(
  `HAProxy balance uri, hash-type consistent, over three slice-proxy nodes${haproxyMissing ?? ''}`,
  () => {
    it('fetches each slice of 30 objects once, each object on one node, and nothing from the origin warm', async () => {
      balancer = await startHaproxy((port) => objectHashHaproxy({ bind: `127.0.0.1:${port}`, nodes }));
      await expectOneNodePerObject('/haproxy', 6);
    });

    // Bounded loads give each node ceil(150 % of the requests in flight, plus one) slots over the fleet: at low
    // load that is one slot per node, so a request that finds its node still closing the previous one goes
    // to the next node on the ring, which then fills the object for itself. Bytes stay exact; the origin pays.
    it('with hash-balance-factor 150, serves every byte exactly and fetches no slice twice on one node', async () => {
      balancer = await startHaproxy((port) =>
        objectHashHaproxy({ bind: `127.0.0.1:${port}`, nodes, balanceFactor: 150 }),
      );
      const objects = createObjects(origin, '/bounded', OBJECTS);
      const [ranges, whole] = coldRounds(objects);
      await getAll(balancer.url, ranges, 1);
      await waitForStores(nodes, origin, baseline);
      await getAll(balancer.url, whole, 1);
      await waitForStores(nodes, origin, baseline);
      await getAll(balancer.url, warmRequests(objects), 1);
      await waitForStores(nodes, origin, baseline);
      const shares = nodes.map((node) => servedPaths(node, '/bounded'));
      for (const [path, counts] of sliceFetches(origin, objects)) {
        const servedBy = shares.filter((paths) => paths.has(path)).length;
        for (const count of counts) {
          expect(count, path).toBeGreaterThanOrEqual(1);
          expect(count, path).toBeLessThanOrEqual(servedBy);
        }
      }
    });
  },
);
