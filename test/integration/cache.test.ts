// The layer cache only ever costs time: damaged, forged or missing entries and
// blobs, and concurrent builds sharing one cache, still give the golden digest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { canonicalJson } from '../../base/canonical.js';
import { lastLine, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = readGolden().cases['golden#default']!.manifest!;

let work: string;
beforeAll(() => {
  work = tempDir('strata-cache-');
});
afterAll(() => removeDir(work));

let n = 0;
async function build(cacheDir: string, extra: string[] = []): Promise<{ digest: string; stderr: string }> {
  const r = await runStrata(['build', './examples/golden#default', '-o', `oci:${join(work, `out-${++n}`)}`, ...extra], {
    env: nixEnv({ ...process.env, STRATA_CACHE_DIR: cacheDir }),
  });
  assert.equal(r.code, 0, r.stderr);
  return { digest: lastLine(r.stdout), stderr: r.stderr };
}

const entries = (cache: string) => readdirSync(join(cache, 'entries')).map((e) => join(cache, 'entries', e));
const blobs = (cache: string) => readdirSync(join(cache, 'blobs', 'sha256')).map((b) => join(cache, 'blobs', 'sha256', b));

/** Changes every entry's layer and recomputes its checksum, as a deliberate forger would. */
function forgeEntries(cache: string, change: (layer: Record<string, unknown>) => void): void {
  for (const path of entries(cache)) {
    const e = JSON.parse(readFileSync(path, 'utf8')) as { key: string; layer: Record<string, unknown>; check: string };
    change(e.layer);
    e.check = `sha256:${createHash('sha256')
      .update(canonicalJson({ key: e.key, layer: e.layer }))
      .digest('hex')}`;
    writeFileSync(path, JSON.stringify(e));
  }
}

describe('layer cache', () => {
  test('a cold build fills it: one entry and one blob per layer', async () => {
    const cache = join(work, 'fill');
    assert.equal((await build(cache)).digest, GOLDEN);
    assert.equal(entries(cache).length, 4);
    assert.equal(blobs(cache).length, 4);
    const e = JSON.parse(readFileSync(entries(cache)[0]!, 'utf8')) as { key: string; layer: { digest: string } };
    assert.match(e.key, /^sha256:[0-9a-f]{64}$/);
    assert.ok(blobs(cache).some((b) => b.endsWith(e.layer.digest.slice(7))));
  });

  test('damaged blobs are detected by their digest and the layers made again', async () => {
    const cache = join(work, 'damaged-blobs');
    await build(cache);
    for (const b of blobs(cache)) {
      const bytes = readFileSync(b);
      bytes[bytes.length >> 1]! ^= 0xff;
      writeFileSync(b, bytes);
    }
    assert.equal((await build(cache)).digest, GOLDEN);
    assert.equal((await build(cache)).digest, GOLDEN, 'and the cache is whole again');
  });

  test('damaged entries are dropped', async () => {
    const cache = join(work, 'damaged-entries');
    await build(cache);
    const [first, second, third] = entries(cache);
    writeFileSync(first!, '{ not json');
    writeFileSync(second!, '');
    const e = JSON.parse(readFileSync(third!, 'utf8')) as { layer: { size: number } };
    e.layer.size += 1; // no longer matches the entry's checksum
    writeFileSync(third!, JSON.stringify(e));
    assert.equal((await build(cache)).digest, GOLDEN);
  });

  test('a forged entry (valid checksum, wrong digest) costs a rebuild and a warning, not a wrong image', async () => {
    const cache = join(work, 'forged');
    await build(cache);
    forgeEntries(cache, (layer) => (layer.digest = `sha256:${'0'.repeat(64)}`));
    const r = await build(cache);
    assert.equal(r.digest, GOLDEN);
    assert.match(r.stderr, /warning: layer sha256:[0-9a-f]{64} was sha256:0{64} \(diffID sha256:[0-9a-f]{64}\) in the cache/);
  });

  test('a forged diffID (valid checksum, right blob digest) is caught by unpacking the reused blob', async () => {
    const cache = join(work, 'forged-diffid');
    await build(cache);
    forgeEntries(cache, (layer) => (layer.diffID = `sha256:${'1'.repeat(64)}`));
    const r = await build(cache);
    assert.equal(r.digest, GOLDEN);
    assert.match(r.stderr, /warning: layer sha256:[0-9a-f]{64} was sha256:[0-9a-f]{64} \(diffID sha256:1{64}\) in the cache/);
    assert.equal((await build(cache)).digest, GOLDEN, 'and the entries are right again');
  });

  test('concurrent builds sharing one cache all give the golden digest', async () => {
    const cache = join(work, 'shared');
    const results = await Promise.all([0, 1, 2, 3].map(() => build(cache)));
    for (const r of results) assert.equal(r.digest, GOLDEN);
    assert.equal(entries(cache).length, 4);
  });

  test('an unwritable cache is no cache, not an error; --no-cache writes nothing', async () => {
    assert.equal((await build('/proc/strata-no-cache-here')).digest, GOLDEN);
    const cache = join(work, 'unused');
    assert.equal((await build(cache, ['--no-cache'])).digest, GOLDEN);
    assert.throws(() => readdirSync(cache));
  });
});
