// Checks the dependency rule of docs/architecture.md against the code: the module-map table lists the
// folders of src/ in layer order, and every import in src/ (static, `export … from`, dynamic `import()`)
// goes from a folder to one listed above it, or to src/errors.ts / src/version.ts; src/cli and
// src/index.ts may use anything. It also finds import cycles between files, type-only imports included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative specifiers of every import/export-from/dynamic import in a TypeScript file, comments stripped. */
export function importsOf(code: string): string[] {
  const bare = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const specs: string[] = [];
  const re = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of bare.matchAll(re)) specs.push((m[1] ?? m[2])!);
  return specs.filter((s) => s.startsWith('.'));
}

/** src-relative path of the file an import resolves to (`../x.js` → `x.ts`). */
function resolveImport(from: string, spec: string): string {
  return relative(src, resolve(dirname(from), spec.replace(/\.js$/, '.ts')));
}

/** The folder layer of a src-relative path: `oci/digest.ts` → `oci`; top-level files → the file name. */
const folderOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : rel);

/** Folders of src/ in the order of the module-map table of docs/architecture.md. */
function layerOrder(): string[] {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const map = doc.slice(doc.indexOf('## Module map'));
  return [...map.matchAll(/^\| `src\/([\w-]+)\/` \|/gm)].map((m) => m[1]!);
}

const ROOT_FILES = new Set(['errors.ts', 'version.ts']);
const ANYTHING_GOES = new Set(['cli', 'index.ts']);

const files = sourceFiles(src);
const graph = new Map<string, string[]>(files.map((f) => [relative(src, f), importsOf(readFileSync(f, 'utf8')).map((s) => resolveImport(f, s))]));

test('the import parser sees static, type-only, re-export, multi-line and dynamic imports and skips comments', () => {
  const code = [
    "import { a } from './a.js';",
    "import type { B } from '../b/b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "import {\n  e,\n  f,\n} from './ef.js';",
    "import './side.js';",
    "const g = await import('./g.js');",
    "// import { h } from './h.js';",
    "/* import { i } from './i.js'; */",
    "import { createHash } from 'node:crypto';",
  ].join('\n');
  assert.deepEqual(importsOf(code), ['./a.js', '../b/b.js', './c.js', './d.js', './ef.js', './side.js', './g.js']);
});

test('every folder of src/ is in the module map of docs/architecture.md, in one place', () => {
  const order = layerOrder();
  assert.equal(new Set(order).size, order.length, `a folder is listed twice: ${order.join(', ')}`);
  const folders = [...new Set([...graph.keys()].filter((f) => f.includes('/')).map(folderOf))].sort();
  assert.deepEqual(folders.filter((f) => !order.includes(f)), [], 'folders missing from the module map');
  assert.deepEqual(order.filter((f) => !folders.includes(f)), [], 'module map lists folders that do not exist');
  // The rule has teeth only if it ranks the folders the review found in a cycle: oci above soci.
  assert.ok(order.indexOf('oci') < order.indexOf('soci'));
});

test('imports point only upwards in the module map (cli and src/index.ts may use anything)', () => {
  const order = layerOrder();
  const rank = (folder: string): number => (ROOT_FILES.has(folder) ? -1 : order.indexOf(folder));
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    for (const dep of deps) {
      assert.ok(graph.has(dep), `${file} imports ${dep}, which is not a file in src/`);
      const to = folderOf(dep);
      if (to === from || ANYTHING_GOES.has(from)) continue;
      if (ROOT_FILES.has(from) || !(rank(to) < rank(from))) wrong.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import cycles between files of src/', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of [...graph.keys()].sort()) visit(f, []);
  assert.deepEqual(cycles, []);
});
