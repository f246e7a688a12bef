// Interrupted while writing: no image, no staging, no temporary blobs, no lock
// left behind; a lock left by a killed writer does not block the next one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { nixEnv, removeDir, runStrata, sh, strataBin, tempDir } from '../helpers/strata.js';

let work: string;
let bigPath: string;
beforeAll(() => {
  work = tempDir('strata-interrupt-');
  // 64 MiB that gzip cannot shrink: several seconds of compression to interrupt.
  const file = join(work, `strata-interrupt-${process.pid}`);
  sh('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=64', 'status=none']);
  bigPath = sh('nix-store', ['--add', file]).trim();
});
afterAll(() => {
  sh('nix-store', ['--delete', bigPath]);
  removeDir(work);
});

/** The processes `pid` has started (Linux's /proc), none once it is gone. */
function children(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * SIGINT `ms` after Strata first runs nix, i.e. once start-up is over and the
 * work has begun: a clock started at spawn would measure start-up (slower from
 * the sources, and on a loaded machine) as much as the work, and could stop
 * Strata before it has anything to clean up.
 */
function interruptAfter(ms: number, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [strataBin, ...args], { env: nixEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let timer: NodeJS.Timeout | undefined;
    const poll = setInterval(() => {
      if (!children(child.pid!)) return;
      clearInterval(poll);
      timer = setTimeout(() => child.kill('SIGINT'), ms);
    }, 10);
    child.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('Ctrl-C during a build into a new layout leaves nothing', async () => {
  const out = join(work, 'new-layout');
  const r = await interruptAfter(1000, ['build', bigPath, '-o', `oci:${out}`, '--no-cache']);
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /strata: interrupted \(SIGINT\); cleaning up/);
  assert.ok(!existsSync(out));
  assert.deepEqual(
    readdirSync(work).filter((n) => n.includes('strata-')),
    [`strata-interrupt-${process.pid}`],
  );
});

test('Ctrl-C while adding to an existing layout leaves its index and blobs whole, and no temporary file', async () => {
  const out = join(work, 'existing');
  const first = await runStrata(['build', './examples/golden#default', '-o', `oci:${out}:one`]);
  assert.equal(first.code, 0, first.stderr);
  const before = readdirSync(join(out, 'blobs', 'sha256')).sort();
  const index = sh('cat', [join(out, 'index.json')]);
  const r = await interruptAfter(1000, ['build', bigPath, '-o', `oci:${out}:two`, '--no-cache']);
  assert.equal(r.code, 130, r.stderr);
  const after = readdirSync(join(out, 'blobs', 'sha256'));
  // Complete blobs that landed stay (another writer may already refer to one);
  // no temporary file does, and nothing that was there goes.
  assert.deepEqual(
    after.filter((n) => n.startsWith('.')),
    [],
  );
  for (const b of before) assert.ok(after.includes(b), `${b} kept`);
  assert.equal(sh('cat', [join(out, 'index.json')]), index);
  assert.ok(!existsSync(join(out, 'index.json.lock')));
});

test("a killed writer's lock is broken, not waited out", async () => {
  const out = join(work, 'stale-lock');
  assert.equal((await runStrata(['build', './examples/golden#default', '-o', `oci:${out}:one`])).code, 0);
  writeFileSync(join(out, 'index.json.lock'), '999999999'); // no such process
  const t = Date.now();
  const r = await runStrata(['build', './examples/golden#default', '--compression', 'zstd', '-o', `oci:${out}:two`]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - t < 30_000, 'did not wait for the lock to time out');
});
