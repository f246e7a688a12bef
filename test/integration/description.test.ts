// lib.image's output refers to the image's contents, however many: a result link
// keeps them alive and nix copy takes them (its closure holds them).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { lastLine, removeDir, repoRoot, runStrata, sh, tempDir } from '../helpers/strata.js';

let work: string;
beforeAll(() => {
  work = tempDir('strata-description-');
});
afterAll(() => removeDir(work));

test('the description output refers to 300 contents through its chain of links, and the image holds them all', async () => {
  mkdirSync(join(work, 'nix'));
  copyFileSync(join(repoRoot, 'nix', 'lib.nix'), join(work, 'nix', 'lib.nix'));
  mkdirSync(join(work, 'img'));
  writeFileSync(
    join(work, 'img', 'flake.nix'),
    `{ outputs = { self }: let strata = import ../nix/lib.nix; in {
        packages.x86_64-linux.default = strata.image {
          name = "many";
          contents = builtins.genList (i: builtins.toFile "strata-many-\${toString i}" "file \${toString i}\\n") 300;
        };
      }; }\n`,
  );
  sh('git', ['init', '-q', '.'], { cwd: work });
  sh('git', ['add', '-A'], { cwd: work });
  const out = (JSON.parse(sh('nix', ['build', '--json', '--no-link', `${work}/img#default`])) as { outputs: { out: string } }[])[0]!.outputs.out;
  const closure = sh('nix-store', ['-qR', out]).trim().split('\n');
  assert.equal(closure.filter((p) => /-strata-many-\d+$/.test(p)).length, 300);
  assert.ok(closure.filter((p) => p.endsWith('-many-strata-refs')).length >= 2, 'more than one link in the chain');
  const r = await runStrata(['digest', `${work}/img#default`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const layers = (JSON.parse(r.stdout) as { layers: { storePaths: string[] }[] }).layers;
  assert.equal(layers.flatMap((l) => l.storePaths).filter((p) => /-strata-many-\d+$/.test(p)).length, 300);
  assert.match(lastLine(r.stdout), /}$/);
});
