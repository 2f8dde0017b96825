import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map(
    (m) => m[1] as string,
  );
}

const folderOf = (path: string): string => relative(root, path).split('/')[0] as string;

describe('architecture', () => {
  it('keeps src/core free of imports from outside src/core except zod/mini and node:crypto (hashing)', () => {
    for (const file of files(join(root, 'core'))) {
      for (const spec of imports(file)) {
        expect({
          file: relative(root, file),
          spec,
          ok: spec === 'zod/mini' || spec === 'node:crypto' || /^\.\/[\w-]+\.js$/.test(spec),
        }).toMatchObject({ ok: true });
      }
    }
  });

  it('keeps src/core free of clocks, random sources, timers and I/O', () => {
    const forbidden =
      /\b(Date\.now|Math\.random|setTimeout|setInterval|setImmediate|process\.|require\(|fetch\(|performance\.now)/;
    for (const file of files(join(root, 'core'))) {
      const code = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line))
        .join('\n');
      expect({ file: relative(root, file), match: forbidden.exec(code)?.[0] }).toEqual({
        file: relative(root, file),
        match: undefined,
      });
    }
  });

  it('lets the HTTP handler reach the engine only through the fetcher', () => {
    for (const file of files(join(root, 'http'))) {
      for (const spec of imports(file).filter((s) => s.startsWith('.'))) {
        const target = relative(root, join(file, '..', spec));
        const allowed =
          ['http', 'core'].includes(folderOf(join(root, target))) ||
          target === 'ports.js' ||
          target === 'engine/fetcher.js' ||
          target === 'engine/fetcher-types.js'; // the fetcher's types and internal entry points
        expect({ file: relative(root, file), spec, allowed }).toMatchObject({ allowed: true });
      }
    }
  });

  it('lets adapters depend on core and ports only, never on each other or on the engine', () => {
    const adapters = ['storage', 'transport', 'metrics', 'testing'];
    for (const folder of adapters) {
      let dir: string;
      try {
        dir = join(root, folder);
        statSync(dir);
      } catch {
        continue;
      }
      for (const file of files(dir)) {
        for (const spec of imports(file).filter((s) => s.startsWith('.'))) {
          const target = join(file, '..', spec);
          const targetFolder = folderOf(target);
          const allowed = targetFolder === folder || targetFolder === 'core' || targetFolder === 'ports.js';
          expect({ file: relative(root, file), spec, allowed }).toMatchObject({ allowed: true });
        }
      }
    }
  });
});
