// The product's own modules, for tests that read the source itself (the layout
// and name checks): every .ts file under the product folders, tests excluded.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Bottom first, as test/unit/layout.test.ts enforces: a folder may import its own files and any folder before it. */
export const LAYERS: string[][] = [
  ['base'],
  ['oci'],
  ['nix'],
  ['layers'],
  ['image'],
  ['registry'],
  ['compare', 'sign'],
  ['registry/server'],
  ['src'],
  ['src/cli'],
];

/** Paths relative to the repository root, sorted. */
export function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(repoRoot, dir)).sort()) {
      const rel = join(dir, name);
      if (statSync(join(repoRoot, rel)).isDirectory()) walk(rel);
      else if (rel.endsWith('.ts') && !rel.endsWith('.d.ts') && !rel.endsWith('.test.ts')) out.push(rel);
    }
  };
  for (const top of new Set(LAYERS.flat().map((f) => f.split('/')[0]!))) walk(top);
  return out;
}
