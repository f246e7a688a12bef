// `strata serve`'s registry app in process: every request goes through
// app.request(), with no socket, as Hono's own tests do (the real-socket tests
// in test/integration and test/security stay, for what only a socket shows:
// 100-continue, the Host check, streaming straight into the response, TLS).
// Each case checks what the distribution spec says the answer is: status,
// Docker-Content-Digest, Location, Range, Content-Length and the error body.
// The same table runs against the in-memory store and the directory store, so
// the memory store is shown to answer exactly as the one `strata serve` uses.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, test } from 'vitest';
import { parsePolicy } from '../../registry/server/access-policy.js';
import { createAccess, type AccessMode } from '../../registry/server/access.js';
import { createRegistryApp } from '../../registry/server/app.js';
import { quietLogger } from '../../registry/server/log.js';
import { MemoryStore } from '../../registry/server/memory-store.js';
import type { RegistryStore } from '../../registry/server/storage.js';
import { Store } from '../../registry/server/store.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const STORES: [string, () => RegistryStore][] = [
  ['memory', () => new MemoryStore()],
  [
    'directory',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'strata-server-app-'));
      dirs.push(dir);
      return new Store(dir);
    },
  ],
];

type App = ReturnType<typeof createRegistryApp>;

function appOn(store: RegistryStore, mode: AccessMode = { kind: 'anonymous-push' }, maxManifestBytes?: number): App {
  return createRegistryApp({ store, auth: createAccess(mode), log: quietLogger, ...(maxManifestBytes ? { maxManifestBytes } : {}) });
}

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function call(app: App, method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await app.request(path, { method, ...(init.body !== undefined ? { body: init.body } : {}), ...(init.headers ? { headers: init.headers } : {}) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** The spec's error body: one entry per error, each with code and message (and detail when given). */
function expectError(a: Answer, status: number, ...codes: string[]): { code: string; message: string; detail?: unknown }[] {
  expect(a.status).toBe(status);
  expect(a.headers.get('content-type')).toMatch(/^application\/json/);
  const { errors } = JSON.parse(a.body.toString('utf8')) as { errors: { code: string; message: string; detail?: unknown }[] };
  expect(errors.map((e) => e.code)).toEqual(codes);
  for (const e of errors) expect(typeof e.message).toBe('string');
  return errors;
}

/** A blob pushed in one POST with ?digest= (the spec's monolithic upload). */
async function pushBlob(app: App, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  const a = await call(app, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  expect(a.status).toBe(201);
  return digest;
}

function manifestOf(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  const d = (mediaType: string, b: Buffer) => ({ mediaType, digest: sha(b), size: b.length });
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: d(OCI_CONFIG, config), layers: layers.map((l) => d(OCI_LAYER, l)), ...extra }),
  );
}

/** Config and layer pushed, then the manifest under `reference`; the manifest's bytes. */
async function pushImage(app: App, repo: string, reference: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","n":"${randomBytes(4).toString('hex')}"}`);
  const layer = randomBytes(300);
  await pushBlob(app, repo, config);
  await pushBlob(app, repo, layer);
  const manifest = manifestOf(config, [layer], extra);
  const ref = reference === 'digest' ? sha(manifest) : reference;
  const a = await call(app, 'PUT', `/v2/${repo}/manifests/${ref}`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
  expect(a.status).toBe(201);
  return manifest;
}

describe.each(STORES)('the registry app on the %s store', (_kind, makeStore) => {
  test('GET /v2/ answers 200 {} with the API version header; other paths are 404 with a spec error body', async () => {
    const app = appOn(makeStore());
    const a = await call(app, 'GET', '/v2/');
    expect(a.status).toBe(200);
    expect(a.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(JSON.parse(a.body.toString())).toEqual({});
    const none = await call(app, 'GET', '/v1/_ping');
    expectError(none, 404, 'NAME_INVALID');
    expect(none.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expectError(await call(app, 'GET', '/v2/app/nothing/here'), 404, 'NAME_INVALID');
    expectError(await call(app, 'GET', '/v2/App/tags/list'), 400, 'NAME_INVALID');
  });

  test('monolithic upload: 201 with Location and Docker-Content-Digest; HEAD and GET give the bytes back', async () => {
    const app = appOn(makeStore());
    const bytes = randomBytes(1000);
    const digest = sha(bytes);
    const put = await call(app, 'POST', `/v2/org/app/blobs/uploads/?digest=${digest}`, { body: bytes });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`/v2/org/app/blobs/${digest}`);
    expect(put.headers.get('docker-content-digest')).toBe(digest);
    expect(put.headers.get('content-length')).toBe('0');

    const head = await call(app, 'HEAD', `/v2/org/app/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(head.body.length).toBe(0);

    const get = await call(app, 'GET', `/v2/org/app/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-length')).toBe('1000');
    expect(get.headers.get('docker-content-digest')).toBe(digest);
    assert.ok(get.body.equals(bytes));
  });

  test('chunked upload: POST, PATCH with Content-Range, a status GET, PUT with the last chunk; Range reports progress', async () => {
    const app = appOn(makeStore());
    const bytes = randomBytes(10);
    const start = await call(app, 'POST', '/v2/app/blobs/uploads/');
    expect(start.status).toBe(202);
    const location = start.headers.get('location')!;
    const id = start.headers.get('docker-upload-uuid')!;
    expect(id).toMatch(UUID);
    expect(location).toBe(`/v2/app/blobs/uploads/${id}`);
    expect(start.headers.get('range')).toBeNull(); // nothing yet: "0-0" would claim a byte
    expect(start.headers.get('content-length')).toBe('0');

    const first = await call(app, 'PATCH', location, {
      body: bytes.subarray(0, 4),
      headers: { 'Content-Range': '0-3', 'Content-Type': 'application/octet-stream' },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get('location')).toBe(location);
    expect(first.headers.get('range')).toBe('0-3');

    const second = await call(app, 'PATCH', location, { body: bytes.subarray(4, 7), headers: { 'Content-Range': '4-6' } });
    expect(second.status).toBe(202);
    expect(second.headers.get('range')).toBe('0-6');

    const status = await call(app, 'GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-6');
    expect(status.headers.get('docker-upload-uuid')).toBe(id);

    const digest = sha(bytes);
    const done = await call(app, 'PUT', `${location}?digest=${digest}`, { body: bytes.subarray(7), headers: { 'Content-Range': '7-9' } });
    expect(done.status).toBe(201);
    expect(done.headers.get('location')).toBe(`/v2/app/blobs/${digest}`);
    expect(done.headers.get('docker-content-digest')).toBe(digest);
    assert.ok((await call(app, 'GET', `/v2/app/blobs/${digest}`)).body.equals(bytes));
    // The session is over once its blob is published.
    expectError(await call(app, 'GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a chunk out of order is 416 with the progress; a short chunk is SIZE_INVALID and leaves nothing behind', async () => {
    const app = appOn(makeStore());
    const location = (await call(app, 'POST', '/v2/app/blobs/uploads/')).headers.get('location')!;
    await call(app, 'PATCH', location, { body: 'abcd', headers: { 'Content-Range': '0-3' } });
    const gap = await call(app, 'PATCH', location, { body: 'xyz', headers: { 'Content-Range': '10-12' } });
    expectError(gap, 416, 'BLOB_UPLOAD_INVALID');
    expect(gap.headers.get('range')).toBe('0-3');
    expect(gap.headers.get('location')).toBe(location);
    expectError(await call(app, 'PATCH', location, { body: 'ef', headers: { 'Content-Range': '4-9' } }), 400, 'SIZE_INVALID');
    expectError(await call(app, 'PATCH', location, { body: 'ef', headers: { 'Content-Range': 'four to nine' } }), 416, 'BLOB_UPLOAD_INVALID');
    expect((await call(app, 'GET', location)).headers.get('range')).toBe('0-3');
    // A body without Content-Range is streamed on.
    expect((await call(app, 'PATCH', location, { body: 'efg' })).headers.get('range')).toBe('0-6');
    expect((await call(app, 'PUT', `${location}?digest=${sha('abcdefg')}`)).status).toBe(201);
  });

  test('a digest that does not match is 400 DIGEST_INVALID, stores nothing and ends the session', async () => {
    const app = appOn(makeStore());
    const wrong = sha('something else');
    const mono = await call(app, 'POST', `/v2/app/blobs/uploads/?digest=${wrong}`, { body: 'content' });
    expect(expectError(mono, 400, 'DIGEST_INVALID')[0]!.detail).toEqual({ digest: wrong });
    expect((await call(app, 'HEAD', `/v2/app/blobs/${sha('content')}`)).status).toBe(404);
    expectError(await call(app, 'GET', `/v2/app/blobs/${sha('content')}`), 404, 'BLOB_UNKNOWN');
    expectError(await call(app, 'GET', `/v2/app/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');

    const location = (await call(app, 'POST', '/v2/app/blobs/uploads/')).headers.get('location')!;
    await call(app, 'PATCH', location, { body: 'content' });
    // No digest: refused, and the session stays for a PUT that has one.
    expectError(await call(app, 'PUT', location), 400, 'DIGEST_INVALID');
    expect((await call(app, 'GET', location)).headers.get('range')).toBe('0-6');
    expectError(await call(app, 'PUT', `${location}?digest=${wrong}`), 400, 'DIGEST_INVALID');
    expectError(await call(app, 'GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await call(app, 'GET', `/v2/app/blobs/${sha('content')}`), 404, 'BLOB_UNKNOWN');
  });

  test("upload sessions: another repository's, a made-up id and a cancelled one are BLOB_UPLOAD_UNKNOWN", async () => {
    const app = appOn(makeStore());
    const start = await call(app, 'POST', '/v2/app/blobs/uploads/');
    const id = start.headers.get('docker-upload-uuid')!;
    const other = expectError(await call(app, 'PATCH', `/v2/other/blobs/uploads/${id}`, { body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(other[0]!.detail).toEqual({ id });
    expectError(await call(app, 'GET', '/v2/app/blobs/uploads/not-an-id'), 404, 'BLOB_UPLOAD_UNKNOWN');
    const cancel = await call(app, 'DELETE', start.headers.get('location')!);
    expect(cancel.status).toBe(204);
    expectError(await call(app, 'GET', start.headers.get('location')!), 404, 'BLOB_UPLOAD_UNKNOWN');
    expectError(await call(app, 'DELETE', start.headers.get('location')!), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('blob GET with Range: 206 with Content-Range and Content-Length, suffix ranges, 416 past the end', async () => {
    const app = appOn(makeStore());
    const bytes = Buffer.from('0123456789');
    const digest = await pushBlob(app, 'app', bytes);
    const part = await call(app, 'GET', `/v2/app/blobs/${digest}`, { headers: { Range: 'bytes=2-5' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2-5/10');
    expect(part.headers.get('content-length')).toBe('4');
    expect(part.headers.get('docker-content-digest')).toBe(digest);
    expect(part.body.toString()).toBe('2345');
    const tail = await call(app, 'GET', `/v2/app/blobs/${digest}`, { headers: { Range: 'bytes=-3' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe('bytes 7-9/10');
    expect(tail.body.toString()).toBe('789');
    const open = await call(app, 'GET', `/v2/app/blobs/${digest}`, { headers: { Range: 'bytes=8-' } });
    expect(open.headers.get('content-range')).toBe('bytes 8-9/10');
    expect(open.body.toString()).toBe('89');
    const past = await call(app, 'GET', `/v2/app/blobs/${digest}`, { headers: { Range: 'bytes=10-' } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */10');
    const headPart = await call(app, 'HEAD', `/v2/app/blobs/${digest}`, { headers: { Range: 'bytes=0-0' } });
    expect(headPart.status).toBe(206);
    expect(headPart.headers.get('content-length')).toBe('1');
    expect(headPart.body.length).toBe(0);
  });

  test('a repository sees only the blobs it links; a mount links one from another repository', async () => {
    const app = appOn(makeStore());
    const digest = await pushBlob(app, 'a', Buffer.from('shared'));
    expectError(await call(app, 'GET', `/v2/b/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    // A mount from a repository without the blob is an ordinary upload (202), as the spec says.
    const miss = await call(app, 'POST', `/v2/b/blobs/uploads/?mount=${digest}&from=c`);
    expect(miss.status).toBe(202);
    expect(miss.headers.get('location')).toMatch(/^\/v2\/b\/blobs\/uploads\//);
    const mount = await call(app, 'POST', `/v2/b/blobs/uploads/?mount=${digest}&from=a`);
    expect(mount.status).toBe(201);
    expect(mount.headers.get('location')).toBe(`/v2/b/blobs/${digest}`);
    expect(mount.headers.get('docker-content-digest')).toBe(digest);
    expect((await call(app, 'GET', `/v2/b/blobs/${digest}`)).body.toString()).toBe('shared');
    expectError(await call(app, 'GET', '/v2/b/blobs/sha256:abc'), 400, 'DIGEST_INVALID');
  });

  test('manifest PUT by tag and by digest: 201 with Location and Docker-Content-Digest; GET and HEAD give it back', async () => {
    const app = appOn(makeStore());
    const manifest = await pushImage(app, 'org/app', 'v1');
    const digest = sha(manifest);
    for (const ref of ['v1', digest]) {
      const get = await call(app, 'GET', `/v2/org/app/manifests/${ref}`, { headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(get.headers.get('docker-content-digest')).toBe(digest);
      expect(get.headers.get('content-length')).toBe(String(manifest.length));
      assert.ok(get.body.equals(manifest));
      const head = await call(app, 'HEAD', `/v2/org/app/manifests/${ref}`);
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(digest);
      expect(head.headers.get('content-length')).toBe(String(manifest.length));
      expect(head.body.length).toBe(0);
    }
    // A client that accepts no manifest of its kind is told it is not there.
    expectError(await call(app, 'GET', '/v2/org/app/manifests/v1', { headers: { Accept: OCI_INDEX } }), 404, 'MANIFEST_UNKNOWN');
    expectError(await call(app, 'GET', '/v2/org/app/manifests/v2'), 404, 'MANIFEST_UNKNOWN');
    // A manifest is not a blob the repository links.
    expectError(await call(app, 'GET', `/v2/org/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');

    const byDigest = await pushImage(app, 'org/app', 'digest');
    const put = await call(app, 'PUT', `/v2/org/app/manifests/${sha(byDigest)}`, { body: byDigest, headers: { 'Content-Type': OCI_MANIFEST } });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`/v2/org/app/manifests/${sha(byDigest)}`);
    expect(put.headers.get('docker-content-digest')).toBe(sha(byDigest));
    expect(put.headers.get('content-length')).toBe('0');
    const wrong = await call(app, 'PUT', `/v2/org/app/manifests/${digest}`, { body: byDigest, headers: { 'Content-Type': OCI_MANIFEST } });
    expectError(wrong, 400, 'DIGEST_INVALID');
  });

  test('a manifest whose blobs the repository lacks is 400 with one MANIFEST_BLOB_UNKNOWN per blob', async () => {
    const app = appOn(makeStore());
    const config = Buffer.from('{"os":"linux"}');
    const layer = randomBytes(50);
    await pushBlob(app, 'other', config); // in the registry, but not in this repository
    const a = await call(app, 'PUT', '/v2/app/manifests/v1', { body: manifestOf(config, [layer]), headers: { 'Content-Type': OCI_MANIFEST } });
    const errors = expectError(a, 400, 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN');
    expect(errors.map((e) => e.detail)).toEqual([{ digest: sha(config) }, { digest: sha(layer) }]);
    expectError(await call(app, 'GET', '/v2/app/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha('nope'), size: 4 }] }),
    );
    const child = await call(app, 'PUT', '/v2/app/manifests/i', { body: index, headers: { 'Content-Type': OCI_INDEX } });
    expect(expectError(child, 400, 'MANIFEST_BLOB_UNKNOWN')[0]!.detail).toEqual({ digest: sha('nope') });
    const json = await call(app, 'PUT', '/v2/app/manifests/v1', { body: '{"schemaVersion":2}', headers: { 'Content-Type': 'application/json' } });
    expectError(json, 400, 'MANIFEST_INVALID');
  });

  test('a manifest larger than the limit is 413 MANIFEST_INVALID', async () => {
    const app = appOn(makeStore(), { kind: 'anonymous-push' }, 64);
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { pad: 'x'.repeat(64) } }));
    expectError(await call(app, 'PUT', '/v2/app/manifests/v1', { body, headers: { 'Content-Type': OCI_INDEX } }), 413, 'MANIFEST_INVALID');
    expectError(await call(app, 'GET', '/v2/app/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
  });

  test('tags list: sorted, paginated with n and last and a Link to the next page; an unknown repository is NAME_UNKNOWN', async () => {
    const app = appOn(makeStore());
    const manifest = await pushImage(app, 'app', 'd');
    for (const tag of ['b', 'a', 'c']) {
      expect((await call(app, 'PUT', `/v2/app/manifests/${tag}`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } })).status).toBe(201);
    }
    const all = await call(app, 'GET', '/v2/app/tags/list');
    expect(all.status).toBe(200);
    expect(JSON.parse(all.body.toString())).toEqual({ name: 'app', tags: ['a', 'b', 'c', 'd'] });
    expect(all.headers.get('link')).toBeNull();
    const first = await call(app, 'GET', '/v2/app/tags/list?n=2');
    expect(JSON.parse(first.body.toString())).toEqual({ name: 'app', tags: ['a', 'b'] });
    expect(first.headers.get('link')).toBe('</v2/app/tags/list?n=2&last=b>; rel="next"');
    const second = await call(app, 'GET', '/v2/app/tags/list?n=2&last=b');
    expect(JSON.parse(second.body.toString())).toEqual({ name: 'app', tags: ['c', 'd'] });
    expect(second.headers.get('link')).toBeNull();
    expect(JSON.parse((await call(app, 'GET', '/v2/app/tags/list?n=0')).body.toString())).toEqual({ name: 'app', tags: [] });
    expectError(await call(app, 'GET', '/v2/app/tags/list?n=two'), 400, 'UNSUPPORTED');
    expect(expectError(await call(app, 'GET', '/v2/nothing/tags/list'), 404, 'NAME_UNKNOWN')[0]!.detail).toEqual({ name: 'nothing' });
  });

  test('referrers: a manifest with a subject is listed under it (OCI-Subject on its PUT), filtered by artifactType, gone once deleted', async () => {
    const app = appOn(makeStore());
    const subject = await pushImage(app, 'app', 'v1');
    const subjectDigest = sha(subject);
    const empty = await call(app, 'GET', `/v2/app/referrers/${subjectDigest}`);
    expect(empty.status).toBe(200);
    expect(empty.headers.get('content-type')).toBe(OCI_INDEX);
    expect(JSON.parse(empty.body.toString())).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });

    const config = Buffer.from('{}');
    await pushBlob(app, 'app', config);
    const referrer = (artifactType: string, n: number) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(config), size: 2 },
          layers: [],
          subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: subject.length },
          annotations: { 'org.example': String(n) },
        }),
      );
    const sig = referrer('application/vnd.example.sig', 1);
    const put = await call(app, 'PUT', `/v2/app/manifests/${sha(sig)}`, { body: sig, headers: { 'Content-Type': OCI_MANIFEST } });
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-subject')).toBe(subjectDigest);
    const listed = {
      mediaType: OCI_MANIFEST,
      digest: sha(sig),
      size: sig.length,
      artifactType: 'application/vnd.example.sig',
      annotations: { 'org.example': '1' },
    };
    expect(JSON.parse((await call(app, 'GET', `/v2/app/referrers/${subjectDigest}`)).body.toString()).manifests).toEqual([listed]);
    // Listed by digest, whatever the order of the pushes.
    const others = [2, 3, 4].map((n) => referrer('application/vnd.example.note', n));
    for (const m of others) await call(app, 'PUT', `/v2/app/manifests/${sha(m)}`, { body: m, headers: { 'Content-Type': OCI_MANIFEST } });
    const digests = [sig, ...others].map((m) => sha(m));
    const all = JSON.parse((await call(app, 'GET', `/v2/app/referrers/${subjectDigest}`)).body.toString()).manifests as { digest: string }[];
    expect(all.map((d) => d.digest)).toEqual([...digests].sort());
    for (const m of others) expect((await call(app, 'DELETE', `/v2/app/manifests/${sha(m)}`)).status).toBe(202);
    const filtered = await call(app, 'GET', `/v2/app/referrers/${subjectDigest}?artifactType=application/vnd.example.sbom`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(JSON.parse(filtered.body.toString()).manifests).toEqual([]);
    const kept = await call(app, 'GET', `/v2/app/referrers/${subjectDigest}?artifactType=application/vnd.example.sig`);
    expect(JSON.parse(kept.body.toString()).manifests).toEqual([listed]);
    // Another repository has no referrers of it.
    expect(JSON.parse((await call(app, 'GET', `/v2/other/referrers/${subjectDigest}`)).body.toString()).manifests).toEqual([]);

    expect((await call(app, 'DELETE', `/v2/app/manifests/${sha(sig)}`)).status).toBe(202);
    expect(JSON.parse((await call(app, 'GET', `/v2/app/referrers/${subjectDigest}`)).body.toString()).manifests).toEqual([]);
    expectError(await call(app, 'GET', '/v2/app/referrers/latest'), 400, 'DIGEST_INVALID');
  });

  test('DELETE: a tag leaves its manifest, a digest takes its tags with it, a blob link goes; 404 codes after', async () => {
    const app = appOn(makeStore());
    const manifest = await pushImage(app, 'app', 'v1');
    const digest = sha(manifest);
    await call(app, 'PUT', '/v2/app/manifests/v2', { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });

    const untag = await call(app, 'DELETE', '/v2/app/manifests/v1');
    expect(untag.status).toBe(202);
    expect(untag.headers.get('content-length')).toBe('0');
    expectError(await call(app, 'GET', '/v2/app/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
    expect((await call(app, 'GET', `/v2/app/manifests/${digest}`)).status).toBe(200);
    expect(JSON.parse((await call(app, 'GET', '/v2/app/tags/list')).body.toString()).tags).toEqual(['v2']);

    expect((await call(app, 'DELETE', `/v2/app/manifests/${digest}`)).status).toBe(202);
    expectError(await call(app, 'GET', `/v2/app/manifests/${digest}`), 404, 'MANIFEST_UNKNOWN');
    expectError(await call(app, 'GET', '/v2/app/manifests/v2'), 404, 'MANIFEST_UNKNOWN');
    expect(JSON.parse((await call(app, 'GET', '/v2/app/tags/list')).body.toString())).toEqual({ name: 'app', tags: [] });
    expect(expectError(await call(app, 'DELETE', `/v2/app/manifests/${digest}`), 404, 'MANIFEST_UNKNOWN')[0]!.detail).toEqual({ reference: digest });

    const layer = (JSON.parse(manifest.toString()) as { layers: { digest: string }[] }).layers[0]!.digest;
    const unlink = await call(app, 'DELETE', `/v2/app/blobs/${layer}`);
    expect(unlink.status).toBe(202);
    expect(unlink.headers.get('content-length')).toBe('0');
    expect(expectError(await call(app, 'GET', `/v2/app/blobs/${layer}`), 404, 'BLOB_UNKNOWN')[0]!.detail).toEqual({ digest: layer });
    expectError(await call(app, 'DELETE', `/v2/app/blobs/${layer}`), 404, 'BLOB_UNKNOWN');
  });

  test('a method an endpoint does not have is 405 UNSUPPORTED with Allow', async () => {
    const app = appOn(makeStore());
    const a = await call(app, 'PATCH', '/v2/app/manifests/v1', { body: '{}' });
    expectError(a, 405, 'UNSUPPORTED');
    expect(a.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
  });

  test('with an htpasswd file: anonymous reads, a Basic challenge for login and writes, a user pushes, an access file narrows; read-only refuses writes', async () => {
    const users = new Map([['alice', bcrypt.hashSync('secret', 4)]]);
    const app = appOn(makeStore(), { kind: 'htpasswd', users });
    const login = await call(app, 'GET', '/v2/');
    expectError(login, 401, 'UNAUTHORIZED');
    expect(login.headers.get('www-authenticate')).toBe('Basic realm="strata"');
    const push = await call(app, 'POST', '/v2/app/blobs/uploads/');
    expectError(push, 401, 'UNAUTHORIZED');
    expect(push.headers.get('www-authenticate')).toBe('Basic realm="strata"');
    expectError(await call(app, 'DELETE', `/v2/app/manifests/${sha('x')}`), 401, 'UNAUTHORIZED');
    expectError(await call(app, 'GET', `/v2/app/blobs/${sha('x')}`), 404, 'BLOB_UNKNOWN');
    expectError(await call(app, 'POST', '/v2/app/blobs/uploads/', { headers: basic('alice', 'wrong') }), 401, 'UNAUTHORIZED');
    expectError(await call(app, 'POST', '/v2/app/blobs/uploads/', { headers: basic('mallory', 'secret') }), 401, 'UNAUTHORIZED');
    expect((await call(app, 'GET', '/v2/', { headers: basic('alice', 'secret') })).status).toBe(200);
    const digest = sha('pushed');
    const pushed = await call(app, 'POST', `/v2/app/blobs/uploads/?digest=${digest}`, { body: 'pushed', headers: basic('alice', 'secret') });
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get('docker-content-digest')).toBe(digest);

    // An access file narrows it: alice may push to team/* only, and anonymous reads nothing.
    const policy = parsePolicy(JSON.stringify({ anonymous: {}, users: { alice: { pull: ['*'], push: ['team/*'] } } }));
    const narrow = appOn(makeStore(), { kind: 'htpasswd', users, policy });
    expectError(await call(narrow, 'GET', `/v2/app/blobs/${digest}`), 401, 'UNAUTHORIZED');
    expectError(await call(narrow, 'POST', '/v2/app/blobs/uploads/', { headers: basic('alice', 'secret') }), 403, 'DENIED');
    expect((await call(narrow, 'POST', '/v2/team/app/blobs/uploads/', { headers: basic('alice', 'secret') })).status).toBe(202);

    const readOnly = appOn(makeStore(), { kind: 'read-only', reason: 'no --htpasswd' });
    expect((await call(readOnly, 'GET', '/v2/')).status).toBe(200);
    expectError(await call(readOnly, 'POST', '/v2/app/blobs/uploads/'), 405, 'UNSUPPORTED');
    expectError(await call(readOnly, 'PUT', '/v2/app/manifests/v1', { body: '{}', headers: { 'Content-Type': OCI_MANIFEST } }), 405, 'UNSUPPORTED');
  });
});
