// MadeLayers with layers made by a counting fake: one making however many
// read, kept within the size bound (least recently used dropped), a making
// stopped when its last reader leaves, and at most `jobs` makings per image.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'vitest';
import { MadeLayers, type LayerToMake } from '../../src/made-layers.js';
import type { LogEvent } from '../../registry/server/log.js';

interface Fake extends LayerToMake {
  makings: number;
  destroyed: number;
}

/** A layer of `size` bytes made in 1 KiB chunks, `delayMs` apart. */
function fake(name: string, size: number, image = 'img', delayMs = 0): Fake {
  const bytes = Buffer.alloc(size, name);
  const f: Fake = {
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    size,
    image,
    makings: 0,
    destroyed: 0,
    make(skip) {
      f.makings++;
      let pos = skip;
      const s = new Readable({
        read() {
          setTimeout(() => {
            if (pos >= size) return void this.push(null);
            this.push(bytes.subarray(pos, Math.min(pos + 1024, size)));
            pos += 1024;
          }, delayMs);
        },
      });
      s.on('close', () => pos < size && f.destroyed++);
      return s;
    },
  };
  return f;
}

async function read(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function cache(maxBytes: number, jobs = 2): { made: MadeLayers; events: LogEvent[] } {
  const events: LogEvent[] = [];
  return { made: new MadeLayers({ maxBytes, jobs, log: (e) => events.push(e) }), events };
}

test('concurrent and later range reads of a layer share one making', async () => {
  const { made } = cache(1 << 20);
  const a = fake('a', 10_000);
  const [whole, tail, mid] = await Promise.all([read(made.open(a, 0, 9999)), read(made.open(a, 9999, 9999)), read(made.open(a, 100, 2099))]);
  assert.equal(whole.length, 10_000);
  assert.deepEqual(tail, whole.subarray(9999));
  assert.deepEqual(mid, whole.subarray(100, 2100));
  for (let i = 0; i < 20; i++) assert.equal((await read(made.open(a, 10_000 - 1 - i, 9999))).length, i + 1);
  assert.equal(a.makings, 1);
  made.close();
});

test('kept bytes stay within the bound: the least recently used layer is dropped, one too big is made for its request alone', async () => {
  const { made } = cache(25_000);
  const [a, b, c, big] = [fake('a', 10_000), fake('b', 10_000), fake('c', 10_000), fake('d', 30_000)];
  await read(made.open(a, 0, 9999));
  await read(made.open(b, 0, 9999));
  await read(made.open(a, 0, 0)); // a is now the more recent
  await read(made.open(c, 0, 9999)); // drops b
  await read(made.open(a, 5, 6));
  await read(made.open(b, 5, 6));
  assert.deepEqual([a.makings, b.makings, c.makings], [1, 2, 1]);
  assert.equal((await read(made.open(big, 29_000, 29_999))).length, 1000);
  assert.equal((await read(made.open(big, 29_999, 29_999))).length, 1);
  assert.equal(big.makings, 2);
  made.close();
});

test('a making whose every reader left is stopped and forgotten', async () => {
  const { made, events } = cache(1 << 20);
  const a = fake('a', 200_000, 'img', 2);
  const r1 = made.open(a, 0, 199_999);
  const r2 = made.open(a, 0, 199_999);
  await new Promise((r) => r1.once('data', r));
  r1.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(a.destroyed, 0, 'another reader still reads it');
  r2.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(a.destroyed, 1);
  assert.equal(events.filter((e) => e.outcome === 'aborted').length, 1);
  // Asked again, it is made again, whole.
  assert.equal((await read(made.open(a, 0, 199_999))).length, 200_000);
  assert.equal(a.makings, 2);
  made.close();
});

test('an image makes at most `jobs` layers at once; another image is not held up', async () => {
  const { made, events } = cache(1 << 20, 1);
  const [a, b, c] = [fake('a', 20_000, 'one', 1), fake('b', 20_000, 'one', 1), fake('c', 20_000, 'two', 1)];
  await Promise.all([a, b, c].map((l) => read(made.open(l, 0, l.size - 1))));
  const span = (l: Fake) => {
    const e = events.find((x) => x.digest === l.digest && x.outcome === 'made')!;
    return { start: Date.parse(String(e.start)), end: Date.parse(String(e.end)) };
  };
  const [sa, sb, sc] = [span(a), span(b), span(c)];
  assert.ok(sb.start >= sa.end || sa.start >= sb.end, 'one at a time for image one');
  assert.ok(sc.start < Math.max(sa.end, sb.end) - 1 && sc.start <= Math.min(sa.end, sb.end), 'image two did not wait for image one');
  made.close();
});

test('a made layer that is not the digest it was asked as fails its readers and is not kept', async () => {
  const { made, events } = cache(1 << 20);
  const a = { ...fake('a', 5000), digest: `sha256:${'0'.repeat(64)}` };
  await assert.rejects(read(made.open(a, 0, 4999)), /not the one the manifest names/);
  assert.equal(events.at(-1)!.outcome, 'failed');
  made.close();
});
