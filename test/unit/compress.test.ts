// Layer compressors: round trips, pinned output bytes (golden digests of a
// generated input), independence from input chunking, context isolation, and
// back-pressure. The golden digests must hold on every machine and Node version;
// a change there changes every image digest Strata produces.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'vitest';
import zlib from 'node:zlib';
import { Zstd } from '@hpcc-js/wasm-zstd';
import { BLOCK_SIZE, LIBZSTD_VERSION, compressorInfo, createCompressor } from '../../layers/compress.js';
import { COMPRESSIONS, type Compression } from '../../oci/layer-types.js';
import { compressThrough } from '../helpers/compress-through.js';

const MiB = 1 << 20;

/** ~2 MB of pseudo-text: words from a fixed list picked by a seeded xorshift32. */
function pseudoText(bytes: number, seed = 0x5eed1234): Buffer {
  const words = (
    'the of and to in is was for on that with as by at from nix store path layer image ' +
    'manifest digest config blob tar gzip zstd deterministic reproducible build output ' +
    'derivation closure package library binary share lib bin etc usr local node strata ' +
    'oci registry index annotation compressed bytes stream chunk block window hash'
  ).split(' ');
  let s = seed >>> 0;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const parts: string[] = [];
  let len = 0;
  let line = 0;
  while (len < bytes) {
    const r = next();
    let w = words[r % words.length]!;
    if (r % 97 === 0) w = String(r % 100000);
    line += w.length + 1;
    const sep = line > 72 ? '\n' : ' ';
    if (sep === '\n') line = 0;
    parts.push(w, sep);
    len += w.length + 1;
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, bytes);
}

const INPUT = pseudoText(2_000_000);

/** sha256 of the compressed output of INPUT; see the file comment before changing one. */
const GOLDEN: Record<Compression, { sha256: string; size: number }> = {
  none: { sha256: '89b3d3cdcc2f6834f03389c9e8e0ad67078dd9951aede885fdef90bf26bbd392', size: 2_000_000 },
  gzip: { sha256: 'e73d6b73b9d31981987eb0225b069fe61582d1fd5f0a30da10820c956fb5b25f', size: 464_369 },
  zstd: { sha256: '458982e70a819380f1a326dafd5ea2b04786b42b13402e0f22484c91b37d07e0', size: 505_462 },
};

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `input` through the pinned compressor for `c`, in chunks of `size` bytes (or sizes `size()` picks). */
function compress(c: Compression, input: Buffer, size: number | (() => number) = input.length): Promise<Buffer> {
  return compressThrough(createCompressor(c), input, size);
}

async function decompress(c: Compression, b: Buffer): Promise<Buffer> {
  switch (c) {
    case 'none':
      return b;
    case 'gzip':
      return zlib.gunzipSync(b);
    case 'zstd':
      // Node >= 22.15 has zstd; older Node 22 decompresses with the library itself.
      if (typeof zlib.zstdDecompressSync === 'function') return zlib.zstdDecompressSync(b);
      return Buffer.from((await Zstd.load()).decompress(b));
  }
}

const ALL = COMPRESSIONS;

describe('the generated input', () => {
  it('is the pinned pseudo-text', () => {
    assert.equal(INPUT.length, 2_000_000);
    assert.equal(sha256(INPUT), GOLDEN.none.sha256);
  });
});

for (const c of ALL) {
  describe(`${c} compressor`, () => {
    it('round-trips through an independent decompressor', async () => {
      const out = await compress(c, INPUT, 65536);
      assert.ok((await decompress(c, out)).equals(INPUT));
    });

    it('round-trips empty input', async () => {
      const out = await compress(c, Buffer.alloc(0));
      assert.equal((await decompress(c, out)).length, 0);
    });

    it('writes the pinned bytes (golden digest)', async () => {
      const out = await compress(c, INPUT);
      assert.equal(out.length, GOLDEN[c].size, `size of ${compressorInfo(c).id}`);
      assert.equal(sha256(out), GOLDEN[c].sha256, `digest of ${compressorInfo(c).id}`);
    });

    it('writes the same bytes however the input is chunked', async () => {
      const sizes = [1, 7, 1000, 4096, 65535, 65536, 65537, MiB - 1, MiB, MiB + 1, 3 * MiB];
      for (const size of sizes) {
        const out = await compress(c, INPUT, size);
        assert.equal(sha256(out), GOLDEN[c].sha256, `chunks of ${size} bytes`);
      }
      let s = 42;
      const irregular = (): number => {
        s = (s * 1103515245 + 12345) >>> 0;
        return 1 + ((s >>> 8) % 300_000);
      };
      assert.equal(sha256(await compress(c, INPUT, irregular)), GOLDEN[c].sha256, 'irregular chunks');
    });

    it('stops pulling input while nobody reads, and stays bounded under a slow reader', async () => {
      const total = 16 * MiB;
      let produced = 0;
      const source = new Readable({
        read() {
          if (produced >= total) {
            this.push(null);
            return;
          }
          const n = Math.min(64 * 1024, total - produced);
          const at = produced % (INPUT.length - n);
          produced += n;
          this.push(INPUT.subarray(at, at + n));
        },
      });
      const comp = createCompressor(c);
      source.pipe(comp);

      // Nobody reads: the compressor fills its readable side and the writes stop.
      await sleep(300);
      const stalled = produced;
      const bound = BLOCK_SIZE * 4;
      assert.ok(stalled < bound, `pulled ${stalled} bytes with no reader`);
      await sleep(200);
      assert.equal(produced, stalled, 'kept pulling input with no reader');

      // A slow reader: what is held between the source and the reader stays bounded.
      let maxHeld = 0;
      let outBytes = 0;
      await pipeline(
        comp,
        new Writable({
          highWaterMark: 16 * 1024,
          write(chunk: Buffer, _e, cb) {
            outBytes += chunk.length;
            maxHeld = Math.max(maxHeld, source.readableLength + comp.writableLength + comp.readableLength);
            setTimeout(cb, 2);
          },
        }),
      );
      assert.equal(produced, total);
      assert.ok(outBytes > 0);
      assert.ok(maxHeld < bound, `held ${maxHeld} bytes under a slow reader`);
    });
  });
}

describe('gzip header', () => {
  it('is fixed: no mtime, no name, OS 3', async () => {
    const out = await compress('gzip', INPUT.subarray(0, 1000));
    // magic, CM=deflate, FLG=0, MTIME=0, XFL=0 (level 6), OS=3 (Unix)
    assert.equal(out.subarray(0, 10).toString('hex'), '1f8b0800000000000003');
  });
});

describe('zstd frame', () => {
  it('has no checksum and no content size', async () => {
    const out = await compress('zstd', INPUT.subarray(0, 1000));
    assert.equal(out.subarray(0, 4).toString('hex'), '28b52ffd');
    const fhd = out[4]!;
    assert.equal(fhd & 0x04, 0, 'checksum flag');
    assert.equal(fhd >> 6, 0, 'frame content size flag');
  });

  it('keeps one context per stream: interleaved streams write the golden bytes', async () => {
    const a = createCompressor('zstd');
    const b = createCompressor('zstd');
    const outs: Buffer[][] = [[], []];
    const sinks = [a, b].map((comp, i) =>
      pipeline(
        comp,
        new Writable({
          write(chunk: Buffer, _e, cb) {
            outs[i]!.push(chunk);
            cb();
          },
        }),
      ),
    );
    const step = 300_000;
    for (let off = 0; off < INPUT.length; off += step) {
      for (const comp of [a, b]) {
        if (!comp.write(INPUT.subarray(off, off + step))) await once(comp, 'drain');
      }
    }
    a.end();
    b.end();
    await Promise.all(sinks);
    for (const o of outs) assert.equal(sha256(Buffer.concat(o)), GOLDEN.zstd.sha256);
  });

  it('frees a stream destroyed midway and goes on working', async () => {
    const comp = createCompressor('zstd');
    comp.resume();
    comp.write(INPUT.subarray(0, 1_500_000));
    await sleep(50);
    comp.destroy();
    await once(comp, 'close');
    assert.equal(sha256(await compress('zstd', INPUT)), GOLDEN.zstd.sha256);
  });
});

describe('compressorInfo', () => {
  const installed = (name: string): string =>
    (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;

  it('names its compression', () => {
    for (const c of ALL) assert.equal(compressorInfo(c).compression, c);
  });

  it('names the installed implementation and its exact version', async () => {
    assert.match(compressorInfo('gzip').id, new RegExp(`^pako@${installed('pako').replaceAll('.', '\\.')} gzip level=6 `));
    const zstdId = compressorInfo('zstd').id;
    assert.ok(zstdId.startsWith(`@hpcc-js/wasm-zstd@${installed('@hpcc-js/wasm-zstd')} libzstd@${LIBZSTD_VERSION} zstd level=3 `), zstdId);
    assert.equal((await Zstd.load()).version(), LIBZSTD_VERSION);
    assert.equal(compressorInfo('none').id, 'none');
  });
});
