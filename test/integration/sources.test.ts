// One reference grammar for every source: copy and push take a bare
// REGISTRY/REPO[:TAG|@DIGEST] as diff and index do (it used to be handed to
// Nix), and pull and copy write docker-archive:, which skopeo reads back with
// the same config digest (the image ID) that build -o docker-archive: gives.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { skopeo } from '../helpers/podman.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectFailure, expectOk, removeDir, runStrata, sha256File, tempDir } from '../helpers/strata.js';

const golden = readGolden().cases['golden#default']!;
let reg: Registry;
let dir: string;
beforeAll(async () => {
  reg = await startRegistry();
  dir = tempDir('strata-sources-');
  expectOk(await runStrata(['push', './examples/golden#default', `${reg.host}/src/app:1.0`, '-q']));
});
afterAll(async () => {
  await reg?.stop();
  removeDir(dir);
});

describe('a bare registry reference is an image, for every command', () => {
  test('copy REGISTRY/REPO:TAG oci:DIR keeps the digest', async () => {
    const out = join(dir, 'copied');
    assert.equal(expectOk(await runStrata(['copy', `${reg.host}/src/app:1.0`, `oci:${out}:1.0`, '-q'])), golden.manifest);
    const info = JSON.parse(await skopeo(['inspect', `oci:${out}:1.0`])) as { Digest: string };
    assert.equal(info.Digest, golden.manifest);
  });

  test('push REGISTRY/REPO@DIGEST to another repository', async () => {
    assert.equal(expectOk(await runStrata(['push', `${reg.host}/src/app@${golden.manifest}`, `${reg.host}/dst/app:2.0`, '-q'])), golden.manifest);
  });

  test('a name with no registry host is still an installable (Nix says what is wrong), not a registry request', async () => {
    expectFailure(await runStrata(['copy', 'app:1.0', `oci:${join(dir, 'x')}`, '-q']), 4, /.+/);
  });
});

describe('docker-archive: as the output of pull and copy, and as a source', () => {
  test('pull -o docker-archive:FILE:NAME:TAG: skopeo reads it; the config digest is the golden one', async () => {
    const file = join(dir, 'pulled.tar');
    const id = expectOk(await runStrata(['pull', `${reg.host}/src/app:1.0`, '-o', `docker-archive:${file}:example.com/app:1.0`, '-q']));
    assert.equal(id, golden.config);
    const raw = JSON.parse(await skopeo(['inspect', '--raw', `docker-archive:${file}`])) as { config: { digest: string }; layers: unknown[] };
    assert.equal(raw.config.digest, golden.config);
    assert.equal(raw.layers.length, 4);
  });

  test('copy oci: → docker-archive: gives the same bytes as build -o docker-archive:', async () => {
    const layout = join(dir, 'copied');
    const copied = join(dir, 'copied.tar');
    const built = join(dir, 'built.tar');
    expectOk(await runStrata(['copy', `oci:${layout}:1.0`, `docker-archive:${copied}:golden:1.0`, '-q']));
    expectOk(await runStrata(['build', './examples/golden#default', '-o', `docker-archive:${built}`]));
    assert.equal(sha256File(copied), sha256File(built));
  });

  test('a docker-archive as a source: copied to a layout and back byte for byte, pushed, and compared', async () => {
    const built = join(dir, 'source.tar');
    expectOk(await runStrata(['build', './examples/golden#default', '-o', `docker-archive:${built}:golden:1.0`]));
    // Into a layout: the archive's plain tars under an OCI manifest made for them, each layer's digest its diffID.
    const layout = join(dir, 'from-archive');
    const digest = expectOk(await runStrata(['copy', `docker-archive:${built}`, `oci:${layout}:1.0`, '-q']));
    const raw = JSON.parse(await skopeo(['inspect', '--raw', `oci:${layout}:1.0`])) as {
      mediaType: string;
      config: { digest: string };
      layers: { digest: string; mediaType: string }[];
    };
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(raw.config.digest, golden.config);
    const config = JSON.parse(await skopeo(['inspect', '--config', '--raw', `oci:${layout}:1.0`])) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(
      raw.layers.map((l) => l.digest),
      config.rootfs.diff_ids,
    );
    assert.ok(raw.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar'));
    // The made manifest is a function of the archive: the same digest from the archive again, and from the layout.
    assert.equal(expectOk(await runStrata(['copy', `docker-archive:${built}`, `oci:${join(dir, 'from-archive-2')}:1.0`, '-q'])), digest);
    const back = join(dir, 'back.tar');
    expectOk(await runStrata(['copy', `oci:${layout}:1.0`, `docker-archive:${back}:golden:1.0`, '-q']));
    assert.equal(sha256File(back), sha256File(built));
    // Pushed as it is: skopeo reads the same manifest from the registry.
    expectOk(await runStrata(['push', `docker-archive:${built}:golden:1.0`, `${reg.host}/from-archive/app:1.0`, '-q']));
    assert.equal(
      (JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/from-archive/app:1.0`])) as { Digest: string }).Digest,
      digest,
    );
    // And compared: the same image as the golden one built from the store (a made-up manifest is no part of the comparison).
    expectOk(await runStrata(['diff', `docker-archive:${built}`, './examples/golden#default']));
  });

  test('an index without --platform: exit 2, nothing written', async () => {
    expectOk(await runStrata(['index', '-o', `${reg.host}/multi/app:1`, `${reg.host}/src/app:1.0`, '-q']));
    const file = join(dir, 'multi.tar');
    expectFailure(
      await runStrata(['pull', `${reg.host}/multi/app:1`, '-o', `docker-archive:${file}`, '-q']),
      2,
      /multi-platform index: pick one with --platform/,
    );
    assert.equal(existsSync(file), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('strata-stage')),
      [],
    );
  });
});
