// The runtime's zlib and libzstd as layer compressors: they may write a layer
// only where they give the pinned compressors' bytes. The start-up check's
// digests are held to the pinned output here; the native output is compared
// with the pinned one on inputs cut every which way; and every reason to fall
// back is taken where it should be.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import { describe, it } from 'vitest';
import { createCompressor } from '../../layers/compress.js';
import { compressThrough } from '../helpers/compress-through.js';
import { CHECK_DIGESTS, PROVEN, checkInput, createNativeCompressor, decideImplementation, hasWasmSimd } from '../../layers/native-compress.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Chunk sizes from a seeded generator: 1 byte to 3 MiB. */
function chunker(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return [1, 7, 512, 65536, 1 << 20, 3 << 20][s % 6]! + (s % 1000);
  };
}

const here = { versions: process.versions, platform: `${process.platform}-${process.arch}` };
const hasZstd = typeof zlib.createZstdCompress === 'function';

describe('the start-up check', () => {
  for (const c of ['gzip', 'zstd'] as const) {
    it(`${c}: its digest is what the pinned compressor writes for the check input`, async () => {
      assert.equal(sha256(await compressThrough(createCompressor(c), checkInput(), 65536)), CHECK_DIGESTS[c]);
    });
  }
});

describe('the native compressors write the pinned bytes', () => {
  const inputs: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['exactly one block', checkInput().subarray(0, 1 << 20)],
    ['the check input', checkInput()],
    ['5 MiB of mixed input', Buffer.concat([checkInput(), Buffer.alloc(1 << 20, 7), checkInput().subarray(0, 1_500_001)])],
  ];
  for (const c of ['gzip', 'zstd'] as const) {
    for (const [name, input] of inputs) {
      it.skipIf(c === 'zstd' && !hasZstd)(`${c}, ${name}, cut at random`, async () => {
        const pinned = await compressThrough(createCompressor(c), input, 65536);
        assert.equal(sha256(await compressThrough(createNativeCompressor(c), input, chunker(input.length + 1))), sha256(pinned));
        // And it reads back as the input.
        const back = c === 'gzip' ? zlib.gunzipSync(pinned) : zlib.zstdDecompressSync(pinned);
        assert.equal(sha256(back), sha256(input));
      });
    }
  }

  it('a slow reader holds the native compressor back (bounded output in flight)', async () => {
    const comp = createNativeCompressor('gzip');
    const input = Buffer.concat(Array.from({ length: 24 }, () => checkInput()));
    // Nobody reads: writes must stop being accepted long before the whole 60 MiB is taken.
    let taken = 0;
    for (let off = 0; off < input.length; off += 1 << 20) {
      if (!comp.write(input.subarray(off, off + (1 << 20)))) break;
      taken += 1 << 20;
    }
    assert.ok(taken < 8 << 20, `took ${taken} bytes with no reader`);
    comp.destroy();
  });
});

describe('which compressor makes a layer', () => {
  it('this runtime: each compression native exactly where its library is on the proven list for this platform', async () => {
    const zstdListed = PROVEN.zstd.some((p) => p.version === process.versions.zstd && p.platforms.includes(here.platform));
    // zstd: the pinned WebAssembly build where it runs (it is faster), the runtime's where it does not.
    const zstd = await decideImplementation('zstd');
    assert.equal(zstd.native, zstdListed && hasZstd && !hasWasmSimd(), JSON.stringify(zstd));
    if (hasWasmSimd()) assert.match(zstd.reason!, /pinned build runs here|not on the list|no zstd/);
    const noSimd = await decideImplementation('zstd', { ...here, wasmSimd: false });
    assert.equal(noSimd.native, zstdListed && hasZstd, JSON.stringify(noSimd));
    const gzipListed = PROVEN.gzip.some((p) => p.version === process.versions.zlib && p.platforms.includes(here.platform));
    const gzip = await decideImplementation('gzip');
    assert.deepEqual([gzip.native, gzip.name], gzipListed ? [true, `node zlib ${process.versions.zlib}`] : [false, 'pako'], JSON.stringify(gzip));
    if (!gzipListed) assert.match(gzip.reason!, /not on the list/);
  });

  it('a library version not on the list, or not for this platform, falls back', async () => {
    const unknown = await decideImplementation('gzip', { versions: { zlib: '1.3.1-fork' }, platform: 'linux-x64' });
    assert.deepEqual([unknown.native, unknown.name], [false, 'pako']);
    assert.match(unknown.reason!, /zlib 1\.3\.1-fork on linux-x64 is not on the list/);
    const version = PROVEN.zstd[0]!.version;
    const elsewhere = await decideImplementation('zstd', { versions: { zstd: version }, platform: 'darwin-arm64' });
    assert.deepEqual([elsewhere.native, elsewhere.name], [false, '@hpcc-js/wasm-zstd']);
    assert.match(elsewhere.reason!, /on darwin-arm64 is not on the list/);
    const none = await decideImplementation('zstd', { versions: {}, platform: 'linux-x64' });
    assert.match(none.reason!, /this Node has no zstd/);
    const listed = PROVEN.gzip[0]!;
    const off = await decideImplementation('gzip', { versions: { zlib: listed.version }, platform: listed.platforms[0]!, off: true });
    assert.deepEqual([off.native, off.reason], [false, 'turned off by STRATA_NATIVE_COMPRESSORS=0']);
  });

  it('a listed library that fails the start-up check falls back, naming what it wrote', async () => {
    const listed = PROVEN.gzip[0]!;
    const broken = await decideImplementation('gzip', {
      versions: { zlib: listed.version },
      platform: listed.platforms[0]!,
      // Node's own gzip at another level: a valid gzip stream, not the format's bytes.
      create: () => zlib.createGzip({ level: 1 }),
    });
    assert.equal(broken.native, false);
    assert.match(broken.reason!, /failed the start-up check \(sha256:[0-9a-f]{64}\)/);
    const failing = await decideImplementation('gzip', {
      versions: { zlib: listed.version },
      platform: listed.platforms[0]!,
      create: () =>
        new PassThrough({
          transform(_c, _e, cb) {
            cb(new Error('deflate exploded'));
          },
        }),
    });
    assert.match(failing.reason!, /failed the start-up check \(deflate exploded\)/);
  });
});
