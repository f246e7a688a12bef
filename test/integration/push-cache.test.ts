// One layer-cache policy for every destination (NixImage owns it): a push adds
// the blobs it makes to the cache, as a build does, and a cached blob is
// checked before its bytes are uploaded, so a damaged cache costs a rebuild,
// never a failed push.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { lastLine, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN_DIGEST = readGolden().cases['golden#default']!.manifest!;
const blobs = (cache: string) =>
  readdirSync(join(cache, 'blobs', 'sha256'))
    .filter((n) => !n.includes('.tmp-'))
    .map((b) => join(cache, 'blobs', 'sha256', b));
const entries = (cache: string) => readdirSync(join(cache, 'entries'));

describe('the layer cache on push', () => {
  let a: Registry;
  let b: Registry;
  let work: string;
  beforeAll(async () => {
    [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    work = tempDir('strata-push-cache-');
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    removeDir(work);
  });

  const push = (cache: string, dest: string, extra: string[] = []) =>
    runStrata(['push', './examples/golden#default', `${dest}`, '--insecure', ...extra], { env: { ...nixEnv(), STRATA_CACHE_DIR: cache, HOME: work } });

  test('a cold push fills the cache with entries and blobs; a push to another registry then makes no layer', async () => {
    const cache = join(work, 'cold');
    const first = await push(cache, `${a.host}/app/one:v1`);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(lastLine(first.stdout), GOLDEN_DIGEST);
    assert.equal(entries(cache).length, 4);
    assert.equal(blobs(cache).length, 4, 'every layer made for the push is kept in the cache');
    // Served from the cache: the layers' bytes are the cached files'.
    const second = await push(cache, `${b.host}/app/two:v1`, ['--json']);
    assert.equal(second.code, 0, second.stderr);
    const summary = JSON.parse(second.stdout) as { digest: string; pushed: { blobs: { action: string }[] } };
    assert.equal(summary.digest, GOLDEN_DIGEST);
    assert.equal(summary.pushed.blobs.filter((x) => x.action === 'uploaded').length, 5);
  });

  test('a damaged cached blob is found before upload and the layer made again: the push still lands the golden digest', async () => {
    const cache = join(work, 'damaged');
    const built = await runStrata(['build', './examples/golden#default', '-o', `oci:${join(work, 'layout')}`], {
      env: { ...nixEnv(), STRATA_CACHE_DIR: cache },
    });
    assert.equal(built.code, 0, built.stderr);
    for (const f of blobs(cache)) {
      const bytes = readFileSync(f);
      bytes[bytes.length >> 1]! ^= 0xff; // same size, other bytes
      writeFileSync(f, bytes);
    }
    const r = await push(cache, `${b.host}/app/damaged:v1`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastLine(r.stdout), GOLDEN_DIGEST);
    const again = await push(cache, `${a.host}/app/damaged:v1`);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(lastLine(again.stdout), GOLDEN_DIGEST);
  });
});
