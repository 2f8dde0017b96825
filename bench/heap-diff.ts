/**
 * Compares two V8 heap snapshots (e.g. those of `npm run bench:soak -- --heap-snapshots --keep`, taken after
 * two `gc()` calls) and prints what grew: live objects grouped by type and constructor (strings, code and numbers
 * each as one group), with the change in count and in self size.
 *
 * Usage: `npx tsx bench/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top 25]`
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { table } from './report.js';

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

/** Count and self bytes per group. */
type Groups = Map<string, { count: number; bytes: number }>;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
if (positionals.length !== 2)
  throw new Error('Usage: heap-diff.ts <before.heapsnapshot> <after.heapsnapshot>');
const before = groups(positionals[0] as string);
const after = groups(positionals[1] as string);
const rows = [...new Set([...before.keys(), ...after.keys()])].map((key) => {
  const a = before.get(key) ?? { count: 0, bytes: 0 };
  const b = after.get(key) ?? { count: 0, bytes: 0 };
  return { key, count: b.count - a.count, bytes: b.bytes - a.bytes, total: b.bytes };
});
rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes));
const sum = (g: Groups): number => [...g.values()].reduce((s, v) => s + v.bytes, 0);
process.stdout.write(
  `Self size of all live objects: ${(sum(before) / 1e6).toFixed(2)} MB → ${(sum(after) / 1e6).toFixed(2)} MB\n\n`,
);
process.stdout.write(
  `${table(
    ['type: constructor / name', 'Δ count', 'Δ self size', 'self size after'],
    rows
      .slice(0, Number(values.top))
      .map((r) => [
        `\`${r.key.replace(/`/g, "'").slice(0, 80)}\``,
        signed(r.count),
        `${signed(Math.round(r.bytes / 1024))} KiB`,
        `${Math.round(r.total / 1024)} KiB`,
      ]),
  )}\n`,
);

function groups(path: string): Groups {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out: Groups = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    const name = snap.strings[snap.nodes[i + nameAt] as number] ?? '';
    // A string's "name" is its text, a number's its value: one group each.
    const key = ['string', 'concatenated string', 'sliced string', 'number', 'code', 'heap number'].includes(
      type,
    )
      ? type
      : `${type}: ${name}`;
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[i + sizeAt] as number;
    out.set(key, g);
  }
  return out;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
