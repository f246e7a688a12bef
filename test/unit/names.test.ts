// Every exported name is defined in one product module: two `Reference`s or
// two `BuildResult`s make a reader (and an editor's auto-import) guess which
// one a file means. Re-exports (`export { x } from`, or of an imported name)
// are not definitions and may repeat.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { productFiles, repoRoot as root } from '../helpers/product.js';
import { test } from 'vitest';

/**
 * Known duplicates still to be renamed, each with the name it should get. The
 * list may only shrink: a name that is no longer duplicated fails the test
 * until it is taken off.
 */
const PENDING: Record<string, string> = {};

/** The names a module defines and exports: declarations with `export`, and `export { local }` of its own bindings. */
function exportedDefinitions(source: string, file = 'x.ts'): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, false);
  const imported = new Set<string>();
  for (const s of sf.statements) {
    const c = ts.isImportDeclaration(s) ? s.importClause : undefined;
    if (!c) continue;
    if (c.name) imported.add(c.name.text);
    const b = c.namedBindings;
    if (b && ts.isNamedImports(b)) for (const e of b.elements) imported.add(e.name.text);
    if (b && ts.isNamespaceImport(b)) imported.add(b.name.text);
  }
  const names: string[] = [];
  for (const s of sf.statements) {
    if (ts.isExportDeclaration(s)) {
      if (s.moduleSpecifier || !s.exportClause || !ts.isNamedExports(s.exportClause)) continue;
      for (const e of s.exportClause.elements) if (!imported.has((e.propertyName ?? e.name).text)) names.push(e.name.text);
      continue;
    }
    if (!ts.canHaveModifiers(s) || !ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
    } else if ('name' in s && s.name && ts.isIdentifier(s.name as ts.Node)) {
      names.push((s.name as ts.Identifier).text);
    }
  }
  return names;
}

test('the definition finder sees declarations and local re-exports, not re-exports of imports', () => {
  const src = [
    "import { a, type B } from './a.js';",
    "export { c } from './c.js';",
    'export type { B };',
    'export interface D {}',
    'export type E = 1;',
    'export const F = 1, G = 2;',
    'export function H() {}',
    'export class I {}',
    'export enum J { x }',
    'const k = 1;',
    'export { k as K, a };',
    'function l() {}',
  ].join('\n');
  assert.deepEqual(exportedDefinitions(src).sort(), ['D', 'E', 'F', 'G', 'H', 'I', 'J', 'K']);
});

test('no exported name is defined in two product modules', () => {
  const where = new Map<string, string[]>();
  for (const file of productFiles()) {
    for (const name of exportedDefinitions(readFileSync(join(root, file), 'utf8'), file)) where.set(name, [...(where.get(name) ?? []), file]);
  }
  const duplicated = [...where].filter(([, files]) => files.length > 1);
  const unexpected = duplicated.filter(([name]) => !(name in PENDING)).map(([name, files]) => `${name}: ${files.join(', ')}`);
  assert.deepEqual(unexpected, [], 'give each a name that says what it is');
  const fixed = Object.keys(PENDING).filter((name) => !duplicated.some(([n]) => n === name));
  assert.deepEqual(fixed, [], 'no longer duplicated: take them off PENDING');
});
