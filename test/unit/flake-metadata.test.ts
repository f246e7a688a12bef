// `nix flake metadata --json` parsing, against Nix 2.8 captures and the newer
// shapes Nix's manual and source show (test/fixtures/nix/SOURCES.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { flakeRefOf, lockedUrl, parseFlakeMetadataJson } from '../../nix/flake-metadata.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/nix/${name}`, import.meta.url), 'utf8');
}

describe('parseFlakeMetadataJson', () => {
  it('reads a locked git flake with a git input and a path input it follows (2.8)', () => {
    const m = parseFlakeMetadataJson(fixture('flake-metadata-2.8-inputs.json'));
    assert.equal(m.url, 'git+file:///tmp/strata-fx/main?ref=master&rev=510d5bf3234fdd9d1fed737879d74fba3fd0c4fb');
    assert.equal(m.originalUrl, 'git+file:///tmp/strata-fx/main');
    assert.equal(m.rev, '510d5bf3234fdd9d1fed737879d74fba3fd0c4fb');
    assert.equal(m.narHash, 'sha256-L3UUqiFenkMFMMaaTii4T2i5XFDgx97lxbE4VmDbAys=');
    assert.equal(m.lastModified, 1795621794);
    assert.equal(m.description, 'a flake with inputs');
    assert.deepEqual(m.rootInputs, ['data', 'dep']);
    assert.deepEqual(
      m.inputs.map((i) => [i.id, i.path, i.flake, i.inputs, i.rev ?? null]),
      [
        ['data', 'data', false, [], null],
        // dep's own `data` follows the root's: the same node.
        ['dep', 'dep', true, ['data'], 'dcb6b4190930c84f326fd7bd2fb9a058400560df'],
      ],
    );
    const data = m.inputs[0]!;
    assert.equal(data.narHash, 'sha256-lPn5uYyShsqmKtf2I0o1zdpi0ZFXwTZhpxnZaWmDzhU=');
    assert.equal(data.url, 'path:/tmp/strata-fx/data?narHash=sha256-lPn5uYyShsqmKtf2I0o1zdpi0ZFXwTZhpxnZaWmDzhU%3D');
    assert.equal(m.inputs[1]!.url, 'git+file:///tmp/strata-fx/dep?ref=master&rev=dcb6b4190930c84f326fd7bd2fb9a058400560df');
  });

  it('reads a dirty tree: no revision, its narHash pins it', () => {
    const m = parseFlakeMetadataJson(fixture('flake-metadata-2.8-dirty.json'));
    assert.equal(m.rev, undefined);
    assert.equal(m.url, 'git+file:///tmp/strata-fx/main');
    assert.equal(m.narHash, 'sha256-aMnXiMpDZnCd3VSd6NaG0kTdcINfE4FYnYkDYURAS1E=');
    assert.equal(m.inputs.length, 2);
  });

  it('reads a flake without inputs', () => {
    const m = parseFlakeMetadataJson(fixture('flake-metadata-2.8-no-inputs.json'));
    assert.deepEqual(m.inputs, []);
    assert.deepEqual(m.rootInputs, []);
    assert.equal(m.attrs.dir, 'examples/golden');
  });

  it('reads GitHub inputs and a follows path through another input (manual example)', () => {
    const m = parseFlakeMetadataJson(fixture('flake-metadata-doc-github.json'));
    assert.equal(m.url, 'github:edolstra/dwarffs/d181d714fd36eb06f4992a1997cd5601e26db8f5');
    // The root's nixpkgs follows nix/nixpkgs: one node, first reached as nix's input.
    assert.deepEqual(m.rootInputs, ['nix', 'nixpkgs']);
    assert.deepEqual(
      m.inputs.map((i) => [i.id, i.path, i.url]),
      [
        ['nix', 'nix', 'github:NixOS/nix/1ab9da915422405452118ebb17b88cdfc90b1e10'],
        ['nixpkgs', 'nix/nixpkgs', 'github:NixOS/nixpkgs/70717a337f7ae4e486ba71a500367cad697e5f09'],
      ],
    );
  });

  it('leaves out an input that follows the flake itself (follows = "")', () => {
    const v = JSON.parse(fixture('flake-metadata-doc-github.json')) as { locks: { nodes: { nix: { inputs: Record<string, unknown> } } } };
    v.locks.nodes.nix.inputs.self = [];
    const m = parseFlakeMetadataJson(JSON.stringify(v));
    assert.deepEqual(m.inputs.find((i) => i.id === 'nix')!.inputs, ['nixpkgs']);
  });

  it('takes the fields newer Nix adds or renames', () => {
    const v = JSON.parse(fixture('flake-metadata-2.8-dirty.json')) as Record<string, unknown>;
    // NixOS/nix src/nix/flake.cc prints dirtyRevision and fingerprint; the manual's name for url is lockedUrl.
    const { url, ...rest } = v;
    const m = parseFlakeMetadataJson(
      JSON.stringify({
        ...rest,
        lockedUrl: url,
        dirtyRevision: 'abc-dirty',
        fingerprint: 'f'.repeat(64),
        locked: { ...(v.locked as object), dirtyRev: 'abc-dirty', dirtyShortRev: 'abc-dirty' },
      }),
    );
    assert.equal(m.url, url);
    assert.equal(m.dirtyRevision, 'abc-dirty');
  });

  it('fails on output it cannot read, naming what', () => {
    assert.throws(() => parseFlakeMetadataJson('not json'), /nix flake metadata --json: not JSON/);
    assert.throws(() => parseFlakeMetadataJson('{"originalUrl":"x","locked":{},"locks":{"root":"r","nodes":{}}}'), /no root node 'r'/);
    assert.throws(() => parseFlakeMetadataJson('{"originalUrl":"x","locked":{}}'), /locks/);
    const v = JSON.parse(fixture('flake-metadata-doc-github.json')) as { locks: { nodes: { root: { inputs: Record<string, unknown> } } } };
    v.locks.nodes.root.inputs.nixpkgs = ['nix', 'nope'];
    assert.throws(() => parseFlakeMetadataJson(JSON.stringify(v)), /follows path nix\/nope names no input/);
  });
});

describe('lockedUrl', () => {
  it('makes a flake reference from lock-file attributes', () => {
    assert.equal(lockedUrl({ type: 'github', owner: 'NixOS', repo: 'nixpkgs', rev: 'r1', narHash: 'sha256-x', lastModified: 1 }), 'github:NixOS/nixpkgs/r1');
    assert.equal(lockedUrl({ type: 'gitlab', owner: 'o', repo: 'r', rev: 'r1', host: 'gitlab.example.org' }), 'gitlab:o/r/r1?host=gitlab.example.org');
    assert.equal(
      lockedUrl({ type: 'git', url: 'https://example.org/r.git', ref: 'main', rev: 'r1', revCount: 3 }),
      'git+https://example.org/r.git?ref=main&rev=r1',
    );
    assert.equal(
      lockedUrl({ type: 'tarball', url: 'https://example.org/a.tar.gz', narHash: 'sha256-x=' }),
      'tarball+https://example.org/a.tar.gz?narHash=sha256-x%3D',
    );
    assert.equal(lockedUrl({ type: 'path', path: '/p', narHash: 'sha256-x' }), 'path:/p?narHash=sha256-x');
  });
});

describe('flakeRefOf', () => {
  it('is the part before #, or . for the current flake', () => {
    assert.equal(flakeRefOf('./examples/golden#default'), './examples/golden');
    assert.equal(flakeRefOf('github:o/r'), 'github:o/r');
    assert.equal(flakeRefOf('#hello'), '.');
  });
});
