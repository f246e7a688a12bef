// Strata's tar encoder against tar-stream 3, which wrote every layer published
// before it: the same entries must give the same bytes, header for header, for
// every encoding case (ustar, the prefix split, pax for names and targets,
// base-256 sizes, default modes). tar-stream is the oracle here, not a dependency
// of the encoder.
import assert from 'node:assert/strict';
import tar from 'tar-stream';
import { describe, it } from 'vitest';
import { encodeHeader, padding, type TarHeader } from '../../layers/tar-header.js';
import { tarChunks } from '../../layers/tar.js';
import type { TreeEntry } from '../../layers/tree.js';
import { bytesEntry, readEntry } from '../helpers/tree-entries.js';

const MTIME = 1700000000;

/** The archive tar-stream writes for the entries (content of the given sizes, filled with a byte). */
async function viaTarStream(entries: TreeEntry[], mtime: number): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  pack.on('data', (c) => out.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => pack.on('end', resolve).on('error', reject));
  for (const e of entries) {
    const common = { name: e.path, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(mtime * 1000), devmajor: 0, devminor: 0 };
    const header: tar.Header =
      e.type === 'file'
        ? { ...common, type: 'file', mode: e.mode, size: e.size, linkname: '' }
        : e.type === 'directory'
          ? { ...common, type: 'directory', mode: e.mode, size: 0, linkname: '' }
          : { ...common, type: 'symlink', mode: 0o777, size: 0, linkname: e.target };
    const content = e.type === 'file' ? readEntry(e) : undefined;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (content) pack.entry(header, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(out);
}

function file(path: string, size: number, mode = 0o444): TreeEntry {
  return bytesEntry(path, Buffer.alloc(size, size & 0xff), mode);
}

const dir = (path: string, mode = 0o555): TreeEntry => ({ type: 'directory', path, mode });
const link = (path: string, target: string): TreeEntry => ({ type: 'symlink', path, target });

const CASES: Record<string, TreeEntry[]> = {
  'short names of each type': [dir('nix'), file('nix/a', 5), link('nix/l', 'a'), file('nix/x', 0, 0o555)],
  'names of 99, 100 and 101 bytes': [file('a'.repeat(99), 1), file('b'.repeat(100), 1), file('c'.repeat(101), 1)],
  'a 150-byte path split into prefix and name': [file(`${'p'.repeat(70)}/${'n'.repeat(79)}`, 3)],
  'a prefix of 155 and of 156 bytes': [file(`${'p'.repeat(155)}/${'n'.repeat(20)}`, 1), file(`${'q'.repeat(156)}/${'n'.repeat(20)}`, 1)],
  'a path split at its last possible slash': [file(`${'a'.repeat(10)}/${'b'.repeat(10)}/${'c'.repeat(95)}`, 2)],
  'one component over 100 bytes': [dir('d'.repeat(120)), file('e'.repeat(300), 7)],
  'non-ASCII names': [dir('dír'), file('dír/héllo-世界.txt', 4), link('ü', 'x'), file('emoji-😀', 1)],
  'link targets of 100, 101 bytes and non-ASCII': [
    link('a', 't'.repeat(100)),
    link('b', 't'.repeat(101)),
    link('c', 'ziel-ü'),
    link('d'.repeat(120), 't'.repeat(150)),
  ],
  'a pax record whose length gains a digit': [file('f'.repeat(90) + 'é', 1), file('g'.repeat(993), 1), file('h'.repeat(994), 1)],
  'sizes around block boundaries': [file('s0', 0), file('s1', 1), file('s511', 511), file('s512', 512), file('s513', 513), file('big', 3 << 20)],
  'modes: zero (defaults), setuid, sticky': [dir('z', 0), file('zf', 1, 0), dir('tmp', 0o1777), file('su', 1, 0o4755)],
};

describe('tar encoder', () => {
  for (const [name, entries] of Object.entries(CASES)) {
    for (const mtime of [0, MTIME, 2 ** 31 - 1]) {
      it(`${name}, mtime ${mtime}: tar-stream's bytes`, async () => {
        const ours = Buffer.concat([...tarChunks(entries, { mtime })]);
        const theirs = await viaTarStream(entries, mtime);
        assert.equal(ours.length, theirs.length);
        assert.ok(ours.equals(theirs), `first difference at byte ${ours.findIndex((b, i) => b !== theirs[i])}`);
      });
    }
  }

  it('a size of 8 GiB or more is base-256, as tar-stream writes it', async () => {
    for (const size of [8 * 2 ** 30 - 1, 8 * 2 ** 30, 2 ** 40 + 12345]) {
      const h: TarHeader = { name: 'huge', type: 'file', mode: 0o444, size, linkname: '', mtime: MTIME };
      const pack = tar.pack();
      const first = new Promise<Buffer>((resolve) => pack.once('data', (c) => resolve(c as Buffer)));
      pack.entry({
        name: 'huge',
        type: 'file',
        mode: 0o444,
        size,
        mtime: new Date(MTIME * 1000),
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        devmajor: 0,
        devminor: 0,
      });
      const theirs = await first;
      pack.destroy();
      assert.ok(encodeHeader(h).equals(theirs.subarray(0, 512)), `size ${size}`);
      // Eleven octal 7s still fit; one more and the field is binary.
      assert.equal(encodeHeader(h)[124], size >= 8 * 2 ** 30 ? 0x80 : 0x37);
    }
  });

  it('pads content to whole blocks', () => {
    assert.deepEqual(
      [0, 1, 511, 512, 513].map((n) => padding(n).length),
      [0, 511, 1, 0, 511],
    );
  });

  it('fails for a file with more bytes than its size', () => {
    const bad = bytesEntry('long', 'abc', 0o644, 2);
    assert.throws(() => [...tarChunks([bad], { mtime: 0 })], /more bytes than its size/);
  });

  it('gathers entries into 1 MiB chunks; with reuse, into one buffer', () => {
    const entries = [...Array.from({ length: 5000 }, (_, i) => file(`f${i}`, 100)), file('large', 4 << 20)];
    const fresh = [...tarChunks(entries, { mtime: 0 })];
    // 5000 × (512 header + 512 content), 512 + 4 MiB, two end blocks: full chunks, then the rest.
    const total = 5000 * 1024 + 512 + (4 << 20) + 1024;
    const full = Math.floor(total / (1 << 20));
    assert.deepEqual(
      fresh.map((c) => c.length),
      [...Array<number>(full).fill(1 << 20), total - full * (1 << 20)],
    );
    assert.equal(new Set(fresh.map((c) => c.buffer)).size, fresh.length);
    const buffers = new Set<ArrayBufferLike>();
    const copies: Buffer[] = [];
    for (const c of tarChunks(entries, { mtime: 0, reuse: true })) {
      buffers.add(c.buffer);
      copies.push(Buffer.from(c));
    }
    assert.equal(buffers.size, 1);
    assert.ok(Buffer.concat(copies).equals(Buffer.concat(fresh)));
  });
});
