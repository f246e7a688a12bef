// Warnings from library code reach the user as progress events: the same
// `strata: warning: …` line library code once wrote to stderr itself, in every
// mode that prints lines, quiet included; an NDJSON object in json mode.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'vitest';
import { createProgress, type ProgressMode, type ProgressStream } from '../../src/progress.js';

function capture(extra: { isTTY?: boolean; columns?: number; rows?: number } = {}) {
  const stream = Object.assign(new PassThrough(), extra) as PassThrough & ProgressStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

const TEXT = 'layer sha256:aa was sha256:00 (diffID sha256:bb) in the cache and is sha256:cc (diffID sha256:bb) now; the cache entry is replaced';

describe('warning events', () => {
  for (const mode of ['plain', 'quiet'] as ProgressMode[]) {
    it(`${mode}: one 'strata: warning:' line, and nothing else`, () => {
      const { stream, text } = capture();
      const p = createProgress(mode, { stream });
      p.emit({ type: 'warning', text: TEXT });
      p.emit({ type: 'message', text: 'pushed 0 blobs' });
      p.close();
      const want = [`strata: warning: ${TEXT}`, ...(mode === 'plain' ? ['pushed 0 blobs'] : [])];
      assert.deepEqual(text().split('\n').filter(Boolean), want);
    });
  }

  it('tty: the line is written (above any bars)', () => {
    const { stream, text } = capture({ isTTY: true, columns: 100, rows: 20 });
    const p = createProgress('tty', { stream });
    p.emit({ type: 'warning', text: TEXT });
    p.close();
    assert.ok(text().includes(`strata: warning: ${TEXT}\n`), text());
  });

  it('json: an object like every other event', () => {
    const { stream, text } = capture();
    const p = createProgress('json', { stream });
    p.emit({ type: 'warning', text: TEXT });
    p.close();
    assert.deepEqual(JSON.parse(text()), { type: 'warning', text: TEXT });
  });

  it('quiet: no other event is printed', () => {
    const { stream, text } = capture();
    const p = createProgress('quiet', { stream });
    p.emit({ type: 'manifest', ref: 'r', digest: 'sha256:00' });
    p.emit({ type: 'retry', step: 's', attempt: 2, reason: 'HTTP 503', delayMs: 100 });
    p.close();
    assert.equal(text(), '');
  });
});
