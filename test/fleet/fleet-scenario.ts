/**
 * @module What the fleet tests share: starting `slice-proxy` nodes with their own disk stores (docs/fleet.md),
 * a set of objects on the counting test origin, ranged and whole requests checked byte for byte, and the
 * origin's log read as "which slices of which object were fetched, how often".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, vi } from 'vitest';
import { type Cli, logLines, runCli } from '../cli/cli-helpers.js';
import { counterSum } from '../support/balancers.js';
import { contentBytes } from '../support/content.js';
import { proxyArgs } from '../support/fleet.js';
import type { TestOrigin } from '../support/origin.js';

export const KiB = 1024;
/** Small slices keep the tests fast; the layouts do not depend on the size (docs/fleet.md uses 1 MiB). */
export const SLICE = 64 * KiB;
export const SLICE_SIZE = '64KiB';

/** A running `slice-proxy` of the fleet. */
export interface RunningProxy {
  readonly cli: Cli;
  /** `http://host:port` */
  readonly url: string;
  /** `host:port` */
  readonly address: string;
  readonly admin: string;
  readonly adminPort: number;
  /** Its disk store, if it has one. */
  readonly dir: string | undefined;
}

/**
 * Starts a `slice-proxy` on free loopback ports: with a disk store in a new temporary directory (`disk`), else
 * with a small memory store (an edge).
 */
export async function startProxy(upstream: string, disk: boolean): Promise<RunningProxy> {
  const dir = disk ? mkdtempSync(join(tmpdir(), 'slice-fleet-node-')) : undefined;
  const cli = runCli(
    'slice-proxy',
    proxyArgs({
      upstream,
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      ...(dir === undefined ? {} : { cacheDir: dir }),
      cacheSize: '64MiB',
      sliceSize: SLICE_SIZE,
    }),
  );
  const line = await cli.waitForLog('listening');
  const address = String(line.listen);
  const admin = String(line.admin);
  return {
    cli,
    url: `http://${address}`,
    address,
    admin: `http://${admin}`,
    adminPort: Number(admin.split(':').at(-1)),
    dir,
  };
}

/** Stops the proxies (SIGTERM, waiting for their exit) and removes their stores. */
export async function stopProxies(proxies: readonly RunningProxy[]): Promise<void> {
  await Promise.all(
    proxies.map(async (proxy) => {
      if (proxy.cli.child.exitCode === null && proxy.cli.child.signalCode === null) {
        proxy.cli.child.kill('SIGTERM');
        await proxy.cli.exited;
      }
      if (proxy.dir !== undefined) rmSync(proxy.dir, { recursive: true, force: true });
    }),
  );
}

/** One object of the scenario. */
export interface FleetObject {
  readonly path: string;
  readonly size: number;
  readonly seed: number;
  readonly slices: number;
}

/**
 * Registers `count` objects of 4–7 slices with a short last slice, under `prefix`.
 */
export function createObjects(origin: TestOrigin, prefix: string, count: number): FleetObject[] {
  return Array.from({ length: count }, (_, i) => {
    const path = `${prefix}/object-${i}.bin`;
    const size = (3 + (i % 4)) * SLICE + 1000 + 17 * i;
    const { seed } = origin.setObject(path, { size });
    return { path, size, seed, slices: Math.ceil(size / SLICE) };
  });
}

/** A request of the scenario: an object and a `Range` (none: the whole object). */
export interface FleetRequest {
  readonly object: FleetObject;
  /** `end` absent: `bytes=<start>-`. */
  readonly range?: { readonly start: number; readonly end?: number } | { readonly suffix: number };
}

/** What a response cost, by its `x-slice-cache`. */
export type CacheStatus = string | null;

/**
 * Sends the request to `base`, checks the status, `Content-Range` and every byte against the object, and
 * resolves the response's `x-slice-cache`.
 */
export async function get(base: string, request: FleetRequest): Promise<CacheStatus> {
  const { object, range } = request;
  const headers: Record<string, string> = {};
  let start = 0;
  let end = object.size - 1;
  if (range !== undefined && 'suffix' in range) {
    headers.range = `bytes=-${range.suffix}`;
    start = object.size - range.suffix;
  } else if (range !== undefined) {
    headers.range = `bytes=${range.start}-${range.end ?? ''}`;
    start = range.start;
    end = Math.min(range.end ?? object.size, object.size - 1);
  }
  const res = await fetch(`${base}${object.path}`, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  const where = `${object.path} ${headers.range ?? '(whole)'}`;
  expect(res.status, where).toBe(range === undefined ? 200 : 206);
  if (range !== undefined)
    expect(res.headers.get('content-range'), where).toBe(`bytes ${start}-${end}/${object.size}`);
  expect(body.length, where).toBe(end - start + 1);
  expect(body.equals(contentBytes(object.seed, start, end)), `bytes of ${where}`).toBe(true);
  return res.headers.get('x-slice-cache');
}

/** Sends the requests with at most `parallel` in flight; resolves their `x-slice-cache` values in order. */
export async function getAll(
  base: string,
  requests: readonly FleetRequest[],
  parallel: number,
): Promise<CacheStatus[]> {
  const statuses: CacheStatus[] = new Array(requests.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const i = next++;
      statuses[i] = await get(base, requests[i] as FleetRequest);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, requests.length) }, worker));
  return statuses;
}

/**
 * The cold requests of the scenarios, in two rounds. The first asks each object for a range: the middle of
 * even objects (slices 1–2), the tail of odd ones from 5000 bytes before the end (`bytes=a-`: the last slice is
 * the first one fetched, before the object's size is known). The second asks for every object whole, which
 * needs the rest.
 */
export function coldRounds(objects: readonly FleetObject[]): [FleetRequest[], FleetRequest[]] {
  const ranges = objects.map(
    (object, i): FleetRequest =>
      i % 2 === 0
        ? { object, range: { start: SLICE + 100, end: 2 * SLICE + 200 } }
        : { object, range: { start: object.size - 5000 } },
  );
  return [ranges, objects.map((object) => ({ object }))];
}

/**
 * The warm requests: the cold ones again, the last 3000 bytes (`bytes=-3000`), and a range across every slice
 * but the first and last bytes.
 */
export function warmRequests(objects: readonly FleetObject[]): FleetRequest[] {
  const [ranges, whole] = coldRounds(objects);
  const suffixes = objects.map((object) => ({ object, range: { suffix: 3000 } }));
  const across = objects.map((object) => ({ object, range: { start: 100, end: object.size - 100 } }));
  return [...ranges, ...whole, ...suffixes, ...across];
}

/**
 * How many times the origin was asked for each slice of each object since its last `resetStats()`, by slice
 * index (a slice is named by its first byte, however the request spelled its end).
 */
export function sliceFetches(origin: TestOrigin, objects: readonly FleetObject[]): Map<string, number[]> {
  const counts = new Map(objects.map((object) => [object.path, new Array<number>(object.slices).fill(0)]));
  for (const entry of origin.stats.log) {
    const slices = counts.get(entry.path);
    const start = /^bytes=(\d+)-/.exec(entry.range ?? '')?.[1];
    expect(slices, `an origin request for ${entry.path} ${entry.range ?? ''}`).toBeDefined();
    expect(start, `an origin request for ${entry.path} without a slice range`).toBeDefined();
    const index = Number(start) / SLICE;
    expect(Number.isInteger(index), `an unaligned origin request ${entry.range}`).toBe(true);
    (slices as number[])[index] = ((slices as number[])[index] ?? 0) + 1;
  }
  return counts;
}

/** Expects the origin to have been asked for every slice of every object exactly once, and for nothing else. */
export function expectEachSliceOnce(origin: TestOrigin, objects: readonly FleetObject[]): void {
  const counts = sliceFetches(origin, objects);
  for (const object of objects) expect(counts.get(object.path), object.path).toEqual(ones(object.slices));
  expect(origin.stats.requests).toBe(objects.reduce((sum, object) => sum + object.slices, 0));
}

/** Slices the proxies have written to their stores since they started, from their `/metrics`. */
export async function storedSlices(proxies: readonly RunningProxy[]): Promise<number> {
  let stored = 0;
  for (const proxy of proxies) {
    const metrics = await (await fetch(`${proxy.admin}/metrics`)).text();
    stored += counterSum(metrics, 'slice_fetch_cache_stores_total');
  }
  return stored;
}

/**
 * Waits until the proxies have written every slice they fetched since `baseline` slices were stored (and the
 * origin's stats were last reset): their stores are written off the response path, and a request that
 * arrives before the write lands would rightly fetch the slice again.
 */
export async function waitForStores(
  proxies: readonly RunningProxy[],
  origin: TestOrigin,
  baseline = 0,
): Promise<void> {
  await vi.waitFor(async () => expect((await storedSlices(proxies)) - baseline).toBe(origin.stats.requests), {
    timeout: 10_000,
    interval: 50,
  });
}

/** The request paths (no query) under `prefix` that reached the proxy, from its `http request` log lines. */
export function servedPaths(proxy: RunningProxy, prefix: string): Set<string> {
  const paths = logLines(proxy.cli, 'http request').map((line) => String(line.url).split('?')[0] as string);
  return new Set(paths.filter((path) => path.startsWith(`${prefix}/`)));
}

function ones(n: number): number[] {
  return new Array<number>(n).fill(1);
}
