// Progress rendering: exact plain and NDJSON lines, JSON throttling, mode choice, bars on a fake terminal.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it, vi } from 'vitest';
import type { ProgressEvent } from '../../base/events.js';
import { createProgress, humanBytes, resolveMode, type ProgressStream } from '../../src/progress.js';

const D1 = `sha256:${'3f2a9c1b4d5e'}${'0'.repeat(52)}`;
const D2 = `sha256:${'abcdef012345'}${'1'.repeat(52)}`;
const MiB = 1024 * 1024;

function capture(extra: { isTTY?: boolean; columns?: number; rows?: number } = {}) {
  const stream = Object.assign(new PassThrough(), extra) as PassThrough & ProgressStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}
const lines = (s: string) => s.split('\n').filter((l) => l !== '');

const session: ProgressEvent[] = [
  { type: 'blob-start', id: 'layer-1', label: 'layer 1/2: glibc', size: 40 * MiB },
  { type: 'blob-progress', id: 'layer-1', bytes: 12 * MiB },
  { type: 'retry', id: 'layer-1', step: 'upload layer 1/2', attempt: 2, reason: 'HTTP 503', delayMs: 1500 },
  { type: 'blob-done', id: 'layer-1', digest: D1, size: 40 * MiB, action: 'uploaded' },
  { type: 'blob-done', id: D2, digest: D2, size: 512, action: 'exists' },
  { type: 'manifest', ref: 'ghcr.io/acme/app:1.0', digest: D1 },
  { type: 'message', text: 'pushed 2 blobs' },
];

describe('humanBytes', () => {
  it('uses binary units with one decimal', () => {
    assert.equal(humanBytes(0), '0 B');
    assert.equal(humanBytes(1023), '1023 B');
    assert.equal(humanBytes(1536), '1.5 KiB');
    assert.equal(humanBytes(12.3 * MiB), '12.3 MiB');
    assert.equal(humanBytes(3 * 1024 * MiB), '3.0 GiB');
  });
});

describe('plain mode', () => {
  it('writes one line per finished blob, retry and manifest, none for progress', () => {
    const { stream, text } = capture();
    const p = createProgress('plain', { stream });
    for (const e of session) p.emit(e);
    p.close();
    assert.deepEqual(lines(text()), [
      'retry upload layer 1/2 in 1.5s (attempt 2): HTTP 503',
      'uploaded 3f2a9c1b4d5e layer 1/2: glibc (40.0 MiB)',
      `exists abcdef012345 ${D2} (512 B)`,
      `manifest ghcr.io/acme/app:1.0 ${D1}`,
      'pushed 2 blobs',
    ]);
  });

  it('ignores events after close, and unknown ids do not throw', () => {
    const { stream, text } = capture();
    const p = createProgress('plain', { stream });
    p.emit({ type: 'blob-progress', id: 'never-started', bytes: 5 });
    p.close();
    p.close();
    p.emit({ type: 'message', text: 'late' });
    assert.equal(text(), '');
  });
});

describe('json mode', () => {
  afterEach(() => vi.useRealTimers());

  it('writes every event as given, one object per line, no time field', () => {
    const { stream, text } = capture();
    const p = createProgress('json', { stream });
    for (const e of session) p.emit(e);
    p.close();
    assert.deepEqual(
      lines(text()).map((l) => JSON.parse(l)),
      session,
    );
  });

  it('throttles progress to one per blob per 250 ms, always keeping the last', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 0 });
    const { stream, text } = capture();
    const p = createProgress('json', { stream });
    const progress = (id: string, bytes: number) => p.emit({ type: 'blob-progress', id, bytes });
    progress('a', 1); // written: first for a
    progress('a', 2); // held
    progress('b', 1); // written: blobs are throttled separately
    vi.advanceTimersByTime(100);
    progress('a', 3); // held, replaces 2
    vi.advanceTimersByTime(150);
    progress('a', 4); // 250 ms since the last written: written
    progress('a', 5); // held
    progress('a', 6); // held, replaces 5; written before done
    p.emit({ type: 'blob-done', id: 'a', digest: D1, size: 6, action: 'uploaded' });
    progress('b', 2); // held; written at close
    p.close();
    assert.deepEqual(lines(text()), [
      '{"type":"blob-progress","id":"a","bytes":1}',
      '{"type":"blob-progress","id":"b","bytes":1}',
      '{"type":"blob-progress","id":"a","bytes":4}',
      '{"type":"blob-progress","id":"a","bytes":6}',
      `{"type":"blob-done","id":"a","digest":"${D1}","size":6,"action":"uploaded"}`,
      '{"type":"blob-progress","id":"b","bytes":2}',
    ]);
  });
});

describe('quiet mode', () => {
  it('writes nothing', () => {
    const { stream, text } = capture({ isTTY: true, columns: 80 });
    const p = createProgress('quiet', { stream });
    for (const e of session) p.emit(e);
    p.close();
    assert.equal(text(), '');
  });
});

describe('auto mode', () => {
  const tty = { isTTY: true } as ProgressStream;
  it('is plain off a terminal, in CI and on a dumb terminal; tty otherwise', () => {
    assert.equal(resolveMode('auto', { isTTY: false } as ProgressStream, {}), 'plain');
    assert.equal(resolveMode('auto', {} as ProgressStream, {}), 'plain');
    assert.equal(resolveMode('auto', tty, { CI: 'true' }), 'plain');
    assert.equal(resolveMode('auto', tty, { CI: '1' }), 'plain');
    assert.equal(resolveMode('auto', tty, { TERM: 'dumb' }), 'plain');
    assert.equal(resolveMode('auto', tty, { CI: 'false', TERM: 'xterm-256color' }), 'tty');
    assert.equal(resolveMode('auto', tty, {}), 'tty');
    assert.equal(resolveMode('json', { isTTY: false } as ProgressStream, {}), 'json');
  });

  it('writes plain lines through createProgress when the stream is no terminal', () => {
    const { stream, text } = capture({ isTTY: false });
    const p = createProgress('auto', { stream, env: {} });
    p.emit({ type: 'blob-progress', id: 'x', bytes: 1 });
    p.emit({ type: 'message', text: 'hello' });
    p.close();
    assert.equal(text(), 'hello\n');
  });
});

// Each piece is one write between cursor movements: a bar, or a line logged above the bars.
const visible = (s: string) => s.split(/\x1B\[[0-9;?]*[A-Za-z]|\x1B[78]|\n/).filter((l) => l !== '');

describe('tty mode', () => {
  it('draws bars with sizes and final states, logs above them, and restores the cursor', () => {
    const { stream, text } = capture({ isTTY: true, columns: 80 });
    const p = createProgress('auto', { stream, env: {} });
    const long = `layer 2/3: /nix/store/${'x'.repeat(32)}-${'very-long-name-'.repeat(8)}1.0`;
    p.emit({ type: 'message', text: 'pushing to ghcr.io/acme/app' }); // before any bar: written straight away
    for (const e of session) p.emit(e);
    p.emit({ type: 'blob-start', id: 'layer-2', label: long, size: 100 * MiB });
    p.emit({ type: 'blob-progress', id: 'layer-2', bytes: 12.3 * MiB });
    p.emit({ type: 'blob-progress', id: 'layer-3', bytes: 5 * MiB }); // never started: a bar with no total
    p.close();
    p.close();
    p.emit({ type: 'message', text: 'after close' });
    const out = text();
    assert.ok(out.includes('\x1B[?25l') && out.endsWith('\n'), 'cursor hidden while drawing');
    assert.ok(out.includes('\x1B[?25h'), 'cursor shown again');
    const shown = visible(out);
    const barLines = shown.filter((l) => / (B|KiB|MiB)( |$)/.test(l));
    assert.ok(barLines.length >= 4);
    for (const l of barLines) assert.ok(l.length < 80, `bar fits the terminal: ${JSON.stringify(l)}`);
    const find = (needle: string) => shown.filter((l) => l.includes(needle)).at(-1) ?? '';
    assert.equal(shown[0], 'pushing to ghcr.io/acme/app');
    assert.ok(shown.includes('retry upload layer 1/2 in 1.5s (attempt 2): HTTP 503'));
    assert.ok(shown.includes('pushed 2 blobs'));
    assert.match(find('layer 1/2: glibc'), /\[=+\]\s+40\.0 MiB \/ 40\.0 MiB uploaded$/);
    assert.match(find(D2.slice(0, 12)), /512 B \/ 512 B exists$/);
    const l2 = find('layer 2/3');
    assert.match(l2, /…/, 'long label truncated');
    assert.match(l2, /1\.0 +\[=+-+\] +12\.3 MiB \/ 100\.0 MiB$/);
    assert.match(find('layer-3'), /^layer-3 +5\.0 MiB$/);
    assert.ok(!out.includes('after close'));
  });

  it('never writes for an empty session, and close is idempotent', () => {
    const { stream, text } = capture({ isTTY: true, columns: 80 });
    const p = createProgress('tty', { stream });
    p.close();
    p.close();
    assert.equal(text(), '');
  });

  it('retires finished bars into the log when bars outgrow the terminal', () => {
    const { stream, text } = capture({ isTTY: true, columns: 100, rows: 5 });
    const p = createProgress('tty', { stream });
    for (let i = 0; i < 6; i++) {
      const digest = `sha256:${String(i).repeat(64)}`;
      p.emit({ type: 'blob-start', id: `l${i}`, label: `layer ${i}`, size: 10 });
      p.emit({ type: 'blob-done', id: `l${i}`, digest, size: 10, action: 'uploaded' });
    }
    p.close();
    const shown = visible(text());
    for (let i = 0; i < 3; i++) assert.ok(shown.includes(`uploaded ${String(i).repeat(12)} layer ${i} (10 B)`), `layer ${i} retired`);
    assert.ok(!shown.some((l) => l.startsWith('uploaded 555555555555')), 'newest bars stay bars');
  });
});
