// The registry server's storage (registry/server/): names that never reach the
// filesystem unchecked, blobs that appear whole and only when their digest is
// right, upload sessions that survive a restart, tags written atomically, and
// gc marking and sweeping by its definition.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RegistryError } from '../../registry/server/errors.js';
import { gc } from '../../registry/server/gc.js';
import { parseManifest } from '../../registry/server/manifest.js';
import { isRepoName, isTag, parseRoute, type BlobDigest, type RepoName, type Tag } from '../../registry/server/names.js';
import { Store } from '../../registry/server/store.js';

const sha = (b: Buffer | string): BlobDigest => `sha256:${createHash('sha256').update(b).digest('hex')}` as BlobDigest;
const name = (s: string) => s as RepoName;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let base: string;
let n = 0;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'strata-server-store-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

function fresh(): Store {
  return new Store(join(base, `s${n++}`));
}

async function* chunks(...parts: (Buffer | Error)[]): AsyncIterable<Uint8Array> {
  for (const p of parts) {
    if (p instanceof Error) throw p;
    yield p;
  }
}

async function putBlob(store: Store, repo: string, bytes: Buffer): Promise<BlobDigest> {
  const id = await store.uploads.start(name(repo));
  return store.uploads.complete(name(repo), id, [sha(bytes)], chunks(bytes));
}

async function rejectsWith(p: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof RegistryError && e.status === status && e.code === code);
}

function manifestBytes(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  const d = (mediaType: string, b: Buffer) => ({ mediaType, digest: sha(b), size: b.length });
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: d('application/vnd.oci.image.config.v1+json', config),
      layers: layers.map((l) => d('application/vnd.oci.image.layer.v1.tar', l)),
      ...extra,
    }),
  );
}

/** A blob, config and manifest pushed to `repo` under `tag`. */
async function pushImage(
  store: Store,
  repo: string,
  tag: string,
  layer = randomBytes(100),
): Promise<{ manifest: BlobDigest; config: BlobDigest; layer: BlobDigest }> {
  const config = Buffer.from(`{"os":"linux","id":"${randomBytes(8).toString('hex')}"}`);
  await putBlob(store, repo, config);
  await putBlob(store, repo, layer);
  const m = parseManifest(manifestBytes(config, [layer]), OCI_MANIFEST);
  assert.deepEqual(await store.missingReferences(name(repo), m), []);
  await store.putManifest(name(repo), m, tag as Tag);
  return { manifest: m.digest, config: sha(config), layer: sha(layer) };
}

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);
function age(path: string, hours = 2): void {
  utimesSync(path, hoursAgo(hours), hoursAgo(hours));
}

describe('names', () => {
  it('takes the spec grammar and nothing that could leave the root', () => {
    for (const ok of ['a', 'org/team/app', 'a.b_c__d--e/f0']) assert.ok(isRepoName(ok), ok);
    for (const bad of ['', '..', 'a/..', '../a', '/a', 'a/', 'a//b', '_blobs', 'a/_tags', 'A', 'a/%2e%2e', 'a\\b', '.', 'a/.', 'x'.repeat(256)])
      assert.ok(!isRepoName(bad), bad);
    for (const bad of ['..', '.hidden', '-x', 'a/b', 'x'.repeat(129), '']) assert.ok(!isTag(bad), bad);
  });

  it('routes by the last endpoint segment, so names may contain "blobs" or "manifests"', () => {
    assert.deepEqual(parseRoute('a/blobs/b/manifests/v1'), { endpoint: 'manifest', name: 'a/blobs/b', reference: 'v1' });
    assert.deepEqual(parseRoute('a/b/blobs/uploads/'), { endpoint: 'upload-start', name: 'a/b' });
    assert.deepEqual(parseRoute('a/blobs/uploads/x'), { endpoint: 'upload', name: 'a', id: 'x' });
    assert.throws(
      () => parseRoute('../x/tags/list'),
      (e: unknown) => e instanceof RegistryError && e.status === 400 && e.code === 'NAME_INVALID',
    );
    assert.throws(
      () => parseRoute('a/whatever'),
      (e: unknown) => e instanceof RegistryError && e.status === 404,
    );
  });
});

describe('blobs and uploads', () => {
  it('a digest mismatch stores nothing and ends the session', async () => {
    const store = fresh();
    const id = await store.uploads.start(name('a'));
    await rejectsWith(store.uploads.complete(name('a'), id, [sha('something else')], chunks(Buffer.from('content'))), 400, 'DIGEST_INVALID');
    assert.equal(existsSync(store.layout.blob(sha('content'))), false);
    assert.equal(existsSync(store.layout.blob(sha('something else'))), false);
    assert.deepEqual(readdirSync(store.layout.uploadsDir), []);
    assert.equal(await store.blobSize(name('a'), sha('content')), undefined);
  });

  it('a repository sees only the blobs it links; a mount links one from another', async () => {
    const store = fresh();
    const d = await putBlob(store, 'a', Buffer.from('shared'));
    assert.equal(await store.blobSize(name('a'), d), 6);
    assert.equal(await store.blobSize(name('b'), d), undefined);
    assert.equal(await store.openBlob(name('b'), d), undefined);
    assert.equal(await store.mount(name('b'), name('c'), d), false);
    assert.equal(await store.mount(name('b'), name('a'), d), true);
    assert.equal(await store.blobSize(name('b'), d), 6);
  });

  it('chunks must come in order (416), and a chunk cut short is rolled back whole', async () => {
    const store = fresh();
    const repo = name('a');
    const id = await store.uploads.start(repo);
    assert.deepEqual(await store.uploads.append(repo, id, chunks(Buffer.from('abc')), { start: 0, end: 2 }), { size: 3, id });
    await rejectsWith(store.uploads.append(repo, id, chunks(Buffer.from('x')), { start: 5, end: 5 }), 416, 'BLOB_UPLOAD_INVALID');
    await assert.rejects(store.uploads.append(repo, id, chunks(Buffer.from('de'), new Error('connection reset')), { start: 3, end: 6 }), /connection reset/);
    assert.equal(await store.uploads.size(repo, id), 3);
    await rejectsWith(store.uploads.append(repo, id, chunks(Buffer.from('de')), { start: 3, end: 6 }), 400, 'SIZE_INVALID');
    assert.equal(await store.uploads.size(repo, id), 3);
    // A streamed body (no range) keeps what arrived before the cut: a valid prefix to resume from.
    await assert.rejects(store.uploads.append(repo, id, chunks(Buffer.from('de'), new Error('cut'))), /cut/);
    assert.equal(await store.uploads.size(repo, id), 5);
    assert.equal(await store.uploads.complete(repo, id, [sha('abcdefg')], chunks(Buffer.from('fg'))), sha('abcdefg'));
    assert.equal(readFileSync(store.layout.blob(sha('abcdefg')), 'utf8'), 'abcdefg');
  });

  it('a session is resumed by a new process (the digest is computed again from the data)', async () => {
    const first = fresh();
    const repo = name('a');
    const id = await first.uploads.start(repo);
    await first.uploads.append(repo, id, chunks(Buffer.from('hello ')));
    const second = new Store(first.root);
    assert.equal(await second.uploads.size(repo, id), 6);
    await rejectsWith(second.uploads.size(name('b'), id), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await second.uploads.complete(repo, id, [sha('hello world')], chunks(Buffer.from('world'))), sha('hello world'));
  });

  it('concurrent uploads of one blob all succeed and leave one whole file', async () => {
    const store = fresh();
    const bytes = randomBytes(3 << 20);
    const half = bytes.length / 2;
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (repo) => {
        const id = await store.uploads.start(name(repo));
        await store.uploads.append(name(repo), id, chunks(bytes.subarray(0, half)), { start: 0, end: half - 1 });
        return store.uploads.complete(name(repo), id, [sha(bytes)], chunks(bytes.subarray(half)));
      }),
    );
    assert.deepEqual(new Set(results), new Set([sha(bytes)]));
    assert.deepEqual(readdirSync(store.layout.blobDir), [sha(bytes).slice(7)]);
    assert.ok((await readFile(store.layout.blob(sha(bytes)))).equals(bytes));
    assert.deepEqual(readdirSync(store.layout.uploadsDir), []);
  });
});

describe('manifests and tags', () => {
  it('a tag is replaced atomically: readers see the old digest or the new, never a part', async () => {
    const store = fresh();
    const one = await pushImage(store, 'a', 'v1');
    const two = await pushImage(store, 'a', 'v2');
    const tagFile = store.layout.tag(name('a'), 'latest' as Tag);
    let reading = true;
    const seen = new Set<string>();
    const reader = (async () => {
      while (reading) {
        const text = await readFile(tagFile, 'utf8').catch(() => 'missing');
        seen.add(text);
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 40; i++) {
      const digest = i % 2 ? one.manifest : two.manifest;
      const m = await store.getManifest(name('a'), { digest });
      await store.putManifest(name('a'), parseManifest(m!.bytes, m!.mediaType), 'latest' as Tag);
    }
    reading = false;
    await reader;
    seen.delete('missing'); // before the first write
    for (const s of seen) assert.ok(s === one.manifest || s === two.manifest, `a reader saw ${JSON.stringify(s)}`);
    assert.deepEqual(await store.tagNames(name('a')), ['latest', 'v1', 'v2']);
    assert.deepEqual(readdirSync(store.layout.tmpDir), []);
  });

  it('a manifest names the blobs the repository lacks', async () => {
    const store = fresh();
    const config = Buffer.from('{}');
    await putBlob(store, 'a', config);
    const layer = Buffer.from('layer');
    await putBlob(store, 'other', layer);
    const m = parseManifest(manifestBytes(config, [layer]), OCI_MANIFEST);
    assert.deepEqual(
      (await store.missingReferences(name('a'), m)).map((d) => d.digest),
      [sha(layer)],
    );
  });

  it('deleting a manifest removes its tags; its referrer entry is no longer listed', async () => {
    const store = fresh();
    const img = await pushImage(store, 'a', 'v1');
    const empty = Buffer.from('{}');
    await putBlob(store, 'a', empty);
    const sig = parseManifest(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/x-sig',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 },
          layers: [],
          subject: { mediaType: OCI_MANIFEST, digest: img.manifest, size: 1 },
          annotations: { a: 'b' },
        }),
      ),
      OCI_MANIFEST,
    );
    await store.putManifest(name('a'), sig);
    assert.deepEqual(await store.referrers(name('a'), img.manifest), [
      { mediaType: OCI_MANIFEST, digest: sig.digest, size: sig.bytes.length, artifactType: 'application/x-sig', annotations: { a: 'b' } },
    ]);
    assert.equal(await store.deleteManifest(name('a'), sig.digest), true);
    assert.deepEqual(await store.referrers(name('a'), img.manifest), []);
    assert.equal(await store.deleteManifest(name('a'), img.manifest), true);
    assert.deepEqual(await store.tagNames(name('a')), []);
    assert.equal(await store.getManifest(name('a'), { tag: 'v1' as Tag }), undefined);
  });
});

describe('gc', () => {
  it('keeps what manifests use, sweeps the rest once older than the grace period', async () => {
    const store = fresh();
    const kept = await pushImage(store, 'app', 'v1');
    // An index in another repository whose child is a manifest of that repository.
    const child = await pushImage(store, 'multi', 'child');
    const indexBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: child.manifest, size: 1 }] }),
    );
    const index = parseManifest(indexBytes, OCI_INDEX);
    await store.putManifest(name('multi'), index, 'latest' as Tag);
    await store.deleteTag(name('multi'), 'child' as Tag);
    // A deleted image: its manifest link is gone, its blobs stay linked.
    const dropped = await pushImage(store, 'app', 'old');
    await store.deleteManifest(name('app'), dropped.manifest);
    const orphanOld = await putBlob(store, 'app', Buffer.from('orphan, old'));
    const orphanYoung = await putBlob(store, 'app', Buffer.from('orphan, young'));
    const staleUpload = await store.uploads.start(name('app'));
    await store.uploads.append(name('app'), staleUpload, chunks(Buffer.from('partial')));
    const liveUpload = await store.uploads.start(name('app'));

    // Everything is two hours old but the young orphan and the live upload.
    const all = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name));
    for (const f of all(store.root)) age(f);
    age(store.layout.upload(staleUpload as never));
    for (const d of [orphanYoung]) {
      utimesSync(store.layout.blob(d), new Date(), new Date());
      utimesSync(store.layout.blobLink(name('app'), d), new Date(), new Date());
    }
    utimesSync(join(store.layout.upload(liveUpload as never), 'data'), new Date(), new Date());

    const report = await gc(store.root, { graceMs: 3600_000 });
    const removed = report.blobs.map((b) => b.digest).sort();
    assert.deepEqual(removed, [dropped.manifest, dropped.config, dropped.layer, orphanOld].sort());
    assert.deepEqual(
      report.links.map((l) => `${l.repository} ${l.digest}`).sort(),
      [`app ${dropped.config}`, `app ${dropped.layer}`, `app ${orphanOld}`].sort(),
    );
    assert.deepEqual(report.uploads, [staleUpload]);
    for (const d of [kept.manifest, kept.config, kept.layer, child.manifest, child.config, child.layer, index.digest, orphanYoung])
      assert.ok(existsSync(store.layout.blob(d)), `${d} was kept`);
    assert.ok((await store.getManifest(name('multi'), { tag: 'latest' as Tag }))?.bytes.equals(indexBytes));
    assert.ok(await store.getManifest(name('multi'), { digest: child.manifest }), 'an untagged child of an index stays');
    assert.ok(existsSync(store.layout.upload(liveUpload as never)));

    // With no grace at all, the young orphan goes too; a second run finds nothing else.
    const now = await gc(store.root, { graceMs: 0 });
    assert.deepEqual(
      now.blobs.map((b) => b.digest),
      [orphanYoung],
    );
    const again = await gc(store.root, { graceMs: 0 });
    assert.deepEqual([again.blobs, again.links, again.referrers].flat(), []);
  });

  it('removes the referrer entries of deleted manifests', async () => {
    const store = fresh();
    const img = await pushImage(store, 'a', 'v1');
    const empty = Buffer.from('{}');
    await putBlob(store, 'a', empty);
    const sig = parseManifest(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/x-sig', digest: sha(empty), size: 2 },
          layers: [],
          subject: { mediaType: OCI_MANIFEST, digest: img.manifest, size: 1 },
        }),
      ),
      OCI_MANIFEST,
    );
    await store.putManifest(name('a'), sig);
    await store.deleteManifest(name('a'), sig.digest);
    for (const e of readdirSync(store.root, { recursive: true, withFileTypes: true })) if (e.isFile()) age(join(e.parentPath, e.name));
    const report = await gc(store.root);
    assert.deepEqual(report.referrers, [{ repository: 'a', digest: sig.digest }]);
    assert.ok(report.blobs.some((b) => b.digest === sig.digest));
    assert.equal(existsSync(store.layout.referrersOf(name('a'), img.manifest)), false);
  });

  it('a blob a manifest push just touched survives even when its link is old', async () => {
    const store = fresh();
    const config = Buffer.from('{"cfg":1}');
    const d = await putBlob(store, 'a', config);
    age(store.layout.blob(d));
    age(store.layout.blobLink(name('a'), d));
    // The push checks the references (touching them) before gc reads them.
    const m = parseManifest(manifestBytes(config, []), OCI_MANIFEST);
    assert.deepEqual(await store.missingReferences(name('a'), m), []);
    const report = await gc(store.root, { graceMs: 3600_000 });
    assert.deepEqual(report.blobs, []);
    assert.ok(existsSync(store.layout.blob(d)));
  });
});
