// Small things a newcomer's trial ran into: every reference is checked before
// any work (a bad --tag used to surface as a 404 after the uploads), an output
// path with no transport says so, each command's help lists only what it does,
// and a local copy is not called a download.
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { join } from 'node:path';
import { expectFailure, expectOk, removeDir, runStrata, tempDir } from '../helpers/strata.js';

describe('what a newcomer meets first', () => {
  test('a bad --tag is refused before any registry is asked (exit 2, not 7 after uploading)', async () => {
    // 127.0.0.1:1 refuses connections: reaching it would be exit 7.
    expectFailure(
      await runStrata(['push', './examples/golden#default', '127.0.0.1:1/app:v1', '--tag', 'not a tag', '-q']),
      2,
      /^strata: --tag 'not a tag' is not a valid tag/,
    );
    expectFailure(await runStrata(['copy', 'oci:/nonexistent:1', '127.0.0.1:1/app:v1', '--tag', '-bad', '-q']), 2, /--tag '-bad' is not a valid tag/);
  });

  test('-o with a path and no transport names the transports', async () => {
    expectFailure(
      await runStrata(['build', './examples/golden#default', '-o', '/tmp/strata-out']),
      2,
      /'\/tmp\/strata-out' is a path with no transport: write oci:\/tmp\/strata-out, oci-archive:/,
    );
    expectFailure(await runStrata(['build', './examples/golden#default', '-o', './out']), 2, /is a path with no transport/);
  });

  test("diff's --json is described as diff's, and pull lists no upload option", async () => {
    const diff = (await runStrata(['diff', '--help'])).stdout;
    assert.match(diff, /--json\s+print the comparison as JSON/);
    assert.doesNotMatch(diff, /instead of the digest/);
    const pull = (await runStrata(['pull', '--help'])).stdout;
    assert.doesNotMatch(pull, /--chunk-size|upload/);
    assert.match((await runStrata(['push', '--help'])).stdout, /--chunk-size/);
  });
});

test('copying an OCI layout says its blobs were copied, not downloaded', async () => {
  const dir = tempDir('strata-copied-');
  try {
    expectOk(await runStrata(['build', './examples/golden#default', '-o', `oci:${join(dir, 'a')}:1.0`]));
    const r = await runStrata(['copy', `oci:${join(dir, 'a')}:1.0`, `oci:${join(dir, 'b')}:1.0`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const actions = (JSON.parse(r.stdout) as { blobs: { action: string }[] }).blobs.map((b) => b.action);
    assert.deepEqual([...new Set(actions)], ['copied']);
  } finally {
    removeDir(dir);
  }
});
