// Nix systems and OCI platforms, both ways.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { formatPlatform, parseSystem } from '../../oci/platform.js';

// The mapping written out by hand from the OCI image-index platform values (GOARCH names).
const MAPPING: [string, string, { os: string; architecture: string; variant?: string }][] = [
  ['x86_64-linux', 'linux/amd64', { os: 'linux', architecture: 'amd64' }],
  ['aarch64-linux', 'linux/arm64', { os: 'linux', architecture: 'arm64' }],
  ['i686-linux', 'linux/386', { os: 'linux', architecture: '386' }],
  ['armv7l-linux', 'linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
  ['armv6l-linux', 'linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
  ['riscv64-linux', 'linux/riscv64', { os: 'linux', architecture: 'riscv64' }],
  ['powerpc64le-linux', 'linux/ppc64le', { os: 'linux', architecture: 'ppc64le' }],
  ['s390x-linux', 'linux/s390x', { os: 'linux', architecture: 's390x' }],
];

function platformError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StrataError);
    assert.equal(e.code, 'platform');
    assert.match(e.message, re);
    return true;
  });
}

describe('parseSystem', () => {
  for (const [system, oci, platform] of MAPPING) {
    it(`${system} ⇄ ${oci}`, () => {
      assert.deepEqual(parseSystem(system), { system, platform });
      assert.deepEqual(parseSystem(oci), { system, platform });
      assert.equal(formatPlatform(platform), oci);
    });
  }
  it('linux/arm without a variant is v7', () => {
    assert.deepEqual(parseSystem('linux/arm'), { system: 'armv7l-linux', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
  });
  it('refuses darwin with a message about Linux', () => {
    for (const s of ['x86_64-darwin', 'aarch64-darwin']) {
      platformError(() => parseSystem(s), /Linux/);
      platformError(() => parseSystem(s), new RegExp(s));
    }
    platformError(() => parseSystem('x86_64-freebsd'), /Linux/);
  });
  it('refuses unknown systems, listing the known ones', () => {
    platformError(() => parseSystem('mips64-linux'), /known: .*x86_64-linux.*aarch64-linux/);
    platformError(() => parseSystem('amd64'), /known:/);
    platformError(() => parseSystem(''), /known:/);
  });
  it('refuses unknown OCI platforms, listing the known ones', () => {
    platformError(() => parseSystem('darwin/arm64'), /known: .*linux\/amd64/);
    platformError(() => parseSystem('linux/arm/v5'), /linux\/arm\/v5/);
    platformError(() => parseSystem('linux/mips64'), /linux\/mips64/);
    platformError(() => parseSystem('windows/amd64'), /windows\/amd64/);
  });
});
