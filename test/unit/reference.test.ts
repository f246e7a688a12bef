// Sources, destinations and tags: every transport form, Docker Hub normalisation,
// the bare-destination shorthand, and what is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { formatDockerReference, parseDestination, parseDockerReference, parseSource, referenceTag, resolveTag } from '../../oci/reference.js';

const HEX = 'a'.repeat(32) + '0123456789abcdef0123456789abcdef';
const DIGEST = `sha256:${HEX}`;

function refused(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StrataError, `expected a StrataError, got ${String(e)}`);
    assert.equal(e.code, 'reference');
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('oci and oci-archive transports', () => {
  it('oci:DIR has a path and no tag', () => {
    assert.deepEqual(parseSource('oci:DIR'), { transport: 'oci', path: 'DIR' });
    assert.deepEqual(parseDestination('oci:DIR'), { transport: 'oci', path: 'DIR' });
  });
  it('oci:DIR:TAG splits at the first colon', () => {
    assert.deepEqual(parseDestination('oci:DIR:TAG'), { transport: 'oci', path: 'DIR', tag: 'TAG' });
  });
  it('oci:/a/b:v1 keeps an absolute path', () => {
    assert.deepEqual(parseDestination('oci:/a/b:v1'), { transport: 'oci', path: '/a/b', tag: 'v1' });
    assert.equal(referenceTag(parseDestination('oci:/a/b:v1')), 'v1');
  });
  it('oci-archive:F.tar:t', () => {
    assert.deepEqual(parseDestination('oci-archive:F.tar:t'), { transport: 'oci-archive', path: 'F.tar', tag: 't' });
    assert.deepEqual(parseSource('oci-archive:F.tar'), { transport: 'oci-archive', path: 'F.tar' });
  });
  it('refuses an empty path', () => {
    refused(() => parseDestination('oci:'), /no path/);
    refused(() => parseDestination('oci::v1'), /no path/);
    refused(() => parseDestination('oci-archive:'), /no path/);
    refused(() => parseDestination('docker-archive:'), /no path/);
    refused(() => parseSource('oci:'), /no path/);
  });
  it('refuses a bad tag', () => {
    refused(() => parseDestination('oci:DIR:-v1'), /not a valid tag/);
    refused(() => parseDestination('oci:DIR:a b'), /not a valid tag/);
    refused(() => parseDestination(`oci:DIR:${'t'.repeat(129)}`), /not a valid tag/);
    // A second colon lands in the tag, which then is not one (skopeo splits the same way).
    refused(() => parseDestination('oci:/a:b/c'), /not a valid tag/);
    // 128 characters is the longest tag.
    assert.equal((parseDestination(`oci:DIR:${'t'.repeat(128)}`) as { tag: string }).tag.length, 128);
  });
});

describe('docker-archive transport', () => {
  it('docker-archive:F.tar has no name', () => {
    assert.deepEqual(parseDestination('docker-archive:F.tar'), { transport: 'docker-archive', path: 'F.tar' });
    assert.equal(referenceTag(parseDestination('docker-archive:F.tar')), undefined);
  });
  it('docker-archive:F.tar:name:tag names a Docker Hub image', () => {
    const r = parseDestination('docker-archive:F.tar:name:tag');
    assert.deepEqual(r, { transport: 'docker-archive', path: 'F.tar', name: { registry: 'docker.io', repository: 'library/name', tag: 'tag' } });
    assert.equal(referenceTag(r), 'tag');
  });
  it('docker-archive:F.tar:ghcr.io/o/r:t keeps the colons of the name', () => {
    assert.deepEqual(parseDestination('docker-archive:F.tar:ghcr.io/o/r:t'), {
      transport: 'docker-archive',
      path: 'F.tar',
      name: { registry: 'ghcr.io', repository: 'o/r', tag: 't' },
    });
  });
  it('refuses an invalid name', () => {
    refused(() => parseDestination('docker-archive:F.tar:Name:tag'), /lowercase/);
  });
});

describe('docker:// transport', () => {
  it('docker://alpine is docker.io/library/alpine', () => {
    assert.deepEqual(parseSource('docker://alpine'), { transport: 'docker', ref: { registry: 'docker.io', repository: 'library/alpine' } });
  });
  it('docker://localhost:5000/a/b:t', () => {
    assert.deepEqual(parseDestination('docker://localhost:5000/a/b:t'), {
      transport: 'docker',
      ref: { registry: 'localhost:5000', repository: 'a/b', tag: 't' },
    });
  });
  it('docker://ghcr.io/o/r@sha256:<hex>', () => {
    assert.deepEqual(parseDestination(`docker://ghcr.io/o/r@${DIGEST}`), {
      transport: 'docker',
      ref: { registry: 'ghcr.io', repository: 'o/r', digest: DIGEST },
    });
  });
  it('a tag and a digest together', () => {
    assert.deepEqual(parseDockerReference(`ghcr.io/o/r:v1@${DIGEST}`), { registry: 'ghcr.io', repository: 'o/r', tag: 'v1', digest: DIGEST });
  });
  it('refuses docker: without //', () => {
    refused(() => parseDestination('docker:alpine'), /docker:\/\//);
  });
  it('refuses a short digest', () => {
    refused(() => parseDestination('docker://alpine@sha256:abc'), /not a digest/);
  });
});

describe('parseDockerReference', () => {
  it('normalises Docker Hub hosts', () => {
    assert.deepEqual(parseDockerReference('index.docker.io/x/y'), { registry: 'docker.io', repository: 'x/y' });
    assert.deepEqual(parseDockerReference('registry-1.docker.io/x/y:1'), { registry: 'docker.io', repository: 'x/y', tag: '1' });
    assert.deepEqual(parseDockerReference('docker.io/alpine'), { registry: 'docker.io', repository: 'library/alpine' });
    assert.deepEqual(parseDockerReference('index.docker.io/alpine'), { registry: 'docker.io', repository: 'library/alpine' });
    // A user/repo without a host is Docker Hub, not library/.
    assert.deepEqual(parseDockerReference('x/y'), { registry: 'docker.io', repository: 'x/y' });
  });
  it('recognises localhost and hosts with a dot or port', () => {
    assert.equal(parseDockerReference('localhost/app').registry, 'localhost');
    assert.equal(parseDockerReference('127.0.0.1:5000/app').registry, '127.0.0.1:5000');
    assert.equal(parseDockerReference('127.0.0.1:5000/app').repository, 'app');
  });
  it('refuses uppercase repositories', () => {
    refused(() => parseDockerReference('Alpine'), /lowercase/);
    refused(() => parseDockerReference('ghcr.io/O/r'), /lowercase/);
  });
  it('refuses bad tags and empty names', () => {
    refused(() => parseDockerReference('alpine:-x'), /not a valid tag/);
    refused(() => parseDockerReference('alpine:a+b'), /not a valid tag/);
    refused(() => parseDockerReference(':v1'), /no repository/);
    refused(() => parseDockerReference(''), /no repository/);
  });
  it('formats back to the full name', () => {
    assert.equal(formatDockerReference(parseDockerReference('alpine:3')), 'docker.io/library/alpine:3');
    assert.equal(formatDockerReference(parseDockerReference(`localhost:5000/a/b@${DIGEST}`)), `localhost:5000/a/b@${DIGEST}`);
  });
});

describe('bare destinations', () => {
  it('ghcr.io/o/app:1 is docker://', () => {
    assert.deepEqual(parseDestination('ghcr.io/o/app:1'), { transport: 'docker', ref: { registry: 'ghcr.io', repository: 'o/app', tag: '1' } });
  });
  it('localhost:5000/app: the colon is a port, not a transport', () => {
    assert.deepEqual(parseDestination('localhost:5000/app'), { transport: 'docker', ref: { registry: 'localhost:5000', repository: 'app' } });
  });
  it('alpine:3 is docker.io/library/alpine tag 3', () => {
    assert.deepEqual(parseDestination('alpine:3'), { transport: 'docker', ref: { registry: 'docker.io', repository: 'library/alpine', tag: '3' } });
    assert.equal(referenceTag(parseDestination('alpine:3')), '3');
  });
  it('index.docker.io/x/y is normalised', () => {
    assert.deepEqual(parseDestination('index.docker.io/x/y'), { transport: 'docker', ref: { registry: 'docker.io', repository: 'x/y' } });
  });
  it('refuses an unknown transport', () => {
    refused(() => parseDestination('dir:/tmp/x'), /unknown transport 'dir:'/);
    refused(() => parseDestination('foo:/bar'), /unknown transport 'foo:'/);
    refused(() => parseDestination('containers-storage:/x'), /unknown transport/);
  });
  it('refuses an uppercase repository', () => {
    refused(() => parseDestination('ghcr.io/Org/app'), /lowercase/);
    refused(() => parseDestination('Alpine:3'), /lowercase/);
  });
  it('refuses a bad tag', () => {
    refused(() => parseDestination('ghcr.io/o/app:-1'), /not a valid tag/);
  });
});

describe('sources that are Nix installables', () => {
  for (const s of [
    './examples/hello#default',
    'github:o/r#x',
    '/nix/store/5ny4hqagm20kmrisivssc3blx9z66af5-hello',
    'path:./x',
    'nixpkgs#hello',
    '.#image',
    'git+https://example.com/r?ref=main#x',
  ]) {
    it(s, () => {
      assert.deepEqual(parseSource(s), { transport: 'nix', installable: s });
      assert.equal(referenceTag(parseSource(s)), undefined);
    });
  }
  it('a transport-looking source is still parsed as the transport', () => {
    assert.equal(parseSource('oci:./out').transport, 'oci');
    assert.equal(parseSource('docker-archive:x.tar').transport, 'docker-archive');
  });
});

describe('resolveTag', () => {
  it('the flag wins over everything', () => {
    assert.equal(resolveTag('f', 'r', 'd'), 'f');
  });
  it('then the reference', () => {
    assert.equal(resolveTag(undefined, 'r', 'd'), 'r');
  });
  it('then the description', () => {
    assert.equal(resolveTag(undefined, undefined, 'd'), 'd');
  });
  it('then latest', () => {
    assert.equal(resolveTag(undefined, undefined, undefined), 'latest');
    assert.equal(resolveTag(undefined, undefined, null), 'latest');
  });
  it('refuses an invalid winner', () => {
    refused(() => resolveTag('bad tag', 'r', 'd'), /not a valid tag/);
    refused(() => resolveTag(undefined, undefined, '-x'), /not a valid tag/);
  });
  it('combined with parseDestination', () => {
    const r = parseDestination('oci:out:fromref');
    assert.equal(resolveTag(undefined, referenceTag(r), 'fromdesc'), 'fromref');
    assert.equal(resolveTag('flag', referenceTag(r), 'fromdesc'), 'flag');
    assert.equal(resolveTag(undefined, referenceTag(parseDestination('oci:out')), 'fromdesc'), 'fromdesc');
  });
});
