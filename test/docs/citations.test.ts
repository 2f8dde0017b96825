/**
 * Every citation in the repository resolves inside the repository (docs/design.md "Citing this document"
 * gives the syntax):
 *
 * - nothing points to the specification, performance or style documents that live outside it;
 * - every requirement or property id (`R1`–`R22`, `P1`–`P28`) has its own heading in `docs/design.md`;
 * - every citation of a design.md heading, by its quoted text or by a link to its anchor, names a heading that
 *   exists;
 * - the `Tests:` line under each property in `docs/design.md` lists exactly the test files that name it.
 *
 * Scanned: code (`.ts`, and the `.js`/`.cjs`/`.mjs` variants, such as `scripts/smoke.cjs`) under src/, test/,
 * bench/, scripts/ and examples/, plus README.md, CHANGELOG.md, BENCHMARKS.md and docs/*.md.
 *
 * What counts as an id: `R` or `P` and a number, standing as a word of its own (so `R2D2`, `0xP1` and `P2P` are
 * not ids), not preceded by `$`, `#`, `@`, `.` or a backslash, and numbered within R1–R22 or P1–P28 (so `P99`
 * latency is not an id either). Ids count wherever they are written, in comments, test titles and strings
 * alike. A line that holds test data shaped like an id opts out by carrying the marker `citations: not an id`.
 * A failure lists every offending `file:line`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DESIGN = 'docs/design.md';
const SELF = 'test/docs/citations.test.ts';
const CODE_DIRS = ['src', 'test', 'bench', 'scripts', 'examples'];
const CODE_FILE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;
const MARKDOWN_FILES = ['README.md', 'CHANGELOG.md', 'BENCHMARKS.md'];
const REQUIREMENTS = 22;
const PROPERTIES = 28;

/**
 * Documents outside the repository, as they have been cited. The patterns are written so that their own
 * source text does not match them, which keeps this file clean without an exemption.
 */
const OUTSIDE = [
  /\bSPEC(?:\.md\b|[ \t]+[RP]\d{1,2}|[ \t]*§)/g, // the specification
  /\bPERFORMANCE(?:\.md\b|[ \t]*§)/g, // the performance notes
  /\bSTYLE(?:\.md\b|[ \t]*§)/g, // the style notes
];
const ID = /(?<![$#@.\\])\b([RP])(\d{1,2})\b/g;
const NOT_AN_ID = 'citations: not an id';
const QUOTED_CITATION = /\bdesign\.md,? "([^"\n]+)"/g;
const ANCHOR_CITATION = /\bdesign\.md#([\w-]+)/g;
/** A `§` after `design.md` is the section sign of the outside documents, not this repository's syntax. */
const SECTION_SIGN_CITATION = /\bdesign\.md[ \t]*§/;

interface Source {
  /** Repository-relative, with forward slashes. */
  readonly file: string;
  readonly lines: readonly string[];
}

const sources: readonly Source[] = [
  ...CODE_DIRS.flatMap((dir) => walk(join(ROOT, dir))).filter((path) => CODE_FILE.test(path)),
  ...MARKDOWN_FILES.map((name) => join(ROOT, name)).filter((path) => existsSync(path)),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(ROOT, 'docs', name)),
].map((path) => ({
  file: relative(ROOT, path).split('\\').join('/'),
  lines: readFileSync(path, 'utf8').split('\n'),
}));

const design = readFileSync(join(ROOT, DESIGN), 'utf8');
const headings = headingsOf(design);

describe('citations', () => {
  it('point nowhere outside the repository', () => {
    const offending: string[] = [];
    for (const { file, lines } of sources)
      lines.forEach((line, i) => {
        const found = OUTSIDE.flatMap((pattern) => [...line.matchAll(pattern)].map((m) => `"${m[0]}"`));
        if (found.length > 0) offending.push(`${file}:${i + 1}: ${found.join(', ')} in: ${line.trim()}`);
      });
    expect(
      offending,
      `documents outside the repository are cited; cite ${DESIGN} instead, as its section "Citing this document" says`,
    ).toEqual([]);
  });

  it(`cite only requirements and properties that ${DESIGN} has a heading for`, () => {
    const known = new Set(headings.map((h) => /^([RP]\d{1,2}) /.exec(h.text)?.[1]).filter(Boolean));
    const offending: string[] = [];
    for (const { file, lines } of sources)
      lines.forEach((line, i) => {
        for (const id of idsIn(line))
          if (!known.has(id)) offending.push(`${file}:${i + 1}: ${id} has no heading in ${DESIGN}`);
      });
    expect(offending).toEqual([]);
  });

  it(`cite only ${DESIGN} headings that exist, by their quoted text or their anchor`, () => {
    const titles = new Set(headings.map((h) => h.title));
    const anchors = new Set(headings.map((h) => h.anchor));
    const offending: string[] = [];
    for (const { file, lines } of sources)
      lines.forEach((line, i) => {
        const at = `${file}:${i + 1}`;
        for (const [, title] of line.matchAll(QUOTED_CITATION))
          if (!titles.has(title as string)) offending.push(`${at}: no heading "${title}" in ${DESIGN}`);
        for (const [, anchor] of line.matchAll(ANCHOR_CITATION))
          if (!anchors.has(anchor as string)) offending.push(`${at}: no anchor #${anchor} in ${DESIGN}`);
        if (SECTION_SIGN_CITATION.test(line))
          offending.push(
            `${at}: quote the heading's text after design.md instead of a § number: ${line.trim()}`,
          );
      });
    expect(offending).toEqual([]);
  });

  it(`give ${DESIGN} one heading per requirement and per property, in order, each with a name`, () => {
    const ids = headings
      .filter((h) => h.level === 3)
      .map((h) => /^([RP]\d{1,2})(?: \S.*)?$/.exec(h.text))
      .filter((m) => m !== null)
      .map((m) => (m[0] === m[1] ? `${m[1]} (no name)` : m[1]));
    expect(ids).toEqual([
      ...Array.from({ length: REQUIREMENTS }, (_, i) => `R${i + 1}`),
      ...Array.from({ length: PROPERTIES }, (_, i) => `P${i + 1}`),
    ]);
  });

  it(`list under each property of ${DESIGN} exactly the test files that name it`, () => {
    // This file names ids to describe the rules; it checks no property.
    const tests = sources.filter(({ file }) => /^test\/.*\.test\.ts$/.test(file) && file !== SELF);
    const listed = testsListedPerProperty(design);
    const offending: string[] = [];
    for (let n = 1; n <= PROPERTIES; n++) {
      const id = `P${n}`;
      const naming = tests.filter(({ lines }) => lines.some((line) => idsIn(line).includes(id)));
      const names = new Set(naming.map(({ file }) => file));
      const inDoc = listed.get(id) ?? [];
      for (const file of inDoc)
        if (!names.has(file))
          offending.push(`${DESIGN} lists ${file} under ${id}, but that file does not name ${id}`);
      for (const { file } of naming)
        if (!inDoc.includes(file)) offending.push(`${file} names ${id}; list it on the Tests: line of ${id}`);
    }
    expect(offending).toEqual([]);
  });

  it(`name only files that exist in ${DESIGN}`, () => {
    const paths = [
      ...design.matchAll(/`((?:src|test|bench|scripts|examples|docs)\/[\w./-]+\.\w+|[A-Z]+\.md)`/g),
    ];
    const missing = paths.map((m) => m[1] as string).filter((path) => !existsSync(join(ROOT, path)));
    expect(missing).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Every file under `dir`, skipping dependencies and build output. */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'dist') return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** The requirement and property ids a line cites (see the header for the rule). */
function idsIn(line: string): string[] {
  if (line.includes(NOT_AN_ID)) return [];
  const ids: string[] = [];
  for (const [, kind, digits] of line.matchAll(ID)) {
    const n = Number(digits);
    const top = kind === 'R' ? REQUIREMENTS : PROPERTIES;
    if (!(digits as string).startsWith('0') && n >= 1 && n <= top) ids.push(`${kind}${n}`);
  }
  return ids;
}

interface Heading {
  readonly level: number;
  /** The heading as written after the `#`s. */
  readonly text: string;
  /** What a quoted citation names: the text without a leading `12. ` number. */
  readonly title: string;
  /** GitHub's anchor for the heading. */
  readonly anchor: string;
}

/** The Markdown headings of a document, outside fenced code blocks. */
function headingsOf(markdown: string): Heading[] {
  const found: Heading[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const text = m[2] as string;
    const anchor = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    found.push({ level: (m[1] as string).length, text, title: text.replace(/^\d+\.\s+/, ''), anchor });
  }
  return found;
}

/** For each property section, the backquoted test paths of its `Tests:` line (up to a `Related:` line). */
function testsListedPerProperty(markdown: string): Map<string, string[]> {
  const listed = new Map<string, string[]>();
  for (const section of markdown.split(/^(?=#{1,6} )/m)) {
    const id = /^### (P\d{1,2}) /.exec(section)?.[1];
    if (id === undefined) continue;
    const tests = /^Tests:([\s\S]*?)(?=^Related:|^\s*$|$(?![\s\S]))/m.exec(section)?.[1] ?? '';
    listed.set(
      id,
      [...tests.matchAll(/`(test\/[^`]+)`/g)].map((m) => m[1] as string),
    );
  }
  return listed;
}
