// Images of the runnable example, read by independent clients: skopeo and umoci
// unpack them, and the entrypoint runs in a chroot of the unpacked rootfs
// (containers cannot be started here; a chroot can).
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { lastLine, prepareHello, removeDir, runStrata, sh, tempDir } from '../helpers/strata.js';

let work: string;
let flake: string;
beforeAll(() => {
  work = tempDir('strata-hello-');
  flake = prepareHello(join(work, 'src'));
});
afterAll(() => removeDir(work));

async function build(installable: string, dest: string, extra: string[] = []): Promise<string> {
  const r = await runStrata(['build', installable, '-o', dest, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return lastLine(r.stdout);
}

interface Unpacked {
  rootfs: string;
  args: string[];
  uid: number;
  gid: number;
  env: string[];
}

function unpack(layoutRef: string, dir: string): Unpacked {
  sh('umoci', ['unpack', '--image', layoutRef, dir]);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { process: { args: string[]; user: { uid: number; gid: number }; env: string[] } };
  return { rootfs: join(dir, 'rootfs'), args: cfg.process.args, uid: cfg.process.user.uid, gid: cfg.process.user.gid, env: cfg.process.env };
}

function runInChroot(u: Unpacked): string {
  return sh('/usr/sbin/chroot', [`--userspec=${u.uid}:${u.gid}`, u.rootfs, ...u.args], {
    env: Object.fromEntries(u.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
  });
}

describe('a plain package', () => {
  test('runs its meta.mainProgram in a chroot of the unpacked image', async () => {
    const out = join(work, 'plain');
    const digest = await build(`${flake}#default`, `oci:${out}`);
    assert.equal(JSON.parse(sh('skopeo', ['inspect', `oci:${out}:latest`])).Digest, digest);
    const u = unpack(`${out}:latest`, join(work, 'plain-unpacked'));
    assert.match(u.args[0]!, /^\/nix\/store\/[a-z0-9]{32}-hello-2\.12\/bin\/hello$/);
    assert.equal(runInChroot(u).trim(), 'Hello from a Strata image, running as 0');
    assert.equal(lstatSync(join(u.rootfs, 'tmp')).mode & 0o7777, 0o1777);
  });

  test('a store path and a result symlink give the same image as the flake reference', async () => {
    const viaFlake = await build(`${flake}#default`, `oci:${join(work, 'same-1')}`);
    const storePath = JSON.parse(sh('nix', ['build', '--json', '--no-link', `${flake}#default`]))[0].outputs.out as string;
    const link = join(work, 'result');
    symlinkSync(storePath, link);
    assert.equal(await build(storePath, `oci:${join(work, 'same-2')}`), viaFlake);
    assert.equal(await build(link, `oci:${join(work, 'same-3')}`), viaFlake);
    // A bare 'result', as nix build leaves it in the working directory.
    const bare = await runStrata(['digest', 'result'], { cwd: work });
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(lastLine(bare.stdout), viaFlake);
  });
});

describe('layer groupings of the example', () => {
  const names = (r: { layers: { storePaths: string[] }[] }) => r.layers.map((l) => l.storePaths.map((p) => p.slice(44)));
  async function layersOf(args: string[]): Promise<string[][]> {
    const r = await runStrata(['digest', `${flake}#image`, '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return names(JSON.parse(r.stdout) as { layers: { storePaths: string[] }[] });
  }
  test('one layer per store path, dependencies first, then the image root', async () => {
    assert.deepEqual(await layersOf([]), [['busybox-static-1.36'], ['hello-2.12'], []]);
    assert.deepEqual(await layersOf(['--layering', 'popularity']), [['busybox-static-1.36'], ['hello-2.12'], []]);
  });
  test('under a tight --max-layers, the root image layer stays and the store paths merge', async () => {
    assert.deepEqual(await layersOf(['--max-layers', '2']), [['busybox-static-1.36', 'hello-2.12'], []]);
  });
});

describe('a lib.image description', () => {
  let out: string;
  let u: Unpacked;
  beforeAll(async () => {
    out = join(work, 'described');
    await build(`${flake}#image`, `oci:${out}`);
    u = unpack(`${out}:latest`, join(work, 'described-unpacked'));
  });

  test('runs as the non-root user it names, with /etc/passwd and /etc/group', () => {
    assert.equal(u.uid, 1000);
    assert.equal(runInChroot(u).trim(), 'Hello from a Strata image, running as 1000');
    assert.match(readFileSync(join(u.rootfs, 'etc', 'passwd'), 'utf8'), /^app:x:1000:1000:/m);
    assert.match(readFileSync(join(u.rootfs, 'etc', 'group'), 'utf8'), /^app:x:1000:$/m);
  });

  test('links copyToRoot into / as a symlink farm', () => {
    const sh = readlinkSync(join(u.rootfs, 'bin', 'sh'));
    assert.match(sh, /^\/nix\/store\/[a-z0-9]{32}-busybox-static-1\.36\/bin\/sh$/);
    assert.ok(lstatSync(join(u.rootfs, 'bin')).isDirectory());
    const r = runInChroot({ ...u, args: ['/bin/sh', '-c', 'echo shell works'] });
    assert.equal(r.trim(), 'shell works');
  });

  test('a docker-archive of it is read by containers/image (podman load uses the same code) and runs', async () => {
    const archive = join(work, 'hello-docker.tar');
    const id = await build(`${flake}#image`, `docker-archive:${archive}:example.com/hello:v1`);
    const manifest = JSON.parse(sh('tar', ['-xOf', archive, 'manifest.json'])) as { Config: string; RepoTags: string[] }[];
    assert.deepEqual(manifest[0]!.RepoTags, ['example.com/hello:v1']);
    assert.equal(`sha256:${manifest[0]!.Config.replace(/\.json$/, '')}`, id);
    const copied = join(work, 'from-docker-archive');
    sh('skopeo', ['copy', `docker-archive:${archive}`, `oci:${copied}:v1`]);
    const again = unpack(`${copied}:v1`, join(work, 'from-docker-archive-unpacked'));
    assert.equal(runInChroot(again).trim(), 'Hello from a Strata image, running as 1000');
  });
});
