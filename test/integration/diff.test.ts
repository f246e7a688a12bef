// strata diff with the real nix and a real registry: the same image in every
// transport is identical; a store path rebuilt with other bytes after a
// garbage collection (the same store path, one other file) and a changed
// config field are pinpointed; bad input exits 2 with one line.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import type { DiffReport } from '../../compare/report.js';
import type { ImageIndex, ImageManifest } from '../../oci/types.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { copyRepoExample, expectFailure, expectOk, removeDir, repoRoot, runStrata, sh, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';

/** A flake whose one package writes 16 random bytes: the same store path has other contents each time it is built. */
const UNREPRODUCIBLE = `{
  outputs = { self }:
    let
      strata = import ./nix/lib.nix;
      system = "x86_64-linux";
      bb = ./bb;
      stamp = derivation {
        name = "stamp-1.0";
        inherit system;
        builder = "\${bb}/bin/busybox";
        args = [ "sh" "-c" "\${bb}/bin/busybox mkdir -p $out/share && \${bb}/bin/busybox head -c 16 /dev/urandom | \${bb}/bin/busybox od -An -tx1 > $out/share/stamp && echo fixed > $out/share/fixed" ];
      };
    in {
      packages.\${system}.default = strata.image { name = "stamp"; contents = [ stamp ]; };
    };
}
`;

let work: string;
let registry: Registry;
let a: string;
beforeAll(async () => {
  work = tempDir('strata-diff-');
  registry = await startRegistry();
  a = join(work, 'a');
  expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${a}:1.0`]));
});
afterAll(async () => {
  await registry?.stop();
  removeDir(work);
});

async function diff(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runStrata(['diff', ...args]);
}

async function diffJson(x: string, y: string, extra: string[] = []): Promise<DiffReport> {
  const r = await diff([x, y, '--json', ...extra]);
  assert.equal(r.code, 1, `expected a difference: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as DiffReport;
}

describe('strata diff: the same image', () => {
  test('an installable and the image build wrote: exit 0, nothing else said but the digest', async () => {
    const r = await diff([GOLDEN, `oci:${a}:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^identical: sha256:[0-9a-f]{64}$/m);
    assert.doesNotMatch(r.stdout, /layer|config:/);
  });
  test('an OCI layout and the same image pushed to a registry, and a docker-archive by its image ID', async () => {
    expectOk(await runStrata(['push', `oci:${a}:1.0`, `${registry.host}/golden:1.0`, '-q']));
    const r = await diff([`oci:${a}:1.0`, `docker://${registry.host}/golden:1.0`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const archive = join(work, 'golden-docker.tar');
    expectOk(await runStrata(['build', GOLDEN, '-o', `docker-archive:${archive}`]));
    const d = await diff([`docker-archive:${archive}`, `docker://${registry.host}/golden:1.0`]);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.match(d.stdout, /identical: sha256:[0-9a-f]{64} \(A is a docker-archive, which holds no manifest/);
  });
  test("a registry image's layers are read when they differ: another SOURCE_DATE_EPOCH, every entry's mtime", async () => {
    const report = await diffJson(`${registry.host}/golden:1.0`, GOLDEN, ['--source-date-epoch', '1700000000']);
    const d = report.images[0]!;
    assert.ok(d.layers.every((l) => l.status === 'differs'));
    const files = [...d.storePaths.flatMap((s) => s.files), ...d.files];
    assert.ok(files.length > 10 && files.every((f) => f.facts.join() === 'mtime'), JSON.stringify(files.slice(0, 3)));
    assert.match(d.hints.join('\n'), /another SOURCE_DATE_EPOCH/);
  });
  test('the same tars compressed otherwise: every layer recompressed, the config the same, the compressor named', async () => {
    const report = await diffJson(`oci:${a}:1.0`, GOLDEN, ['--compression', 'zstd']);
    const d = report.images[0]!;
    assert.deepEqual(
      d.layers.map((l) => l.status),
      ['recompressed', 'recompressed', 'recompressed', 'recompressed'],
    );
    assert.equal(d.a.config, d.b.config);
    assert.deepEqual(
      d.manifest.map((c) => c.path),
      ['annotations["dev.strata.compressor"]'],
    );
    assert.deepEqual(d.storePaths, []);
  });
});

describe('strata diff: indexes (made by strata index)', () => {
  let both: string;
  beforeAll(async () => {
    both = join(work, 'both');
    expectOk(await runStrata(['index', GOLDEN, '--platform', 'x86_64-linux', '--platform', 'aarch64-linux', '-o', `oci:${both}:1`, '-q']));
  });
  test('an index and an image: the index image of that platform is compared', async () => {
    const r = await diff([`oci:${both}:1`, GOLDEN]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /identical: .*\(A is an index: its linux\/amd64 image is compared\)/);
    const arm = await diff([GOLDEN, `oci:${both}:1`, '--system', 'aarch64-linux']);
    assert.equal(arm.code, 0, arm.stderr + arm.stdout);
    const other = await diffJson(`oci:${both}:1`, GOLDEN, ['--platform', 'linux/arm64', '--env', 'X=1']);
    assert.equal(other.images[0]!.platform, 'linux/arm64');
  });
  test('two indexes: the platforms only one has, and the same index made in another order', async () => {
    const reordered = join(work, 'reordered');
    expectOk(await runStrata(['index', GOLDEN, '--platform', 'aarch64-linux', '--platform', 'x86_64-linux', '-o', `oci:${reordered}:1`, '-q']));
    const same = await diff([`oci:${both}:1`, `oci:${reordered}:1`]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    const amd = join(work, 'amd-only');
    expectOk(await runStrata(['index', `oci:${a}:1.0`, '-o', `oci:${amd}:1`, '-q']));
    const report = await diffJson(`oci:${both}:1`, `oci:${amd}:1`);
    assert.deepEqual(report.index!.onlyInA, ['linux/arm64']);
    assert.deepEqual(
      report.images.map((i) => [i.platform, i.identical]),
      [['linux/amd64', true]],
    );
  });
  test('a platform the index lacks: exit 2, one line', async () => {
    expectFailure(
      await diff([`oci:${both}:1`, `oci:${both}:1`, '--platform', 'linux/s390x']),
      2,
      /^strata: A is an index with no linux\/s390x image \(it has linux\/amd64, linux\/arm64\)$/,
    );
  });
});

describe('strata diff: planted differences', () => {
  test('one store path built again with other bytes after a garbage collection: that store path, that file', async () => {
    const dir = join(work, 'unreproducible');
    mkdirSync(join(dir, 'bb', 'bin'), { recursive: true });
    mkdirSync(join(dir, 'nix'));
    cpSync(join(repoRoot, 'nix', 'lib.nix'), join(dir, 'nix', 'lib.nix'));
    cpSync('/bin/busybox', join(dir, 'bb', 'bin', 'busybox'));
    writeFileSync(join(dir, 'flake.nix'), UNREPRODUCIBLE);
    sh('git', ['init', '-q', '.'], { cwd: dir });
    sh('git', ['add', '-A'], { cwd: dir });
    const first = join(work, 'first');
    const second = join(work, 'second');
    expectOk(await runStrata(['build', `${dir}#default`, '-o', `oci:${first}:1`]));
    const stamp = `/nix/store/${readdirSync('/nix/store').find((n) => n.endsWith('-stamp-1.0'))!}`;
    // The stamp and what refers to it (the image description), and nothing else.
    const referrers = sh('nix-store', ['--query', '--referrers-closure', stamp]).trim().split('\n');
    sh('nix-store', ['--delete', ...referrers]);
    expectOk(await runStrata(['build', `${dir}#default`, '-o', `oci:${second}:1`]));

    const report = await diffJson(`oci:${first}:1`, `oci:${second}:1`);
    const d = report.images[0]!;
    assert.equal(d.storePaths.length, 1, JSON.stringify(d.storePaths));
    const s = d.storePaths[0]!;
    assert.equal(s.a, stamp);
    assert.equal(s.b, stamp);
    assert.deepEqual(
      s.files.map((f) => [f.path, f.change, f.facts]),
      [['share/stamp', 'changed', ['sha256']]],
    );
    assert.notEqual(s.files[0]!.a!.sha256, s.files[0]!.b!.sha256);
    assert.deepEqual(d.files, [], 'nothing outside the store differs');
    assert.deepEqual(d.config, [], 'only the diffIDs of the config differ');
    assert.deepEqual(d.layers.map((l) => l.status).sort(), ['differs', 'identical']);
    const text = await diff([`oci:${first}:1`, `oci:${second}:1`]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`~ ${stamp} \\(layer 1\\): 1 entry differs\\n +~ share/stamp: content sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}`));
    assert.match(text.stdout, /its build is not reproducible/);
  });

  test('one config field: named by its path, and no layer read or reported', async () => {
    const d = (await diffJson(`oci:${a}:1.0`, GOLDEN, ['--env', 'FOO=1'])).images[0]!;
    assert.deepEqual(d.config, [{ path: 'config.Env', a: ['LANG=C.UTF-8'], b: ['LANG=C.UTF-8', 'FOO=1'], onlyInA: [], onlyInB: ['FOO=1'] }]);
    assert.ok(d.layers.every((l) => l.status === 'identical'));
    assert.deepEqual(d.storePaths, []);
    const text = await diff([`oci:${a}:1.0`, GOLDEN, '--env', 'FOO=1']);
    assert.match(text.stdout, /config\.Env: only B has "FOO=1"/);
  });

  test('one file changed in the flake: the store path under its new hash, the file, and the launcher that names it', async () => {
    const copy = copyRepoExample(tempDir('strata-diff-copy-'));
    writeFileSync(join(copy, 'data', 'settings.conf'), 'greeting = changed\n');
    sh('git', ['add', '-A'], { cwd: join(copy, '..', '..') });
    const d = (await diffJson(GOLDEN, `${copy}#default`)).images[0]!;
    const data = d.storePaths.find((s) => s.name === 'golden-data')!;
    assert.equal(data.change, 'changed');
    assert.notEqual(data.a, data.b);
    assert.deepEqual(
      data.files.map((f) => [f.path, f.facts.includes('sha256')]),
      [['settings.conf', true]],
    );
    const launcher = d.storePaths.find((s) => s.name === 'golden-launcher')!;
    assert.deepEqual(
      launcher.files.map((f) => f.path),
      [''],
      'the launcher is a single file that names the data path',
    );
    assert.ok(!d.storePaths.some((s) => s.name === 'golden-app-1.0'), 'the app is untouched');
  });
});

describe('strata diff: bad input exits 2 with one line', () => {
  test('an image that cannot be read', async () => {
    expectFailure(await diff([`oci:${join(work, 'nothing')}`, GOLDEN]), 2, /^strata: A \(oci:.*nothing\): .*is not a readable OCI layout/);
    expectFailure(await diff([GOLDEN, `docker://${registry.host}/absent:1`]), 2, /^strata: B \(docker:\/\/.*absent:1\): .*no such image/);
    expectFailure(await diff([GOLDEN, './examples/golden#no-such-output']), 2, /^strata: B \(\.\/examples\/golden#no-such-output\): /);
  });
  test('two images of different platforms, and a platform neither has', async () => {
    const arm = join(work, 'arm');
    expectOk(await runStrata(['build', GOLDEN, '--system', 'aarch64-linux', '-o', `oci:${arm}:1.0`]));
    expectFailure(
      await diff([`oci:${a}:1.0`, `oci:${arm}:1.0`]),
      2,
      /^strata: A is a linux\/amd64 image and B a linux\/arm64 one: diff compares images of one platform$/,
    );
    expectFailure(await diff([`oci:${a}:1.0`, `oci:${a}:1.0`, '--platform', 'linux/arm64']), 2, /^strata: A is a linux\/amd64 image, not linux\/arm64$/);
  });
  test('a layer whose bytes were damaged', async () => {
    const damaged = join(work, 'damaged');
    cpSync(a, damaged, { recursive: true });
    const blob = (d: string) => join(damaged, 'blobs', 'sha256', d.replace('sha256:', ''));
    const top = (JSON.parse(readFileSync(join(damaged, 'index.json'), 'utf8')) as ImageIndex).manifests[0]!;
    const layer = (JSON.parse(readFileSync(blob(top.digest), 'utf8')) as ImageManifest).layers[1]!;
    sh('chmod', ['u+w', blob(layer.digest)]);
    sh('sh', ['-c', `printf 'X' | dd of=${blob(layer.digest)} bs=1 seek=20 conv=notrunc status=none`]);
    // Another SOURCE_DATE_EPOCH makes every layer differ, so every layer is read. The blob's digest check (at
    // its end) and the decompressor (on the way) both see the damage; which one speaks first is a race
    // between them, and either line names the layer.
    expectFailure(
      await diff([`oci:${damaged}:1.0`, GOLDEN, '--source-date-epoch', '1']),
      2,
      /^strata: oci:.*damaged: layer 2 (\(blob sha256:[0-9a-f]{64}\) )?is damaged: (its gzip data does not decompress|its bytes are sha256:[0-9a-f]{64} \(\d+ bytes\), not sha256:)/,
    );
  });
});
