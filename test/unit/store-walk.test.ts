// Walking a store path: NAR order, normalised modes, archive paths, and the NAR
// hash check. The trees live in a temp dir: the walk only needs a path and a hash.
// Expected hashes were computed with Nix 2.8 (`nix hash path --type sha256`, and
// `nix-store --dump | sha256sum`) and are re-checked against nix when it is on PATH.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { walkStorePath, type StoreObject } from '../../layers/store-walk.js';
import { readEntry } from '../helpers/tree-entries.js';
import type { TreeEntry } from '../../layers/tree.js';
import { StrataError } from '../../base/errors.js';

const NAME = '0cdnxsjznm42gy4sp2qwpjxsw242ncq2-sample';
const TREE_HASH = 'sha256-CPNLsVDLdF3+sWDC/3FQufUyAXKEsXCEXqTs3a4Rldk=';
const FILE_HASH = 'sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM='; // 'hello\n', not executable
const EXEC_FILE_HASH = 'sha256-ZUNgOdP5PKGajb8cYLFXOe1Y9T8UuNNyrMGzUVMwEPo='; // 'hello\n', executable
const LINK_HASH = 'sha256-m09U4jBK12k7ZPuDRgEarkLIGQJnT2XpbcF2sKKyh3Q='; // symlink to /nix/store/aaaa-target
const WRONG_HASH = `sha256-${Buffer.alloc(32).toString('base64')}`;

const FFFD = '\uFFFD'; // EF BF BD
const EMOJI = '\u{1F600}'; // F0 9F 98 80: after U+FFFD bytewise, before it in UTF-16 units

let base: string;
let tree: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'strata-walk-test-'));
  tree = join(base, NAME);
  // Created out of order, with writable modes, to show the walk sorts and normalises.
  mkdirSync(tree, { mode: 0o755 });
  writeFileSync(join(tree, 'z'), 'z');
  writeFileSync(join(tree, EMOJI), 'e');
  writeFileSync(join(tree, FFFD), 'r');
  symlinkSync('a/x', join(tree, 'a-b'));
  mkdirSync(join(tree, 'a'), { mode: 0o755 });
  writeFileSync(join(tree, 'a', 'x'), '#!/bin/sh\necho hi\n');
  writeFileSync(join(tree, 'B'), 'upper\n');
  writeFileSync(join(tree, 'empty'), '');
  mkdirSync(join(tree, 'd'), { mode: 0o700 });
  for (const f of ['z', EMOJI, FFFD, 'B', 'empty']) chmodSync(join(tree, f), 0o644);
  chmodSync(join(tree, 'a', 'x'), 0o755);
  chmodSync(join(tree, 'a'), 0o755);

  writeFileSync(join(base, 'plainfile'), 'hello\n');
  chmodSync(join(base, 'plainfile'), 0o644);
  writeFileSync(join(base, 'execfile'), 'hello\n');
  chmodSync(join(base, 'execfile'), 0o700);
  symlinkSync('/nix/store/aaaa-target', join(base, 'link'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

interface Seen {
  type: TreeEntry['type'];
  path: string;
  mode?: number;
  size?: number;
  target?: string;
  content?: string;
}

/** Walks to the end, reading every file when `read`, and returns what it saw. */
async function collect(obj: StoreObject, read = true): Promise<Seen[]> {
  const out: Seen[] = [];
  for await (const e of walkStorePath(obj)) {
    if (e.type === 'file') {
      let content: string | undefined;
      if (read) {
        content = readEntry(e).toString('utf8');
      }
      out.push({ type: e.type, path: e.path, mode: e.mode, size: e.size, ...(read ? { content } : {}) });
    } else if (e.type === 'directory') out.push({ type: e.type, path: e.path, mode: e.mode });
    else out.push({ type: e.type, path: e.path, target: e.target });
  }
  return out;
}

const hasNix = spawnSync('nix', ['--version']).status === 0;

function nixHashPath(p: string): string {
  const r = spawnSync('nix', ['--extra-experimental-features', 'nix-command', 'hash', 'path', '--type', 'sha256', p], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function corrupt(p: string) {
  return (e: unknown) => e instanceof StrataError && e.code === 'store-corrupt' && e.message.includes(p);
}

describe('walkStorePath', () => {
  // Skipped when nix is not on PATH.
  it.skipIf(!hasNix)('the hard-coded NAR hashes are what nix computes', () => {
    assert.equal(nixHashPath(tree), TREE_HASH);
    assert.equal(nixHashPath(join(base, 'plainfile')), FILE_HASH);
    assert.equal(nixHashPath(join(base, 'execfile')), EXEC_FILE_HASH);
    assert.equal(nixHashPath(join(base, 'link')), LINK_HASH);
  });

  it('yields the tree in NAR order with store modes, under nix/store/<name>', async () => {
    const seen = await collect({ path: tree, narHash: TREE_HASH });
    const root = `nix/store/${NAME}`;
    assert.deepEqual(seen, [
      { type: 'directory', path: root, mode: 0o555 },
      { type: 'file', path: `${root}/B`, mode: 0o444, size: 6, content: 'upper\n' },
      { type: 'directory', path: `${root}/a`, mode: 0o555 },
      // A directory's children come right after it, so a/x precedes a-b ('-' < '/' notwithstanding).
      { type: 'file', path: `${root}/a/x`, mode: 0o555, size: 18, content: '#!/bin/sh\necho hi\n' },
      { type: 'symlink', path: `${root}/a-b`, target: 'a/x' },
      { type: 'directory', path: `${root}/d`, mode: 0o555 },
      { type: 'file', path: `${root}/empty`, mode: 0o444, size: 0, content: '' },
      { type: 'file', path: `${root}/z`, mode: 0o444, size: 1, content: 'z' },
      { type: 'file', path: `${root}/${FFFD}`, mode: 0o444, size: 1, content: 'r' },
      { type: 'file', path: `${root}/${EMOJI}`, mode: 0o444, size: 1, content: 'e' },
    ]);
  });

  it('checks the hash even when no file is opened', async () => {
    const seen = await collect({ path: tree, narHash: TREE_HASH }, false);
    assert.equal(seen.length, 10);
    await assert.rejects(collect({ path: tree, narHash: WRONG_HASH }, false), corrupt(tree));
  });

  it('throws store-corrupt for a wrong hash, after yielding the entries', async () => {
    let count = 0;
    await assert.rejects(
      (async () => {
        for await (const e of walkStorePath({ path: tree, narHash: WRONG_HASH })) {
          count++;
          if (e.type === 'file') readEntry(e);
        }
      })(),
      (e: unknown) => corrupt(tree)(e) && (e as Error).message.includes(WRONG_HASH) && (e as Error).message.includes(TREE_HASH),
    );
    assert.equal(count, 10);
  });

  it('a hash of the same tree with one executable bit changed is refused', async () => {
    // The NAR of the file alone differs by its executable flag.
    await assert.rejects(collect({ path: join(base, 'plainfile'), narHash: EXEC_FILE_HASH }), corrupt('plainfile'));
    await assert.rejects(collect({ path: join(base, 'execfile'), narHash: FILE_HASH }), corrupt('execfile'));
  });

  it('a store path that is a single file', async () => {
    assert.deepEqual(await collect({ path: join(base, 'plainfile'), narHash: FILE_HASH }), [
      { type: 'file', path: 'nix/store/plainfile', mode: 0o444, size: 6, content: 'hello\n' },
    ]);
    assert.deepEqual(await collect({ path: join(base, 'execfile'), narHash: EXEC_FILE_HASH }), [
      { type: 'file', path: 'nix/store/execfile', mode: 0o555, size: 6, content: 'hello\n' },
    ]);
  });

  it('a store path that is a symlink', async () => {
    assert.deepEqual(await collect({ path: join(base, 'link'), narHash: LINK_HASH }), [
      { type: 'symlink', path: 'nix/store/link', target: '/nix/store/aaaa-target' },
    ]);
  });

  // Skipped off Linux: it needs mkfifo.
  it.skipIf(process.platform !== 'linux')('refuses what a store path cannot hold', async () => {
    const odd = join(base, 'odd');
    mkdirSync(odd);
    const r = spawnSync('mkfifo', [join(odd, 'fifo')]);
    if (r.status !== 0) return;
    await assert.rejects(
      collect({ path: odd, narHash: WRONG_HASH }),
      (e: unknown) => e instanceof StrataError && e.code === 'store-corrupt' && /neither a file/.test(e.message),
    );
  });
});
