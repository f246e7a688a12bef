// While an image is written, the store paths it reads are GC roots: a concurrent
// garbage collection cannot delete them. Checked with the real nix-store.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { GcRoots } from '../../nix/installable.js';
import { removeDir, sh, tempDir } from '../helpers/strata.js';

let work: string;
beforeAll(() => {
  work = tempDir('strata-gcroots-');
});
afterAll(() => removeDir(work));

function tryDelete(path: string): { ok: boolean; stderr: string } {
  const r = spawnSync('nix-store', ['--delete', path], { encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr };
}

test('held paths survive nix-store --delete; released ones can be collected', async () => {
  const file = join(work, `strata-gc-probe-${process.pid}-${Date.now()}`);
  writeFileSync(file, `a path only this test makes: ${file}\n`);
  const path = sh('nix-store', ['--add', file]).trim();
  assert.match(path, /^\/nix\/store\/[a-z0-9]{32}-strata-gc-probe-/);

  const roots = await GcRoots.create();
  await roots.hold([path]);
  const refused = tryDelete(path);
  assert.equal(refused.ok, false, 'a held path must not be deletable');
  assert.match(refused.stderr, /since it is still alive|is still alive/);
  assert.ok(existsSync(path));

  await roots.release();
  assert.equal(existsSync(roots.dir), false, 'the roots directory is gone');
  const deleted = tryDelete(path);
  assert.equal(deleted.ok, true, deleted.stderr);
  assert.equal(existsSync(path), false);
});

test('holding a path that is not in the store fails with the path named', async () => {
  const roots = await GcRoots.create();
  try {
    await assert.rejects(roots.hold(['/nix/store/00000000000000000000000000000000-strata-missing']), /strata-missing/);
  } finally {
    await roots.release();
  }
});
