// gc during a push: a client that finds a blob already there (a HEAD or GET
// that answers 200, or a mount that answers 201) does not upload it, so from
// then on the blob must outlive a gc run within the grace period until the
// manifest that needs it lands. Every case makes the blobs old and otherwise
// unreferenced first (their times set back past the grace period, as a blob
// left by an earlier, abandoned push would be), then: find them, gc, PUT the
// manifest.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createAccess } from '../../registry/server/access.js';
import { createRegistryApp } from '../../registry/server/app.js';
import { gc } from '../../registry/server/gc.js';
import { parseManifest } from '../../registry/server/manifest.js';
import type { BlobDigest, RepoName } from '../../registry/server/names.js';
import { Store } from '../../registry/server/store.js';
import { startServe, type Served } from '../helpers/serve.js';
import { expectOk, runStrata } from '../helpers/strata.js';
import { MediaType } from '../../oci/types.js';
import { sha256 } from '../../base/hash-tap.js';

const OCI_MANIFEST: string = MediaType.ociManifest;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const HOUR = 3600_000;
const sha = (b: Buffer | string) => sha256(b) as BlobDigest;

let base: string;
let n = 0;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'strata-gc-grace-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** Sets every file under `root` back two hours: past a one-hour grace period. */
function ageAll(root: string): void {
  const old = new Date(Date.now() - 2 * HOUR);
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) if (e.isFile()) utimesSync(join(e.parentPath, e.name), old, old);
}

const config = Buffer.from('{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}');
const layer = Buffer.from('the only layer');
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  }),
);

type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

async function upload(f: Fetch, repo: string, bytes: Buffer): Promise<void> {
  const r = await f(`/v2/${repo}/blobs/uploads/?digest=${sha(bytes)}`, { method: 'POST', body: bytes });
  assert.equal(r.status, 201, await r.text());
}

async function putManifest(f: Fetch, repo: string): Promise<Response> {
  return f(`/v2/${repo}/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
}

function inProcess(): { root: string; f: Fetch } {
  const root = join(base, `s${n++}`);
  const app = createRegistryApp({ store: new Store(root), auth: createAccess({ kind: 'anonymous-push' }) });
  return { root, f: async (path, init) => app.request(path, init) };
}

describe('gc grace for blobs a push found already there', () => {
  for (const method of ['HEAD', 'GET'] as const) {
    it(`a blob ${method} protects the blob until the manifest lands`, async () => {
      const { root, f } = inProcess();
      await upload(f, 'app', config);
      await upload(f, 'app', layer);
      ageAll(root);
      for (const b of [config, layer]) {
        const r = await f(`/v2/app/blobs/${sha(b)}`, { method });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
      const report = await gc(root, { graceMs: HOUR });
      assert.deepEqual([report.blobs, report.links].flat(), [], 'gc removed what the push had just found');
      const r = await putManifest(f, 'app');
      assert.equal(r.status, 201, await r.text());
    });
  }

  it('a mount into a repository that once had the blob protects its link until the manifest lands', async () => {
    const { root, f } = inProcess();
    // "app" had the blobs once (an old, abandoned push); "base" has them under a manifest.
    await upload(f, 'app', config);
    await upload(f, 'app', layer);
    await upload(f, 'base', config);
    await upload(f, 'base', layer);
    assert.equal((await putManifest(f, 'base')).status, 201);
    ageAll(root);
    for (const b of [config, layer]) assert.equal((await f(`/v2/app/blobs/uploads/?mount=${sha(b)}&from=base`, { method: 'POST' })).status, 201);
    const report = await gc(root, { graceMs: HOUR });
    assert.deepEqual(report.links, [], 'gc unlinked what the push had just mounted');
    const r = await putManifest(f, 'app');
    assert.equal(r.status, 201, await r.text());
  });

  it('without a HEAD, GET or mount, gc still removes old unreferenced blobs', async () => {
    const { root, f } = inProcess();
    await upload(f, 'app', config);
    await upload(f, 'app', layer);
    ageAll(root);
    const report = await gc(root, { graceMs: HOUR });
    assert.deepEqual(report.blobs.map((b) => b.digest).sort(), [sha(config), sha(layer)].sort());
    assert.equal((await putManifest(f, 'app')).status, 400);
  });

  it('a stored index that today would be refused (it has layers) still keeps its layer through gc', async () => {
    const { root, f } = inProcess();
    const store = new Store(root);
    await upload(f, 'app', layer);
    // Written to the store directly: what an older, laxer strata serve took.
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [],
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
      }),
    );
    const lax = {
      ...parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })), OCI_INDEX),
      bytes,
      digest: sha(bytes),
    };
    await store.putManifest('app' as RepoName, lax);
    ageAll(root);
    const report = await gc(root, { graceMs: HOUR });
    assert.deepEqual(report.blobs, []);
    assert.ok(existsSync(store.layout.blob(sha(layer))));
  });
});

describe('gc grace over a socket, with strata gc', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startServe(join(base, 'served'));
  });
  afterAll(() => served?.stop());

  it('HEAD → strata gc → PUT manifest succeeds', async () => {
    const f: Fetch = (path, init) => fetch(`${served.url}${path}`, init);
    await upload(f, 'app', config);
    await upload(f, 'app', layer);
    ageAll(served.root);
    for (const b of [config, layer]) assert.equal((await f(`/v2/app/blobs/${sha(b)}`, { method: 'HEAD' })).status, 200);
    expectOk(await runStrata(['gc', '--root', served.root, '--grace', '3600']));
    const r = await putManifest(f, 'app');
    assert.equal(r.status, 201, await r.text());
  });
});
