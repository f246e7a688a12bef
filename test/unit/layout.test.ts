// The OCI layout writer: staged new layouts, in-place additions, refusals, blobs by digest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { OciLayoutWriter } from '../../image/layout.js';
import type { Descriptor, Digest, ImageIndex } from '../../image/types.js';
import { StrataError } from '../../src/errors.js';

const sha = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const REF = 'org.opencontainers.image.ref.name';

let base: string;
let n = 0;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'strata-layout-test-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

/** A fresh directory to hold one test's layout, which itself does not exist yet. */
function fresh(): { parent: string; dir: string } {
  const parent = join(base, `t${n++}`);
  mkdirSync(parent);
  return { parent, dir: join(parent, 'out') };
}

/** Writes a stand-in manifest blob and returns its descriptor. */
async function addManifest(w: OciLayoutWriter, text: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, note: text }));
  const digest = sha(bytes);
  await w.writeBlob(bytes, digest);
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: bytes.length };
}

function readIndex(dir: string): ImageIndex {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as ImageIndex;
}

function outputError(re: RegExp) {
  return (e: unknown) => e instanceof StrataError && e.code === 'output' && re.test(e.message);
}

describe('OciLayoutWriter', () => {
  it('keeps every entry when several writers add images to one layout at once', async () => {
    const { dir } = fresh();
    const w0 = await OciLayoutWriter.open(dir);
    await w0.commit(await addManifest(w0, 'base'), 'base');
    const writers = await Promise.all(Array.from({ length: 8 }, () => OciLayoutWriter.open(dir)));
    const manifests = await Promise.all(writers.map((w, i) => addManifest(w, `concurrent-${i}`)));
    await Promise.all(writers.map((w, i) => w.commit(manifests[i]!, `t${i}`)));
    const refs = readIndex(dir).manifests.map((m) => m.annotations?.[REF]).sort();
    assert.deepEqual(refs, ['base', ...Array.from({ length: 8 }, (_, i) => `t${i}`)].sort());
    assert.equal(existsSync(join(dir, 'index.json.lock')), false);
  });

  it('stages a new layout and makes it appear only on commit', async () => {
    const { parent, dir } = fresh();
    const w = await OciLayoutWriter.open(dir);
    assert.notEqual(w.root, dir);
    assert.equal(existsSync(dir), false, 'nothing at the target before commit');
    assert.equal(readFileSync(join(w.root, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
    const m = await addManifest(w, 'one');
    assert.equal(existsSync(dir), false);
    await w.commit(m, 'v1');
    assert.ok(existsSync(dir));
    assert.deepEqual(readdirSync(parent), ['out'], 'the staging directory is gone');
    assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);
    assert.equal(readFileSync(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
    const index = readIndex(dir);
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests, [{ ...m, annotations: { [REF]: 'v1' } }]);
    const blob = readFileSync(join(dir, 'blobs', 'sha256', m.digest.slice(7)));
    assert.equal(sha(blob), m.digest);
  });

  it('abort of a new layout leaves nothing behind', async () => {
    const { parent, dir } = fresh();
    const w = await OciLayoutWriter.open(dir);
    await addManifest(w, 'x');
    await w.abort();
    assert.deepEqual(readdirSync(parent), []);
  });

  it('a new layout in an existing empty directory replaces it on commit', async () => {
    const { dir } = fresh();
    mkdirSync(dir);
    const w = await OciLayoutWriter.open(dir);
    assert.notEqual(w.root, dir);
    await w.commit(await addManifest(w, 'e'), 'v1');
    assert.equal(readIndex(dir).manifests.length, 1);
  });

  it('adding an image under another name keeps the first; the same name replaces', async () => {
    const { dir } = fresh();
    const w1 = await OciLayoutWriter.open(dir);
    const m1 = await addManifest(w1, 'one');
    await w1.commit(m1, 'v1');

    const w2 = await OciLayoutWriter.open(dir);
    assert.equal(w2.root, dir, 'an existing layout is written in place');
    const m2 = await addManifest(w2, 'two');
    await w2.commit(m2, 'v2');
    assert.deepEqual(
      readIndex(dir).manifests.map((d) => [d.digest, d.annotations?.[REF]]),
      [
        [m1.digest, 'v1'],
        [m2.digest, 'v2'],
      ],
    );

    const w3 = await OciLayoutWriter.open(dir);
    const m3 = await addManifest(w3, 'three');
    await w3.commit(m3, 'v1');
    assert.deepEqual(
      readIndex(dir).manifests.map((d) => [d.digest, d.annotations?.[REF]]),
      [
        [m2.digest, 'v2'],
        [m3.digest, 'v1'],
      ],
    );
    // The replaced image's blob stays: another index entry might share it.
    assert.ok(existsSync(join(dir, 'blobs', 'sha256', m1.digest.slice(7))));
  });

  it('without a name, the same manifest is listed once', async () => {
    const { dir } = fresh();
    const w1 = await OciLayoutWriter.open(dir);
    const m = await addManifest(w1, 'same');
    await w1.commit(m, undefined);
    const w2 = await OciLayoutWriter.open(dir);
    await w2.commit(m, undefined);
    assert.deepEqual(readIndex(dir).manifests, [m]);
  });

  it('abort of an existing layout leaves it as it was', async () => {
    const { dir } = fresh();
    const w1 = await OciLayoutWriter.open(dir);
    await w1.commit(await addManifest(w1, 'a'), 'v1');
    const before = readFileSync(join(dir, 'index.json'));
    const w2 = await OciLayoutWriter.open(dir);
    await addManifest(w2, 'b');
    await w2.abort();
    assert.ok(readFileSync(join(dir, 'index.json')).equals(before));
  });

  it('refuses a non-empty directory that is not a layout', async () => {
    const { dir } = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, 'precious.txt'), 'keep me');
    await assert.rejects(OciLayoutWriter.open(dir), outputError(/neither empty nor an OCI image layout/));
    assert.deepEqual(readdirSync(dir), ['precious.txt']);
  });

  it('refuses a file, and a layout of another version', async () => {
    const { dir } = fresh();
    writeFileSync(dir, 'a file');
    await assert.rejects(OciLayoutWriter.open(dir), outputError(/not a directory/));
    const other = fresh().dir;
    mkdirSync(other);
    writeFileSync(join(other, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await assert.rejects(OciLayoutWriter.open(other), outputError(/2\.0\.0/));
  });

  it('writeBlobStream lands a blob under its digest', async () => {
    const { dir } = fresh();
    const w = await OciLayoutWriter.open(dir);
    const bytes = Buffer.alloc(200_000, 'z');
    const r = await w.writeBlobStream(async (sink) => {
      await pipeline(Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)]), sink);
      return { digest: sha(bytes), extra: 42 };
    });
    assert.deepEqual(r, { digest: sha(bytes), extra: 42 });
    assert.equal(w.blobPath(r.digest), join(w.root, 'blobs', 'sha256', sha(bytes).slice(7)));
    assert.ok(readFileSync(w.blobPath(r.digest)).equals(bytes));
    assert.ok(await w.hasBlob(r.digest));
    assert.deepEqual(readdirSync(join(w.root, 'blobs', 'sha256')), [sha(bytes).slice(7)], 'no temporary file is left');
    // The same blob again is accepted and leaves one file.
    await w.writeBlobStream(async (sink) => {
      await pipeline(Readable.from([bytes]), sink);
      return { digest: sha(bytes) };
    });
    assert.deepEqual(readdirSync(join(w.root, 'blobs', 'sha256')), [sha(bytes).slice(7)]);
    await w.abort();
  });

  it('a failed writeBlobStream leaves no temporary file', async () => {
    const { dir } = fresh();
    const w = await OciLayoutWriter.open(dir);
    await assert.rejects(
      w.writeBlobStream(async (sink) => {
        sink.write(Buffer.from('partial'));
        await new Promise<void>((r) => sink.end(r));
        throw new Error('producer failed');
      }),
      /producer failed/,
    );
    assert.deepEqual(readdirSync(join(w.root, 'blobs', 'sha256')), []);
    await w.abort();
  });
});
