/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) as the functions with the most self time, mapped
 * through the bundle's source map back to `src/…` files, plus self time per file or package — enough to see
 * where a cold or warm 1 GiB transfer spends its CPU without opening DevTools.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One row of a profile summary. */
export interface ProfileRow {
  readonly name: string;
  /** Where it lives: `src/engine/x.ts:42`, `undici/lib/…`, `node:internal/…`, or a V8 pseudo-frame. */
  readonly where: string;
  readonly selfMs: number;
  readonly percent: number;
}

/** A profile summary; percentages are of the busy (non-idle) time. */
export interface ProfileSummary {
  /** Sampled time, idle included. */
  readonly totalMs: number;
  /** Time the main thread sat in the event loop's poll phase (waiting, or in the kernel reading sockets). */
  readonly idleMs: number;
  readonly functions: readonly ProfileRow[];
  readonly files: readonly ProfileRow[];
}

/**
 * Reads a `.cpuprofile` and returns the top `limit` functions and files by self time.
 *
 * @example
 * ```ts
 * const summary = summarizeProfile('/tmp/prof/CPU.123.cpuprofile', '/work/main', 20);
 * ```
 */
export function summarizeProfile(path: string, repoRoot: string, limit = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const maps = new Map<string, SourceMap | null>();
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    totalUs += us;
    // `(idle)` is the poll phase; a native `dispatch` is the inspector's own `Profiler.stop` call.
    if (frame.url === '' && (frame.functionName === '(idle)' || frame.functionName === 'dispatch')) {
      idleUs += us;
      continue;
    }
    const where = locate(frame, maps, repoRoot);
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const key = `${name}@${where.at}`;
    const row = functions.get(key) ?? { name, where: where.at, us: 0 };
    row.us += us;
    functions.set(key, row);
    files.set(where.file, (files.get(where.file) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number): number => (busyUs === 0 ? 0 : (100 * us) / busyUs);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, limit)
      .map((r) => ({ name: r.name, where: r.where, selfMs: r.us / 1000, percent: pct(r.us) })),
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([file, us]) => ({ name: file, where: file, selfMs: us / 1000, percent: pct(us) })),
  };
}

// ---------------------------------------------------------------------------------------------------------

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Maps a frame to `file:line` in the sources (through the bundle's map) and to a file/package bucket. */
function locate(
  frame: CallFrame,
  maps: Map<string, SourceMap | null>,
  repoRoot: string,
): { at: string; file: string } {
  if (frame.url === '') return { at: '(V8)', file: frame.functionName || '(V8)' };
  if (frame.url.startsWith('node:')) return { at: frame.url, file: 'node:internal (streams, net, …)' };
  let map = maps.get(frame.url);
  if (map === undefined) {
    map = loadMap(frame.url);
    maps.set(frame.url, map);
  }
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
  const source =
    entry !== undefined && 'originalSource' in entry && entry.originalSource !== undefined
      ? entry.originalSource
      : frame.url;
  // Source-map sources are relative to the bundle's directory.
  const bundle = frame.url.startsWith('file:') ? fileURLToPath(frame.url) : frame.url;
  const absolute = source.startsWith('file:')
    ? fileURLToPath(source)
    : isAbsolute(source)
      ? source
      : resolve(dirname(bundle), source);
  const path = relative(repoRoot, absolute);
  const line = entry !== undefined && 'originalLine' in entry ? entry.originalLine + 1 : frame.lineNumber + 1;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  return { at: `${path.replace(/^.*node_modules\//, '')}:${line}`, file: pkg ?? path };
}

function loadMap(url: string): SourceMap | null {
  try {
    const file = url.startsWith('file:') ? fileURLToPath(url) : url;
    return new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload);
  } catch {
    return null;
  }
}
