// What strata index takes: which arguments are images and which installables,
// and which --platform values it reads.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { parsePlatform } from '../../oci/platform.js';
import { parseSource } from '../../oci/reference.js';

const exists = (paths: string[]) => (p: string) => paths.includes(p);

describe('parseSource', () => {
  it('transport references are images', () => {
    assert.equal(parseSource('oci:out:1.0', exists([])).transport, 'oci');
    assert.equal(parseSource('oci-archive:img.tar', exists([])).transport, 'oci-archive');
    assert.deepEqual(parseSource('docker://alpine:3', exists([])), {
      transport: 'docker',
      ref: { registry: 'docker.io', repository: 'library/alpine', tag: '3' },
    });
  });
  it('a bare reference whose first component is a registry host is an image', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseSource(`127.0.0.1:5000/app@${digest}`, exists([])), {
      transport: 'docker',
      ref: { registry: '127.0.0.1:5000', repository: 'app', digest },
    });
    assert.deepEqual(parseSource('ghcr.io/org/app:1.2', exists([])), { transport: 'docker', ref: { registry: 'ghcr.io', repository: 'org/app', tag: '1.2' } });
    assert.deepEqual(parseSource('localhost/app', exists([])), { transport: 'docker', ref: { registry: 'localhost', repository: 'app' } });
  });
  it('flake references, paths and anything without a registry host are installables', () => {
    for (const s of [
      './examples/golden#default',
      '.#image',
      'github:owner/repo',
      'github:owner/repo#app',
      'path:/src/flake',
      'git+https://example.com/x.git',
      '/nix/store/abc-image',
      'nixpkgs#hello',
      'result',
      'app:v1',
      'org/app',
    ]) {
      assert.deepEqual(parseSource(s, exists([])), { transport: 'nix', installable: s }, s);
    }
  });
  it('a path that exists is an installable even when it looks like a registry reference', () => {
    assert.equal(parseSource('registry.local/app', exists(['registry.local/app'])).transport, 'nix');
    assert.equal(parseSource('registry.local/app', exists([])).transport, 'docker');
  });
});

describe('parsePlatform', () => {
  it('reads Nix systems and OCI platforms, known to Nix or not', () => {
    assert.deepEqual(parsePlatform('x86_64-linux'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('aarch64-linux'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
    assert.deepEqual(parsePlatform('windows/amd64'), { os: 'windows', architecture: 'amd64' });
  });
  it('refuses what is neither', () => {
    for (const s of ['linux/', '/amd64', 'linux/arm/', 'linux/arm/v7/x', 'amd64']) {
      assert.throws(
        () => parsePlatform(s),
        (e: unknown) => e instanceof StrataError && e.code === 'platform',
        s,
      );
    }
  });
});
