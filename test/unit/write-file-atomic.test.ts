// writeFileAtomic replaces a regular file by rename, but writes into a device
// or a pipe: `--digest-file /dev/stdout` must print, and `/dev/null` must stay
// a device (renaming over it breaks every program on the machine).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'vitest';
import { writeFileAtomic } from '../../base/fs.js';

test('a named pipe is written to and stays a pipe', { timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-fifo-'));
  try {
    const fifo = join(dir, 'digest');
    execFileSync('mkfifo', [fifo]);
    const read = new Promise<string>((resolve, reject) => {
      let got = '';
      createReadStream(fifo, 'utf8')
        .on('data', (c) => (got += c))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    await writeFileAtomic(fifo, 'sha256:abc');
    assert.equal(await read, 'sha256:abc');
    assert.ok(lstatSync(fifo).isFIFO(), 'the pipe was replaced by a file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a regular file is replaced whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-atomic-'));
  try {
    const file = join(dir, 'digest');
    await writeFileAtomic(file, 'first, longer');
    await writeFileAtomic(file, 'second');
    assert.equal(readFileSync(file, 'utf8'), 'second');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
