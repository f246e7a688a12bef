// The pieces of the registry client that need no registry: retry timing,
// upload ranges, reading an oci-archive in place, and the worker byte stream.
import assert from 'node:assert/strict';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { describe, test } from 'vitest';
import tar from 'tar-stream';
import { indexTar } from '../../image/source.js';
import { parseRangeEnd } from '../../registry/blobs.js';
import { backoffDelay, isRetryableError, parseRetryAfter, DEFAULT_RETRY } from '../../registry/retry.js';
import { portReadable, portWritable } from '../../layers/port-stream.js';
import { tempDir, removeDir } from '../helpers/strata.js';

describe('retry timing', () => {
  test('Retry-After in seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('garbage'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
  test('backoff doubles within its cap, with jitter, and Retry-After wins but is capped', () => {
    const p = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    for (let attempt = 1; attempt <= 6; attempt++) {
      const cap = Math.min(1000, 100 * 2 ** (attempt - 1));
      assert.equal(
        backoffDelay(p, attempt, undefined, () => 0),
        cap / 2,
      );
      assert.equal(
        backoffDelay(p, attempt, undefined, () => 1),
        cap,
      );
    }
    assert.equal(backoffDelay(p, 1, 700), 700);
    assert.equal(backoffDelay(p, 1, 60_000), 1000);
    assert.ok(DEFAULT_RETRY.attempts >= 3);
  });
  test('dropped connections are retried, wherever the code sits in the cause chain; other errors are not', () => {
    assert.ok(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
    assert.ok(isRetryableError(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'UND_ERR_SOCKET' }) })));
    assert.ok(!isRetryableError(Object.assign(new Error('x'), { code: 'ENOTFOUND' })));
    assert.ok(!isRetryableError(new Error('plain')));
  });
});

test('upload ranges as registries write them', () => {
  assert.equal(parseRangeEnd('0-1023'), 1024);
  assert.equal(parseRangeEnd('bytes=0-9'), 10);
  assert.equal(parseRangeEnd('0-0'), 0, "distribution's empty upload");
  assert.equal(parseRangeEnd(undefined), undefined);
  assert.equal(parseRangeEnd('5-9'), undefined);
});

test('indexTar finds members by name, long (pax) names included, reading only headers', async () => {
  const dir = tempDir();
  const file = join(dir, 'a.tar');
  const pack = tar.pack();
  const long = `blobs/sha256/${'d'.repeat(150)}`;
  pack.entry({ name: 'index.json' }, '{"x":1}');
  pack.entry({ name: 'blobs', type: 'directory' });
  pack.entry({ name: long }, Buffer.alloc(1500, 7));
  pack.entry({ name: 'oci-layout' }, 'layout');
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c as Buffer);
  writeFileSync(file, Buffer.concat(parts));
  const m = await indexTar(file);
  assert.deepEqual([...m.keys()].sort(), ['index.json', long, 'oci-layout'].sort());
  const read = async (name: string) => {
    const e = m.get(name)!;
    const out: Buffer[] = [];
    for await (const c of createReadStream(file, { start: e.offset, end: e.offset + e.size - 1 })) out.push(c as Buffer);
    return Buffer.concat(out);
  };
  assert.equal((await read('index.json')).toString(), '{"x":1}');
  assert.deepEqual(await read(long), Buffer.alloc(1500, 7));
  assert.equal((await read('oci-layout')).toString(), 'layout');
  removeDir(dir);
});

describe('worker byte stream', () => {
  const payload = Buffer.from(Array.from({ length: 3 * 2 ** 20 }, (_, i) => (i * 7) % 251));

  async function roundTrip(skip: number, slowReader: boolean): Promise<Buffer> {
    const { port1, port2 } = new MessageChannel();
    const readable = portReadable(port1, skip);
    const writable = portWritable(port2);
    const writing = (async () => {
      for (let i = 0; i < payload.length; i += 64 * 1024) {
        if (!writable.write(payload.subarray(i, i + 64 * 1024))) await new Promise((r) => writable.once('drain', r));
      }
      writable.end();
    })();
    const out: Buffer[] = [];
    for await (const c of readable) {
      out.push(c as Buffer);
      if (slowReader) await new Promise((r) => setTimeout(r, 1));
    }
    await writing;
    return Buffer.concat(out);
  }

  test('every byte arrives in order, with a slow reader too', async () => {
    assert.deepEqual(await roundTrip(0, false), payload);
    assert.deepEqual(await roundTrip(0, true), payload);
  });
  test('skip drops exactly the first bytes (a resumed upload)', async () => {
    assert.deepEqual(await roundTrip(1_000_003, false), payload.subarray(1_000_003));
    assert.equal((await roundTrip(payload.length, false)).length, 0);
  });
  test('a writer never gets more than the window ahead of the reader', async () => {
    const { port1, port2 } = new MessageChannel();
    const readable = portReadable(port1);
    const writable = portWritable(port2);
    let accepted = 0;
    // Nobody reads: the writer must stop accepting after about the window (4 MiB).
    for (let i = 0; i < 64; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 50);
        writable.write(Buffer.alloc(256 * 1024), () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      if (!ok) break;
      accepted += 256 * 1024;
    }
    assert.ok(accepted <= 4 * 2 ** 20 + readable.readableHighWaterMark + 256 * 1024, `accepted ${accepted} bytes with no reader`);
    assert.ok(accepted >= 4 * 2 ** 20 - 256 * 1024, `only ${accepted} bytes went before the reader's demand stopped it`);
    readable.destroy();
    writable.destroy();
  });
});
