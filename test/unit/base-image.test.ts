// A base image's config under the description's, and its layers' media types in
// the output's format.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { baseLayerMediaType, mergeConfig } from '../../src/base-image.js';
import { StrataError } from '../../base/errors.js';
import type { ContainerConfig } from '../../oci/types.js';

describe('mergeConfig', () => {
  const base: ContainerConfig = {
    Env: ['PATH=/usr/bin:/bin', 'LANG=C', 'TZ=UTC'],
    Cmd: ['/bin/sh'],
    WorkingDir: '/',
    User: 'daemon',
    Labels: { a: '1', b: '2' },
    ExposedPorts: { '53/udp': {} },
    Volumes: { '/data': {} },
  };

  it('keeps the base where the description says nothing', () => {
    assert.deepEqual(mergeConfig(base, {}), base);
  });
  it('merges Env by name in the base order, the description winning, new names after', () => {
    assert.deepEqual(mergeConfig(base, { Env: ['FOO=x', 'LANG=C.UTF-8', 'PATH=/nix/bin'] }).Env, ['PATH=/nix/bin', 'LANG=C.UTF-8', 'TZ=UTC', 'FOO=x']);
  });
  it('merges Labels, ExposedPorts and Volumes by key', () => {
    const m = mergeConfig(base, { Labels: { b: 'B', c: '3' }, ExposedPorts: { '8080/tcp': {} }, Volumes: { '/cache': {} } });
    assert.deepEqual(m.Labels, { a: '1', b: 'B', c: '3' });
    assert.deepEqual(m.ExposedPorts, { '53/udp': {}, '8080/tcp': {} });
    assert.deepEqual(m.Volumes, { '/data': {}, '/cache': {} });
  });
  it('lets every other field of the description replace the base one', () => {
    const m = mergeConfig(base, { WorkingDir: '/app', User: '1000', Cmd: ['serve'], StopSignal: 'SIGINT' });
    assert.equal(m.WorkingDir, '/app');
    assert.equal(m.User, '1000');
    assert.deepEqual(m.Cmd, ['serve']);
    assert.equal(m.StopSignal, 'SIGINT');
  });
  it("drops the base's Cmd under an Entrypoint of the description's own, as a Dockerfile does", () => {
    assert.equal(mergeConfig(base, { Entrypoint: ['/app'] }).Cmd, undefined);
    assert.deepEqual(mergeConfig(base, { Entrypoint: ['/app'], Cmd: ['-v'] }).Cmd, ['-v']);
  });
  it('keeps fields Strata does not model, and tolerates null ones', () => {
    const odd = { Healthcheck: { Test: ['NONE'] }, Env: null, Labels: null } as unknown as ContainerConfig;
    const m = mergeConfig(odd, { Env: ['A=1'], Labels: { x: 'y' } }) as ContainerConfig & { Healthcheck?: unknown };
    assert.deepEqual(m.Healthcheck, { Test: ['NONE'] });
    assert.deepEqual(m.Env, ['A=1']);
    assert.deepEqual(m.Labels, { x: 'y' });
  });
  it('never changes its inputs', () => {
    const before = structuredClone(base);
    mergeConfig(base, { Env: ['LANG=x'], Labels: { a: 'z' }, Entrypoint: ['/e'] });
    assert.deepEqual(base, before);
  });
});

describe('baseLayerMediaType', () => {
  const oci = {
    tar: 'application/vnd.oci.image.layer.v1.tar',
    gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  };
  const docker = { tar: 'application/vnd.docker.image.rootfs.diff.tar', gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip' };

  it('names the same bytes in the output format', () => {
    for (const from of [oci.gzip, docker.gzip]) {
      assert.equal(baseLayerMediaType(from, 'oci'), oci.gzip);
      assert.equal(baseLayerMediaType(from, 'docker'), docker.gzip);
    }
    for (const from of [oci.tar, docker.tar]) {
      assert.equal(baseLayerMediaType(from, 'oci'), oci.tar);
      assert.equal(baseLayerMediaType(from, 'docker'), docker.tar);
    }
    assert.equal(baseLayerMediaType(oci.zstd, 'oci'), oci.zstd);
  });
  it('refuses zstd in a Docker manifest as a usage error, and unknown layer types', () => {
    assert.throws(
      () => baseLayerMediaType(oci.zstd, 'docker'),
      (e: unknown) => e instanceof StrataError && e.code === 'usage' && /zstd/.test(e.message),
    );
    for (const t of [
      'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      'application/octet-stream',
    ]) {
      assert.throws(
        () => baseLayerMediaType(t, 'oci'),
        (e: unknown) => e instanceof StrataError && e.code === 'unsupported' && e.message.includes(t),
      );
    }
  });
});
