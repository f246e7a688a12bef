// The dependency direction of the product's folders, as go-containerregistry's
// depcheck enforces its own: each folder imports only folders below it, the
// ground folder imports nothing else from the repository, and no two files
// (or folders) import each other, `import type` included — a type-only cycle
// still ties two modules into one unit nobody can read alone.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';
import { LAYERS, productFiles, repoRoot as root } from '../helpers/product.js';

const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));

function folderOf(file: string): string {
  return [...rank.keys()].filter((f) => file.startsWith(f + '/')).sort((a, b) => b.length - a.length)[0] ?? '';
}

/** Every relative module a file names: static, `import type`, `export … from` and `import()`. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const files = productFiles();
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every product file belongs to a layer and names only files that exist', () => {
  for (const [file, deps] of graph) {
    assert.notEqual(folderOf(file), '', `${file} is in no layer`);
    for (const d of deps) assert.ok(graph.has(d), `${file} imports ${d}, which is not a product module`);
  }
});

test('folders import only folders below them; base imports nothing from the repository', () => {
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    for (const d of deps) {
      const to = folderOf(d);
      if (to !== from && !(rank.get(to)! < rank.get(from)!)) wrong.push(`${file} -> ${d}`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** Tarjan's strongly connected components; any component of two or more is a cycle. */
function cycles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(),
    low = new Map<string, number>(),
    stack: string[] = [],
    on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

test('no import cycles between files, import type included', () => {
  assert.deepEqual(cycles(graph), []);
});

test('no import cycles between folders', () => {
  const folders = new Map<string, string[]>();
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    const set = new Set(folders.get(from) ?? []);
    for (const d of deps) if (folderOf(d) !== from) set.add(folderOf(d));
    folders.set(from, [...set]);
  }
  assert.deepEqual(cycles(folders), []);
});

test('the cycle finder finds a type-only cycle (the check can fail)', () => {
  assert.deepEqual(
    cycles(
      new Map([
        ['a', ['b']],
        ['b', ['a']],
        ['c', ['a']],
      ]),
    ),
    [['a', 'b']],
  );
});
