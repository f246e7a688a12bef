// Bad input: one line on stderr naming the cause, a non-zero exit, nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { lastLine, nixEnv, removeDir, runStrata, sh, tempDir, type RunResult } from '../helpers/strata.js';

let work: string;
beforeAll(() => {
  work = tempDir('strata-bad-');
});
afterAll(() => removeDir(work));

/** A throwaway flake in its own git repository. */
function flake(name: string, body: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'flake.nix'), `{ outputs = { self }: { packages.x86_64-linux = ${body}; }; }\n`);
  sh('git', ['init', '-q', '.'], { cwd: dir });
  sh('git', ['add', '-A'], { cwd: dir });
  return dir;
}

/** Strata's own last stderr line (nix's build log may come before it). */
function strataLine(r: RunResult): string {
  return lastLine(r.stderr);
}

function assertRefused(r: RunResult, exit: number, cause: RegExp): void {
  assert.equal(r.code, exit, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '', 'nothing on stdout');
  const line = strataLine(r);
  assert.match(line, /^strata: /);
  assert.match(line, cause);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
}

describe('bad input is refused with one line and nothing written', () => {
  test('no nix on PATH says how to install it', async () => {
    const out = join(work, 'no-nix');
    const r = await runStrata(['build', './examples/golden#default', '-o', `oci:${out}`], { env: nixEnv({ ...process.env, PATH: dirname(process.execPath) }) });
    assertRefused(r, 3, /'nix' is not on PATH: install Nix \(Debian: apt-get install nix-bin/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.ok(!existsSync(out));
  });

  test('an unknown flake attribute', async () => {
    const out = join(work, 'unknown-attr');
    const r = await runStrata(['build', './examples/golden#nope', '-o', `oci:${out}`]);
    assertRefused(r, 4, /does not provide attribute .*nope/);
    assert.equal(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('warning:')).length,
      1,
    );
    assert.ok(!existsSync(out));
  });

  test('an evaluation failure', async () => {
    const dir = flake('eval-fails', '{ default = throw "this flake fails to evaluate on purpose"; }');
    const out = join(work, 'eval-out');
    const r = await runStrata(['build', `${dir}#default`, '-o', `oci:${out}`]);
    assertRefused(r, 4, /this flake fails to evaluate on purpose/);
    assert.ok(!existsSync(out));
  });

  test('a build failure passes the build log through and names the failure last', async () => {
    const dir = flake(
      'build-fails',
      '{ default = derivation { name = "fails"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo this builder fails on purpose >&2; exit 1" ]; }; }',
    );
    const out = join(work, 'build-out');
    const r = await runStrata(['build', `${dir}#default`, '-o', `oci:${out}`]);
    assertRefused(r, 4, /nix build .* failed .*fails\.drv/);
    assert.match(r.stderr, /this builder fails on purpose/, 'the build log reaches stderr');
    assert.ok(!existsSync(out));
  });

  test('a non-Linux system', async () => {
    const out = join(work, 'darwin');
    const r = await runStrata(['build', './examples/golden#default', '--system', 'aarch64-darwin', '-o', `oci:${out}`]);
    assertRefused(r, 2, /cannot make an image for system 'aarch64-darwin': container images run Linux/);
    assert.ok(!existsSync(out));
  });

  test('an unwritable output', async () => {
    const r = await runStrata(['build', './examples/golden#default', '-o', 'oci:/proc/strata-cannot-write-here']);
    assertRefused(r, 6, /cannot write OCI layout at \/proc\/strata-cannot-write-here/);
    const file = join(work, 'a-file');
    writeFileSync(file, 'not a directory');
    const r2 = await runStrata(['build', './examples/golden#default', '-o', `oci-archive:${file}/x.tar`]);
    assertRefused(r2, 6, /a-file/);
    assert.equal(readFileSync(file, 'utf8'), 'not a directory');
  });

  test('a store path whose bytes no longer match its NAR hash (the check runs in the worker threads)', async () => {
    const dir = join(work, `strata-corrupt-${process.pid}`);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'bin', 'tool'), 'original content\n');
    const storePath = sh('nix-store', ['--add', dir]).trim();
    const file = join(storePath, 'bin', 'tool');
    try {
      sh('chmod', ['u+w', join(storePath, 'bin'), file]);
      writeFileSync(file, 'tampered content\n');
      const out = join(work, 'corrupt-out');
      const r = await runStrata(['build', storePath, '-o', `oci:${out}`, '--no-cache']);
      assertRefused(r, 5, new RegExp(`store path ${storePath.replace(/[.+]/g, '\\$&')} does not match its NAR hash`));
      assert.ok(!existsSync(out));
    } finally {
      sh('nix-store', ['--delete', storePath]);
    }
  });

  test('an image given where an installable is expected, a system the installable contradicts, a time tar cannot hold', async () => {
    assertRefused(await runStrata(['build', `oci:${work}/x`, '-o', `oci:${join(work, 'from-oci')}`]), 2, /is an image, not a Nix installable/);
    assertRefused(
      await runStrata(['digest', './examples/golden#packages.x86_64-linux.default', '--system', 'aarch64-linux']),
      2,
      /names system x86_64-linux, but the image is for aarch64-linux/,
    );
    assertRefused(await runStrata(['digest', './examples/golden#default', '--source-date-epoch', '2147483648']), 2, /after 2038-01-19/);
    assert.ok(!existsSync(join(work, 'from-oci')));
  });

  test('an unknown transport', async () => {
    const r = await runStrata(['build', './examples/golden#default', '-o', `dir:${join(work, 'dir-transport')}`]);
    assertRefused(r, 2, /unknown transport 'dir:'/);
    assert.ok(!existsSync(join(work, 'dir-transport')));
  });

  test('a directory that is not an OCI layout is left alone', async () => {
    const dir = join(work, 'not-a-layout');
    mkdirSync(dir);
    writeFileSync(join(dir, 'precious.txt'), 'keep me');
    const r = await runStrata(['build', './examples/golden#default', '-o', `oci:${dir}`]);
    assertRefused(r, 6, /neither empty nor an OCI image layout/);
    assert.deepEqual(readdirSync(dir), ['precious.txt']);
  });

  test("invalid flags: --max-layers above containerd's limit, zstd in docker form, a bad tag", async () => {
    const out = join(work, 'flags');
    assertRefused(await runStrata(['build', './examples/golden#default', '--max-layers', '128', '-o', `oci:${out}`]), 2, /above 127/);
    assertRefused(
      await runStrata(['build', './examples/golden#default', '--compression', 'zstd', '-o', `docker-archive:${out}.tar`]),
      2,
      /docker-archive holds uncompressed layers/,
    );
    assertRefused(await runStrata(['build', './examples/golden#default', '--tag', 'no spaces', '-o', `oci:${out}`]), 2, /'no spaces' is not a valid tag/);
    assert.ok(!existsSync(out) && !existsSync(`${out}.tar`));
  });
});

describe('writing is atomic', () => {
  test('a failed build adds nothing to an existing layout, and a second image keeps the first', async () => {
    const layout = join(work, 'shared-layout');
    const first = await runStrata(['build', './examples/golden#default', '-o', `oci:${layout}:one`]);
    assert.equal(first.code, 0, first.stderr);
    const index = readFileSync(join(layout, 'index.json'));
    const dir = flake('fails-late', '{ default = derivation { name = "fails"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; }; }');
    const failed = await runStrata(['build', `${dir}#default`, '-o', `oci:${layout}:two`]);
    assert.equal(failed.code, 4);
    assert.deepEqual(readFileSync(join(layout, 'index.json')), index, 'index.json untouched');
    const second = await runStrata(['build', './examples/golden#default', '--compression', 'zstd', '-o', `oci:${layout}:three`]);
    assert.equal(second.code, 0, second.stderr);
    const refs = (
      JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] }
    ).manifests.map((m) => [m.annotations['org.opencontainers.image.ref.name'], m.digest]);
    assert.deepEqual(refs, [
      ['one', lastLine(first.stdout)],
      ['three', lastLine(second.stdout)],
    ]);
    for (const tag of ['one', 'three']) assert.equal(JSON.parse(sh('skopeo', ['inspect', `oci:${layout}:${tag}`])).Os, 'linux');
    assert.ok(!readdirSync(work).some((n) => n.includes('strata-tmp') || n.includes('strata-stage')), 'no staging left behind');
  });
});
