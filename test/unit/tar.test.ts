// The deterministic tar writer, checked with independent readers: Python's
// tarfile, GNU tar, and the ustar header fields read at their fixed offsets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { tarStream } from '../../layers/tar.js';
import type { TreeEntry } from '../../layers/tree.js';
import { bytesEntry } from '../helpers/tree-entries.js';

const MTIME = 1700000000;
const LONG_DIR = `long/${'a'.repeat(70)}`;
const PREFIXED = `${LONG_DIR}/${'b'.repeat(74)}`; // 150 bytes: ustar prefix + name
const PAX_NAME = 'c'.repeat(200); // one component of 200 bytes: only pax can hold it
const UNICODE = 'dir/héllo-世界.txt';
const LONG_TARGET = `/nix/store/${'x'.repeat(32)}-${'y'.repeat(80)}/bin/tool`; // > 100 bytes

function bytesFile(path: string, content: string | Buffer, mode = 0o644): TreeEntry {
  return bytesEntry(path, content, mode);
}

function sampleEntries(): TreeEntry[] {
  return [
    { type: 'directory', path: 'dir', mode: 0o755 },
    bytesFile('dir/file.txt', 'hello\n'),
    bytesFile('dir/run', '#!/bin/sh\nexit 0\n', 0o555),
    { type: 'symlink', path: 'dir/link', target: 'file.txt' },
    { type: 'symlink', path: 'dir/longlink', target: LONG_TARGET },
    bytesFile(UNICODE, 'ü\n'),
    bytesFile('dir/empty', ''),
    { type: 'directory', path: 'long', mode: 0o755 },
    { type: 'directory', path: LONG_DIR, mode: 0o755 },
    bytesFile(PREFIXED, 'x'.repeat(1000)),
    bytesFile(PAX_NAME, Buffer.alloc(513, 7), 0o444),
    { type: 'directory', path: 'tmp', mode: 0o1777 },
  ];
}

async function tarBytes(entries: TreeEntry[], mtime: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarStream(entries, { mtime })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface PyMember {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  linkname: string;
  offset: number;
  offset_data: number;
  pax: Record<string, string>;
  sha256: string | null;
}

const PY_LIST = `
import sys, json, tarfile, hashlib
out = []
with tarfile.open(sys.argv[1], 'r:', encoding='utf-8') as t:
    for m in t:
        d = dict(name=m.name, type=m.type.decode(), mode=m.mode, uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname,
                 mtime=m.mtime, size=m.size, linkname=m.linkname, offset=m.offset, offset_data=m.offset_data,
                 pax=m.pax_headers, sha256=None)
        if m.isfile():
            d['sha256'] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
        out.append(d)
print(json.dumps(out))
`;

const hasPython = spawnSync('python3', ['-c', 'import tarfile']).status === 0;
const hasGnuTar = /GNU tar/.test(spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout ?? '');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-tar-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pyList(tar: Buffer, name: string): PyMember[] {
  const file = join(dir, name);
  writeFileSync(file, tar);
  const r = spawnSync('python3', ['-c', PY_LIST, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as PyMember[];
}

/** Reads an octal ustar numeric field at a fixed offset of a 512-byte header. */
function octal(header: Buffer, off: number, len: number): number {
  return parseInt(
    header
      .subarray(off, off + len)
      .toString('latin1')
      .replace(/[\0 ]+$/, '') || '0',
    8,
  );
}
function text(header: Buffer, off: number, len: number): string {
  const s = header.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
}

// Skipped when python3 is not on PATH.
describe.skipIf(!hasPython)('tarStream', () => {
  it('writes every field as asked (read by python tarfile)', async () => {
    const tar = await tarBytes(sampleEntries(), MTIME);
    const members = pyList(tar, 'sample.tar');
    const sha = require256;
    const want: Partial<PyMember>[] = [
      { name: 'dir', type: '5', mode: 0o755, size: 0, linkname: '' },
      { name: 'dir/file.txt', type: '0', mode: 0o644, size: 6, linkname: '', sha256: sha('hello\n') },
      { name: 'dir/run', type: '0', mode: 0o555, size: 17, sha256: sha('#!/bin/sh\nexit 0\n') },
      { name: 'dir/link', type: '2', mode: 0o777, size: 0, linkname: 'file.txt' },
      { name: 'dir/longlink', type: '2', mode: 0o777, size: 0, linkname: LONG_TARGET },
      { name: UNICODE, type: '0', mode: 0o644, size: 3, sha256: sha('ü\n') },
      { name: 'dir/empty', type: '0', mode: 0o644, size: 0, sha256: sha('') },
      { name: 'long', type: '5', mode: 0o755 },
      { name: LONG_DIR, type: '5', mode: 0o755 },
      { name: PREFIXED, type: '0', mode: 0o644, size: 1000, sha256: sha('x'.repeat(1000)) },
      { name: PAX_NAME, type: '0', mode: 0o444, size: 513, sha256: sha(Buffer.alloc(513, 7)) },
      { name: 'tmp', type: '5', mode: 0o1777 },
    ];
    assert.deepEqual(
      members.map((m) => m.name),
      want.map((w) => w.name),
    );
    for (const [i, m] of members.entries()) {
      const w = want[i]!;
      for (const k of Object.keys(w) as (keyof PyMember)[]) assert.equal(m[k], w[k], `${m.name}: ${k}`);
      assert.equal(m.mtime, MTIME, `${m.name}: mtime`);
      assert.equal(m.uid, 0, `${m.name}: uid`);
      assert.equal(m.gid, 0, `${m.name}: gid`);
      assert.equal(m.uname, '', `${m.name}: uname`);
      assert.equal(m.gname, '', `${m.name}: gname`);
    }
  });

  it('uses the ustar prefix for a 150-byte path and pax only where ustar cannot hold the name', async () => {
    const tar = await tarBytes(sampleEntries(), MTIME);
    const members = pyList(tar, 'pax.tar');
    const byName = new Map(members.map((m) => [m.name, m]));
    const hasPax = (n: string) => byName.get(n)!.offset_data - byName.get(n)!.offset > 512;

    const pre = byName.get(PREFIXED)!;
    assert.equal(hasPax(PREFIXED), false, 'no pax header before the prefixed name');
    const h = tar.subarray(pre.offset, pre.offset + 512);
    assert.equal(text(h, 0, 100), 'b'.repeat(74));
    assert.equal(text(h, 345, 155), LONG_DIR);
    assert.equal(text(h, 257, 6), 'ustar');

    assert.ok(hasPax(PAX_NAME), '200-byte name has a pax header');
    assert.equal(byName.get(PAX_NAME)!.pax['path'], PAX_NAME);
    assert.ok(hasPax(UNICODE), 'non-ASCII name has a pax header');
    assert.equal(byName.get(UNICODE)!.pax['path'], UNICODE);
    assert.ok(hasPax('dir/longlink'), 'long link target has a pax header');
    assert.equal(byName.get('dir/longlink')!.pax['linkpath'], LONG_TARGET);
    for (const n of ['dir', 'dir/file.txt', 'dir/link', 'tmp']) assert.equal(hasPax(n), false, `${n} has no pax header`);

    // The pax headers' own ustar blocks carry the same mtime, ids and names as the entries.
    for (const n of [PAX_NAME, UNICODE, 'dir/longlink']) {
      const x = tar.subarray(byName.get(n)!.offset, byName.get(n)!.offset + 512);
      assert.equal(String.fromCharCode(x[156]!), 'x', `${n}: pax typeflag`);
      assert.equal(octal(x, 136, 12), MTIME, `${n}: pax header mtime`);
      assert.equal(octal(x, 108, 8), 0, `${n}: pax header uid`);
      assert.equal(octal(x, 116, 8), 0, `${n}: pax header gid`);
      assert.equal(text(x, 265, 32), '', `${n}: pax header uname`);
      assert.equal(text(x, 297, 32), '', `${n}: pax header gname`);
    }
  });

  // Skipped when GNU tar is not on PATH.
  it.skipIf(!hasGnuTar)('is read the same by GNU tar', async () => {
    const file = join(dir, 'gnu.tar');
    writeFileSync(file, await tarBytes(sampleEntries(), MTIME));
    const r = spawnSync('tar', ['--numeric-owner', '--utc', '--full-time', '-tvf', file], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, sampleEntries().length);
    for (const l of lines) assert.match(l, / 0\/0 +\d+ 2023-11-14 22:13:20 /, l);
    assert.match(lines[0]!, /^drwxr-xr-x 0\/0 +0 2023-11-14 22:13:20 dir$/);
    assert.match(lines[2]!, /^-r-xr-xr-x 0\/0 +17 .* dir\/run$/);
    assert.match(lines[3]!, /^lrwxrwxrwx 0\/0 +0 .* dir\/link -> file\.txt$/);
    assert.ok(lines[4]!.endsWith(`dir/longlink -> ${LONG_TARGET}`), lines[4]);
    assert.ok(lines[9]!.endsWith(` ${PREFIXED}`), lines[9]);
    assert.ok(lines[10]!.endsWith(` ${PAX_NAME}`), lines[10]);
    assert.match(lines[11]!, /^drwxrwxrwt /);
  });

  it('gives byte-identical output for the same entries', async () => {
    const a = await tarBytes(sampleEntries(), MTIME);
    const b = await tarBytes(sampleEntries(), MTIME);
    assert.ok(a.equals(b));
    // 12 members, some with pax headers, then two zero blocks; always whole blocks.
    assert.equal(a.length % 512, 0);
    assert.ok(a.subarray(a.length - 1024).equals(Buffer.alloc(1024)));
  });

  it('with another mtime differs only in header bytes', async () => {
    const a = await tarBytes(sampleEntries(), MTIME);
    const b = await tarBytes(sampleEntries(), 0);
    assert.equal(a.length, b.length);
    assert.ok(!a.equals(b));
    const members = pyList(b, 'epoch.tar');
    for (const m of members) assert.equal(m.mtime, 0, m.name);
    const headers = members.map((m) => [m.offset, m.offset_data] as const);
    let differing = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue;
      differing++;
      assert.ok(
        headers.some(([s, e]) => i >= s && i < e),
        `byte ${i} differs outside every header`,
      );
    }
    assert.ok(differing > 0);
    // The content itself is the same.
    for (const m of members) {
      if (m.size) assert.ok(a.subarray(m.offset_data, m.offset_data + m.size).equals(b.subarray(m.offset_data, m.offset_data + m.size)));
    }
  });

  it('fails when a file stream is shorter than its size', async () => {
    const bad = bytesEntry('short', 'abc', 0o644, 10);
    await assert.rejects(tarBytes([bad], MTIME));
  });
});

/** sha256 hex, computed here rather than trusted from the writer. */
function require256(s: string | Buffer): string {
  return createHash('sha256')
    .update(typeof s === 'string' ? Buffer.from(s, 'utf8') : s)
    .digest('hex');
}

describe('tarStream back-pressure', () => {
  // What is held is measured as how far the file's reader ran ahead of the
  // consumer: tarStream's chunks are fresh buffers (the consumer may keep them),
  // freed by the collector's background sweep, so a memory reading after gc()
  // was timing-dependent (a fresh-machine run saw 24 MB of not yet swept chunks).
  it('a slow reader keeps a 32 MiB file from being buffered', async () => {
    const SIZE = 32 * 1024 * 1024;
    const CHUNK = 64 * 1024;
    let produced = 0;
    let consumed = 0;
    let maxLag = 0;
    const big: TreeEntry = {
      type: 'file',
      path: 'big',
      mode: 0o644,
      size: SIZE,
      open: () => ({
        read(into: Buffer) {
          const n = Math.min(into.length, SIZE - produced);
          into.fill(produced & 0xff, 0, n);
          produced += n;
          return n;
        },
        close: () => undefined,
      }),
    };
    const slow = new Writable({
      highWaterMark: CHUNK,
      write(chunk: Buffer, _enc, done) {
        consumed += chunk.length;
        maxLag = Math.max(maxLag, produced - consumed);
        setTimeout(done, 1);
      },
    });
    await pipeline(tarStream([big], { mtime: 0 }), slow);
    assert.equal(produced, SIZE);
    // One header, the content (a whole number of blocks), two zero blocks.
    assert.equal(consumed, 512 + SIZE + 1024);
    // A few 1 MiB chunks at most: the one being written, those in the stream's buffer, the one being filled.
    assert.ok(maxLag < 4 * 1024 * 1024, `the source ran ${maxLag} bytes ahead of the reader`);
  });
});
