// Reading store paths through their NAR: the tar made from `nix-store --dump`
// must be byte-identical to the tar made from the filesystem walk, however the
// NAR arrives in chunks; anything but the canonical NAR of the path is refused.
// The store paths are real: trees made here and added with `nix-store --add`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { dumpStorePath, readNar } from '../../layers/nar-reader.js';
import { walkStorePath, type StoreObject } from '../../layers/store-walk.js';
import { tarStream } from '../../layers/tar.js';
import type { TreeEntry } from '../../layers/tree.js';
import { parsePathInfoJson } from '../../nix/json.js';
import { StrataError } from '../../base/errors.js';

const hasNix = spawnSync('nix-store', ['--version']).status === 0;
const skip = !hasNix && 'nix is not on PATH';

const FFFD = '\uFFFD';
const EMOJI = '\u{1F600}';
const WRONG_HASH = `sha256-${Buffer.alloc(32).toString('base64')}`;

/** Deterministic bytes that do not compress to nothing. */
function pseudoRandom(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

let base: string;
/** Store objects by name: a tree of every kind of node, one of large files, a small one, and store paths that are a single file, an executable, a symlink, an empty directory. */
const objs = new Map<string, StoreObject>();
/** NAR bytes of each store object, as `nix-store --dump` prints them. */
const nars = new Map<string, Buffer>();

function makeTrees(): Map<string, string> {
  const paths = new Map<string, string>();
  // The mixed tree: every kind of node, names that sort differently by bytes and by UTF-16, long names and paths.
  const mixed = join(base, 'mixed');
  mkdirSync(mixed);
  for (let n = 0; n <= 17; n++) writeFileSync(join(mixed, `len-${String(n).padStart(2, '0')}`), 'x'.repeat(n));
  writeFileSync(join(mixed, 'empty'), '');
  writeFileSync(join(mixed, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(mixed, 'run.sh'), 0o755);
  writeFileSync(join(mixed, 'empty-exec'), '');
  chmodSync(join(mixed, 'empty-exec'), 0o755);
  writeFileSync(join(mixed, FFFD), 'r');
  writeFileSync(join(mixed, EMOJI), 'e');
  writeFileSync(join(mixed, 'café — 日本語'), 'unicode\n');
  writeFileSync(join(mixed, 'n'.repeat(255)), 'long name\n');
  writeFileSync(join(mixed, 'B'), 'upper');
  symlinkSync('run.sh', join(mixed, 'link-rel'));
  symlinkSync('/nix/store/aaaa-target/bin/x', join(mixed, 'link-abs'));
  symlinkSync('does/not/exist', join(mixed, 'link-dangling'));
  symlinkSync('sub', join(mixed, 'link-dir'));
  symlinkSync(`${'t'.repeat(200)}/${EMOJI}`, join(mixed, 'link-long'));
  mkdirSync(join(mixed, 'empty-dir'));
  mkdirSync(join(mixed, 'sub', 'a'), { recursive: true });
  mkdirSync(join(mixed, 'sub-a'));
  writeFileSync(join(mixed, 'sub-a', 'f'), 'sub-a');
  writeFileSync(join(mixed, 'sub', 'a', 'x'), 'x\n');
  writeFileSync(join(mixed, 'sub', 'z'), 'z\n');
  let deep = join(mixed, 'deep');
  for (let i = 0; i < 24; i++) deep = join(deep, `level-${i}-${'d'.repeat(10)}`);
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'bottom'), 'bottom\n');
  symlinkSync('../bottom', join(deep, 'up'));
  paths.set('mixed', mixed);

  // Large files, which span many chunks of `nix-store --dump` (64 KiB each).
  const big = join(base, 'big');
  mkdirSync(big);
  writeFileSync(join(big, 'a-3MiB.bin'), pseudoRandom(3 << 20, 'big'));
  writeFileSync(join(big, 'b-odd.bin'), pseudoRandom((1 << 20) + 3, 'odd'));
  chmodSync(join(big, 'b-odd.bin'), 0o755);
  writeFileSync(join(big, 'c-after'), 'after\n');
  paths.set('big', big);

  // A small tree, for feeding in 1-byte chunks and for cutting at every byte.
  const small = join(base, 'small');
  mkdirSync(join(small, 'bin'), { recursive: true });
  writeFileSync(join(small, 'bin', 'tool'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(small, 'bin', 'tool'), 0o755);
  symlinkSync('bin/tool', join(small, 'tool'));
  writeFileSync(join(small, 'data'), pseudoRandom(300, 'small'));
  mkdirSync(join(small, 'empty-dir'));
  writeFileSync(join(small, 'empty'), '');
  paths.set('small', small);

  writeFileSync(join(base, 'plain-file'), 'hello\n');
  paths.set('file', join(base, 'plain-file'));
  writeFileSync(join(base, 'exec-file'), '#!/bin/sh\n');
  chmodSync(join(base, 'exec-file'), 0o755);
  paths.set('exec', join(base, 'exec-file'));
  symlinkSync('/nix/store/aaaa-target', join(base, 'a-link'));
  paths.set('link', join(base, 'a-link'));
  mkdirSync(join(base, 'empty-store-dir'));
  paths.set('empty-dir', join(base, 'empty-store-dir'));
  return paths;
}

before(() => {
  if (!hasNix) return;
  base = mkdtempSync(join(tmpdir(), 'strata-nar-test-'));
  const trees = makeTrees();
  const added = [...trees.values()].map((p) => {
    const r = spawnSync('nix-store', ['--add', p], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  });
  const r = spawnSync('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '--json', ...added], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const infos = parsePathInfoJson(r.stdout);
  for (const [i, name] of [...trees.keys()].entries()) {
    const info = infos.find((x) => x.path === added[i]);
    assert.ok(info, `no path-info for ${added[i]}`);
    objs.set(name, { path: info.path, narHash: info.narHash });
    const d = spawnSync('nix-store', ['--dump', info.path], { maxBuffer: 1 << 30 });
    assert.equal(d.status, 0, String(d.stderr));
    nars.set(name, d.stdout);
  }
});
after(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

const obj = (name: string): StoreObject => objs.get(name)!;
const narOf = (name: string): Buffer => nars.get(name)!;

async function collectBytes(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const tarOf = (entries: AsyncIterable<TreeEntry>) => collectBytes(tarStream(entries, { mtime: 0 }));

/** The NAR in chunks of the given sizes, cycled; copies, so no chunk shares memory with the next. */
async function* chunked(nar: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let i = 0;
  for (let at = 0; at < nar.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield Buffer.from(nar.subarray(at, at + n));
    at += n;
  }
}

interface Seen {
  type: TreeEntry['type'];
  path: string;
  mode?: number;
  size?: number;
  target?: string;
  sha?: string;
}

/** Reads every entry (every file's content unless `open` is false). */
async function drain(entries: AsyncIterable<TreeEntry>, open = true): Promise<Seen[]> {
  const out: Seen[] = [];
  for await (const e of entries) {
    if (e.type === 'file') {
      const seen: Seen = { type: e.type, path: e.path, mode: e.mode, size: e.size };
      if (open) {
        const content = await collectBytes(e.open());
        assert.equal(content.length, e.size, e.path);
        seen.sha = createHash('sha256').update(content).digest('hex');
      }
      out.push(seen);
    } else if (e.type === 'directory') out.push({ type: e.type, path: e.path, mode: e.mode });
    else out.push({ type: e.type, path: e.path, target: e.target });
  }
  return out;
}

const sri = (b: Buffer) => `sha256-${createHash('sha256').update(b).digest('base64')}`;

function corrupt(pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof StrataError, `not a StrataError: ${String(e)}`);
    assert.equal(e.code, 'store-corrupt', e.message);
    assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

// ---------------------------------------------------------------------------
// A NAR writer for hand-made (and hand-broken) archives.

type Node = { file: string | Buffer; exec?: boolean } | { link: string | Buffer } | { dir: [string | Buffer, Node][] };

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
}

function node(n: Node): Buffer {
  if ('file' in n) {
    const parts = [str('('), str('type'), str('regular')];
    if (n.exec) parts.push(str('executable'), str(''));
    parts.push(str('contents'), str(n.file), str(')'));
    return Buffer.concat(parts);
  }
  if ('link' in n) return Buffer.concat([str('('), str('type'), str('symlink'), str('target'), str(n.link), str(')')]);
  const parts = [str('('), str('type'), str('directory')];
  for (const [name, child] of n.dir) parts.push(str('entry'), str('('), str('name'), str(name), str('node'), node(child), str(')'));
  parts.push(str(')'));
  return Buffer.concat(parts);
}

const narFile = (n: Node) => Buffer.concat([str('nix-archive-1'), node(n)]);
const HANDMADE = '/nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-handmade';

/** Parses a NAR whose hash is right, so that only its structure can be at fault. */
function parseNar(nar: Buffer, sizes: number[] = [4096]): Promise<Seen[]> {
  return drain(readNar(chunked(nar, sizes), { path: HANDMADE, narHash: sri(nar) }));
}

// ---------------------------------------------------------------------------

describe('readNar / dumpStorePath', { skip }, () => {
  it('tars every store path byte-identically to the filesystem walk', async () => {
    for (const [name, o] of objs) {
      const viaFs = await tarOf(walkStorePath(o));
      const viaNar = await tarOf(dumpStorePath(o));
      assert.ok(viaFs.length > 0);
      assert.ok(viaNar.equals(viaFs), `${name}: the tars differ (${viaNar.length} vs ${viaFs.length} bytes)`);
    }
  });

  it('yields the same entries as the walk, with or without opening the files', async () => {
    for (const o of objs.values()) {
      assert.deepEqual(await drain(dumpStorePath(o)), await drain(walkStorePath(o)));
      assert.deepEqual(await drain(dumpStorePath(o), false), await drain(walkStorePath(o), false));
    }
  });

  it('the trees hold what they should', async () => {
    const seen = await drain(readNar(chunked(narOf('mixed'), [65536]), obj('mixed')));
    const root = `nix/store/${obj('mixed').path.slice('/nix/store/'.length)}`;
    const by = new Map(seen.map((s) => [s.path.slice(root.length), s]));
    assert.deepEqual(seen[0], { type: 'directory', path: root, mode: 0o555 });
    assert.equal(by.get('/run.sh')?.mode, 0o555);
    assert.equal(by.get('/empty-exec')?.mode, 0o555);
    assert.equal(by.get('/empty')?.mode, 0o444);
    assert.deepEqual(by.get('/empty-dir'), { type: 'directory', path: `${root}/empty-dir`, mode: 0o555 });
    assert.equal(by.get('/link-dangling')?.target, 'does/not/exist');
    assert.ok(by.has(`/${'n'.repeat(255)}`));
    assert.ok(by.has('/café — 日本語'));
    // NAR order: bytewise, and a directory's children right after it.
    const names = seen.filter((s) => s.path.split('/').length === 4).map((s) => s.path.split('/')[3]!);
    assert.deepEqual(names, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    assert.ok(names.indexOf(FFFD) < names.indexOf(EMOJI));
    const sub = seen.findIndex((s) => s.path === `${root}/sub`);
    assert.deepEqual(
      seen.slice(sub, sub + 5).map((s) => s.path.slice(root.length)),
      ['/sub', '/sub/a', '/sub/a/x', '/sub/z', '/sub-a'],
    );
    const big = await drain(readNar(chunked(narOf('big'), [65536]), obj('big')));
    assert.deepEqual(
      big.map((s) => [s.path.split('/').pop(), s.mode, s.size]),
      [
        [obj('big').path.split('/').pop(), 0o555, undefined],
        ['a-3MiB.bin', 0o444, 3 << 20],
        ['b-odd.bin', 0o555, (1 << 20) + 3],
        ['c-after', 0o444, 6],
      ],
    );
    assert.equal(big[1]!.sha, createHash('sha256').update(pseudoRandom(3 << 20, 'big')).digest('hex'));
  });

  it('gives the same tar however the NAR is cut into chunks', async () => {
    const cuts: [string, number[]][] = [
      ['small', [1]],
      ['small', [7]],
      ['small', [8]],
      ['small', [13]],
      ['file', [1]],
      ['exec', [1]],
      ['link', [1]],
      ['empty-dir', [1]],
      ['mixed', [1]],
      ['mixed', [7]],
      ['mixed', [8]],
      ['mixed', [13]],
      ['big', [1, 7, 8, 13, 4093, 65536, 1 << 20]],
      ['big', [65536 * 16 + 5]],
    ];
    const expected = new Map<string, Buffer>();
    for (const [name] of cuts) if (!expected.has(name)) expected.set(name, await tarOf(walkStorePath(obj(name))));
    for (const [name, sizes] of cuts) {
      const got = await tarOf(readNar(chunked(narOf(name), sizes), obj(name)));
      assert.ok(got.equals(expected.get(name)!), `${name} in chunks of ${sizes.join(',')}: the tars differ`);
    }
    // A Readable is a source too, and so is one single chunk.
    const r = Readable.from(chunked(narOf('big'), [3000]), { objectMode: false });
    assert.ok((await tarOf(readNar(r, obj('big')))).equals(expected.get('big')!));
    assert.ok((await tarOf(readNar(chunked(narOf('big'), [narOf('big').length]), obj('big')))).equals(expected.get('big')!));
  });

  it('a wrong NAR hash is store-corrupt, after every entry was yielded', async () => {
    for (const name of ['mixed', 'big', 'file', 'link', 'empty-dir']) {
      const o = { ...obj(name), narHash: WRONG_HASH };
      let count = 0;
      await assert.rejects(
        (async () => {
          for await (const e of dumpStorePath(o)) {
            count++;
            if (e.type === 'file') await collectBytes(e.open());
          }
        })(),
        corrupt(new RegExp(`${o.path} does not match its NAR hash \\(registered ${WRONG_HASH.replace(/[+/]/g, '\\$&')}, read ${obj(name).narHash.replace(/[+/]/g, '\\$&')}\\)`)),
      );
      assert.equal(count, (await drain(walkStorePath(obj(name)), false)).length);
      await assert.rejects(tarOf(readNar(chunked(narOf(name), [13, 4096]), o)), corrupt(/does not match its NAR hash/));
      await assert.rejects(drain(readNar(chunked(narOf(name), [13, 4096]), o), false), corrupt(/does not match its NAR hash/));
    }
    // Another path's NAR is refused too.
    await assert.rejects(drain(readNar(chunked(narOf('file'), [64]), obj('exec'))), corrupt(/does not match/));
  });

  it('refuses a NAR cut short at any byte', async () => {
    const nar = narOf('small');
    for (let n = 0; n < nar.length; n++) {
      await assert.rejects(drain(readNar(chunked(nar.subarray(0, n), [64]), obj('small'))), corrupt(/malformed: (it ends early|not a NAR)/), `cut at ${n}`);
    }
    // Cut inside a large file's content, through the tar writer and without opening files.
    const big = narOf('big').subarray(0, 2 << 20);
    await assert.rejects(tarOf(readNar(chunked(big, [65536]), obj('big'))), corrupt(/ends early/));
    await assert.rejects(drain(readNar(chunked(big, [65536]), obj('big')), false), corrupt(/ends early/));
  });

  it('refuses data after the archive', async () => {
    const nar = Buffer.concat([narOf('small'), str('')]);
    await assert.rejects(drain(readNar(chunked(nar, [64]), { ...obj('small'), narHash: sri(nar) })), corrupt(/data after the end/));
  });

  it('refuses malformed NARs with a one-line reason', async () => {
    const ok: Node = { dir: [['a', { file: 'x' }], ['b', { link: 'a' }], ['c', { dir: [] }]] };
    assert.deepEqual(await parseNar(narFile(ok)), [
      { type: 'directory', path: 'nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-handmade', mode: 0o555 },
      { type: 'file', path: 'nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-handmade/a', mode: 0o444, size: 1, sha: createHash('sha256').update('x').digest('hex') },
      { type: 'symlink', path: 'nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-handmade/b', target: 'a' },
      { type: 'directory', path: 'nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-handmade/c', mode: 0o555 },
    ]);

    const cases: [string, Buffer, RegExp][] = [
      ['empty input', Buffer.alloc(0), /not a NAR/],
      ['not a NAR', Buffer.from('this is not an archive at all, just text\n'), /not a NAR/],
      ['bad magic', Buffer.concat([str('nix-archive-2'), node({ file: 'x' })]), /not a NAR \(magic 'nix-archive-2'/],
      ['name with a slash', narFile({ dir: [['a/b', { file: 'x' }]] }), /file name with '\/' \('a\/b'\)/],
      ['name .', narFile({ dir: [['.', { file: 'x' }]] }), /file named '\.'/],
      ['name ..', narFile({ dir: [['..', { dir: [] }]] }), /file named '\.\.'/],
      ['empty name', narFile({ dir: [['', { file: 'x' }]] }), /empty file name/],
      ['NUL in a name', narFile({ dir: [['a\0b', { file: 'x' }]] }), /NUL byte/],
      ['unsorted', narFile({ dir: [['b', { file: 'x' }], ['a', { file: 'y' }]] }), /not sorted \('a' after 'b'\)/],
      ['UTF-16 order instead of bytes', narFile({ dir: [[EMOJI, { file: 'x' }], [FFFD, { file: 'y' }]] }), /not sorted/],
      ['duplicate', narFile({ dir: [['a', { file: 'x' }], ['a', { file: 'x' }]] }), /duplicate entry 'a'/],
      ['duplicate in a subdirectory', narFile({ dir: [['d', { dir: [['z', { file: '' }], ['z', { link: 'q' }]] }]] }), /duplicate entry 'z' in .*\/d /],
      ['unknown node type', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('fifo'), str(')')]), /unknown node type 'fifo'/],
      ['executable marker with a value', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('regular'), str('executable'), str('yes'), str('contents'), str('x'), str(')')]), /executable marker is not empty/],
      ['file without contents', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('regular'), str(')')]), /expected 'contents', found '\)'/],
      ['missing close', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('symlink'), str('target'), str('x'), str('('), str(')')]), /expected '\)', found '\('/],
      ['entry without name', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('directory'), str('entry'), str('('), str('node')]), /expected 'name', found 'node'/],
      ['empty symlink target', narFile({ link: '' }), /empty target/],
      ['non-zero padding in a string', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('symlink'), str('target'), Buffer.from('0100000000000000' + '61ff000000000000', 'hex'), str(')')]), /non-zero padding/],
      ['non-zero padding after contents', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('regular'), str('contents'), Buffer.from('0300000000000000' + '6162630000000001', 'hex'), str(')')]), /non-zero padding/],
      ['impossible length', Buffer.concat([str('nix-archive-1'), str('('), str('type'), str('regular'), str('contents'), Buffer.from('ffffffffffffffff', 'hex')]), /does not fit in 53 bits/],
      ['overlong name', narFile({ dir: [['n'.repeat(5000), { file: 'x' }]] }), /file name is 5000 bytes long/],
      ['overlong keyword', Buffer.concat([str('nix-archive-1'), str('('), str('t'.repeat(100))]), /keyword is 100 bytes long/],
    ];
    for (const [what, nar, pattern] of cases) {
      for (const sizes of [[4096], [1], [7]]) await assert.rejects(parseNar(nar, sizes), corrupt(pattern), `${what} in chunks of ${sizes[0]}`);
    }
  });

  it('refuses names and targets that are not UTF-8', async () => {
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    for (const nar of [narFile({ dir: [[bad, { file: 'x' }]] }), narFile({ link: bad })]) {
      await assert.rejects(parseNar(nar), (e: unknown) => e instanceof StrataError && e.code === 'unsupported' && /not valid UTF-8 \(61ff62\)/.test(e.message));
    }
    // U+FFFD itself is valid UTF-8.
    assert.equal((await parseNar(narFile({ dir: [[FFFD, { link: FFFD }]] })))[1]?.target, FFFD);
  });

  it('a failed dump is an error naming the path, not a malformed NAR', async () => {
    const missing = '/nix/store/00000000000000000000000000000000-not-there';
    await assert.rejects(drain(dumpStorePath({ path: missing, narHash: WRONG_HASH })), (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, 'nix-failed');
      assert.match(e.message, /nix-store --dump \/nix\/store\/0+-not-there failed \(exit 1\)/);
      assert.ok(e.message.includes(missing));
      return true;
    });
  });

  it('stopping early ends the dump', async () => {
    const o = obj('big');
    let n = 0;
    for await (const e of dumpStorePath(o)) {
      void e;
      if (++n === 3) break;
    }
    assert.equal(n, 3);
    // Stopping inside a large file's content (the dump is blocked writing to its pipe).
    for await (const e of dumpStorePath(o)) {
      if (e.type === 'file' && e.size === 3 << 20) {
        const r = e.open();
        for await (const c of r) {
          void c;
          break;
        }
        break;
      }
    }
  });

  it('reads through `nix store dump-path --store URL`', async () => {
    const o = obj('small');
    assert.ok((await tarOf(dumpStorePath(o, { store: 'local' }))).equals(await tarOf(walkStorePath(o))));
  });
});
