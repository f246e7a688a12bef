// sliceStream: the bytes of a range [start, end) whatever the chunking, and a source that
// stops once the range is out (or its reader is gone) and fails the output.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { describe, it } from 'vitest';
import { sliceStream } from '../../base/byte-range.js';

const BYTES = Buffer.from(Array.from({ length: 100 }, (_, i) => i));

function chunked(sizes: number[], bytes = BYTES): Readable {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    parts.push(bytes.subarray(at, at + n));
    at += n;
  }
  return Readable.from(parts, { objectMode: false });
}

async function read(s: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('sliceStream', () => {
  for (const sizes of [[1], [7], [3, 50, 1], [100]]) {
    it(`slices the same bytes in chunks of ${sizes.join(',')}`, async () => {
      for (const [start, end] of [
        [0, 100],
        [0, 1],
        [10, 11],
        [6, 58],
        [99, 100],
        [42, undefined],
        [0, 500],
        [5, 5],
      ] as [number, number | undefined][]) {
        const want = BYTES.subarray(start, end);
        assert.ok((await read(sliceStream(chunked(sizes), start, end))).equals(want), `[${start}, ${end}]`);
      }
    });
  }

  it('stops the source once past the end', async () => {
    let produced = 0;
    const source = new Readable({
      read() {
        produced++;
        this.push(Buffer.alloc(10, produced));
      },
    });
    assert.equal((await read(sliceStream(source, 5, 25))).length, 20);
    assert.ok(source.destroyed);
    assert.ok(produced < 10, `produced ${produced} chunks`);
  });

  it("fails with the source's error", async () => {
    const source = new Readable({ read() {} });
    const out = sliceStream(source, 0);
    source.push(Buffer.from('ab'));
    setImmediate(() => source.destroy(new Error('the worker died')));
    await assert.rejects(read(out), /the worker died/);
  });

  it('stops the source when its reader goes away', async () => {
    const source = new Readable({ read() {} });
    const out = sliceStream(source, 3);
    out.destroy();
    await once(out, 'close');
    assert.ok(source.destroyed);
  });
});
