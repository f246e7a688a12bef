// strata serve checks a pushed manifest as distribution 2.8 does (the cases
// were compared with Debian's docker-registry): the Content-Type must be a
// manifest media type and agree with the body's mediaType, an index carries no
// config or layers (nor a manifest an index's manifests), and a layer is taken
// without its blob only when it is a non-distributable (foreign) layer whose
// URLs are all http or https. In-process through the Hono app over a Store on
// a temp dir, plus one case over a real socket.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createAccess } from '../../registry/server/access.js';
import { createRegistryApp } from '../../registry/server/app.js';
import { Store } from '../../registry/server/store.js';
import { startServe, type Served } from '../helpers/serve.js';
import { MediaType } from '../../oci/types.js';
import { sha256 } from '../../base/hash-tap.js';

const OCI_MANIFEST: string = MediaType.ociManifest;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const FOREIGN = {
  oci: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  docker: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
};
const sha = sha256;

let base: string;
let n = 0;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'strata-manifest-checks-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

type App = ReturnType<typeof createRegistryApp>;

/** A fresh store and app (anonymous pushes), with a config and one layer in repository "a". */
async function setup(): Promise<{ app: App; config: object; layer: object }> {
  const app = createRegistryApp({ store: new Store(join(base, `s${n++}`)), auth: createAccess({ kind: 'anonymous-push' }) });
  const blob = async (bytes: Buffer, mediaType: string) => {
    const r = await app.request(`/v2/a/blobs/uploads/?digest=${sha(bytes)}`, { method: 'POST', body: bytes });
    assert.equal(r.status, 201, await r.text());
    return { mediaType, digest: sha(bytes), size: bytes.length };
  };
  return {
    app,
    config: await blob(Buffer.from('{"os":"linux","architecture":"amd64"}'), 'application/vnd.oci.image.config.v1+json'),
    layer: await blob(Buffer.from('a layer'), OCI_LAYER),
  };
}

async function put(app: App, body: object, contentType: string | undefined, tag = 't'): Promise<{ status: number; codes: string[] }> {
  const r = await app.request(`/v2/a/manifests/${tag}`, {
    method: 'PUT',
    body: JSON.stringify(body),
    headers: contentType === undefined ? {} : { 'content-type': contentType },
  });
  const text = await r.text();
  const codes = r.status >= 400 ? (JSON.parse(text) as { errors: { code: string }[] }).errors.map((e) => e.code) : [];
  return { status: r.status, codes };
}

/** What a refused push must leave: the tag names nothing. */
async function notStored(app: App, tag = 't'): Promise<void> {
  assert.equal((await app.request(`/v2/a/manifests/${tag}`)).status, 404, `tag ${tag} was stored`);
}

const missing = { digest: sha('not in the store'), size: 16 };

describe('manifest PUT checks', () => {
  it('refuses a Content-Type that is not a manifest media type', async () => {
    const { app, config, layer } = await setup();
    const m = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
    for (const ct of [undefined, 'application/json', 'text/plain', 'application/octet-stream', 'application/vnd.oci.image.config.v1+json']) {
      assert.deepEqual(await put(app, m, ct), { status: 400, codes: ['MANIFEST_INVALID'] }, `Content-Type ${ct}`);
      await notStored(app);
    }
    // Parameters do not matter, and the body may leave mediaType out (OCI allows it).
    assert.equal((await put(app, m, `${OCI_MANIFEST}; charset=utf-8`)).status, 201);
    assert.equal((await put(app, { schemaVersion: 2, config, layers: [layer] }, OCI_MANIFEST, 'bare')).status, 201);
  });

  it('refuses a body mediaType that disagrees with Content-Type', async () => {
    const { app, config, layer } = await setup();
    assert.deepEqual(await put(app, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }, OCI_INDEX), {
      status: 400,
      codes: ['MANIFEST_INVALID'],
    });
    assert.deepEqual(await put(app, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, DOCKER_LIST), { status: 400, codes: ['MANIFEST_INVALID'] });
    await notStored(app);
  });

  it('refuses an index with config or layers, and a manifest with manifests (the ambiguity of CVE-2021-41190)', async () => {
    const { app, config, layer } = await setup();
    const cases: [object, string][] = [
      [{ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], layers: [layer] }, OCI_INDEX],
      [{ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], config }, OCI_INDEX],
      [{ schemaVersion: 2, manifests: [], layers: [] }, OCI_INDEX],
      [{ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [], layers: [layer] }, DOCKER_LIST],
      [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], manifests: [] }, OCI_MANIFEST],
    ];
    for (const [body, ct] of cases) {
      assert.deepEqual(await put(app, body, ct), { status: 400, codes: ['MANIFEST_INVALID'] }, JSON.stringify(body));
      await notStored(app);
    }
    assert.equal((await put(app, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, OCI_INDEX)).status, 201);
  });

  it('takes a layer without its blob only when it is foreign and its URLs are http or https', async () => {
    const { app, config } = await setup();
    const withLayer = (l: object, mediaType = OCI_MANIFEST) => ({ schemaVersion: 2, mediaType, config, layers: [l] });
    const https = ['https://example.com/layer.tar.gz', 'http://mirror.example.com/layer'];
    for (const type of [FOREIGN.oci, FOREIGN.ociGzip, FOREIGN.ociZstd]) {
      assert.deepEqual(await put(app, withLayer({ mediaType: type, ...missing, urls: https }), OCI_MANIFEST), { status: 201, codes: [] }, type);
    }
    assert.deepEqual(await put(app, withLayer({ mediaType: FOREIGN.docker, ...missing, urls: https }, DOCKER_MANIFEST), DOCKER_MANIFEST), {
      status: 201,
      codes: [],
    });

    const refused: [string, object][] = [
      ['an ordinary layer with urls', { mediaType: OCI_LAYER, ...missing, urls: https }],
      ['a foreign layer with a file: URL', { mediaType: FOREIGN.ociGzip, ...missing, urls: ['file:///etc/passwd'] }],
      ['a foreign layer with one https and one ftp URL', { mediaType: FOREIGN.ociGzip, ...missing, urls: ['https://example.com/x', 'ftp://example.com/x'] }],
      ['a foreign layer with a relative URL', { mediaType: FOREIGN.ociGzip, ...missing, urls: ['/layer.tar'] }],
      ['a foreign layer with no URLs', { mediaType: FOREIGN.ociGzip, ...missing }],
      ['a foreign layer with an empty URL list', { mediaType: FOREIGN.ociGzip, ...missing, urls: [] }],
    ];
    for (const [what, l] of refused) {
      assert.deepEqual(await put(app, withLayer(l), OCI_MANIFEST, 'refused'), { status: 400, codes: ['MANIFEST_BLOB_UNKNOWN'] }, what);
      await notStored(app, 'refused');
    }
    // URLs that are not a list of strings are not a descriptor.
    assert.deepEqual(await put(app, withLayer({ mediaType: FOREIGN.ociGzip, ...missing, urls: 'https://example.com/x' }), OCI_MANIFEST, 'refused'), {
      status: 400,
      codes: ['MANIFEST_INVALID'],
    });
    await notStored(app, 'refused');
  });
});

describe('manifest PUT checks against the OCI schemas (oci/schema.ts, as Strata reads)', () => {
  it('refuses a wrong-typed field, a digest or media type off the grammar, with a message naming the field', async () => {
    const { app, config, layer } = await setup();
    const m = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
    const subject = { mediaType: OCI_MANIFEST, digest: sha('subject'), size: 2 };
    const cases: [object, RegExp][] = [
      [{ ...m, annotations: { 'org.example': 1 } }, /annotations\["org\.example"\] 1 is not a string/],
      [{ ...m, layers: [{ ...layer, annotations: { a: ['b'] } }] }, /layers\[0\]\.annotations\.a \["b"\] is not a string/],
      [{ ...m, artifactType: 3 }, /artifactType 3 is not a string/],
      [{ ...m, subject: { ...subject, mediaType: 'not a media type' } }, /subject\.mediaType "not a media type" is not a media type/],
      [{ ...m, config: { ...config, digest: 'sha256:abc' } }, /config\.digest "sha256:abc" is not a sha256 digest/],
      [{ ...m, schemaVersion: 1 }, /schemaVersion 1 is not 2/],
    ];
    for (const [body, message] of cases) {
      const r = await app.request('/v2/a/manifests/t', { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': OCI_MANIFEST } });
      const errors = ((await r.json()) as { errors: { code: string; message: string }[] }).errors;
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(
        errors.map((e) => e.code),
        ['MANIFEST_INVALID'],
      );
      assert.match(errors[0]!.message, message);
      await notStored(app);
    }
  });
});

describe('manifest PUT checks over a socket', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startServe(join(base, 'served'));
  });
  afterAll(() => served?.stop());

  it('a manifest sent as application/json is refused and not stored', async () => {
    const blob = Buffer.from('{"os":"linux","architecture":"amd64"}');
    assert.equal((await fetch(`${served.url}/v2/s/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: blob })).status, 201);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(blob), size: blob.length },
      layers: [],
    });
    const r = await fetch(`${served.url}/v2/s/manifests/v1`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_INVALID');
    assert.equal((await fetch(`${served.url}/v2/s/manifests/v1`)).status, 404);
    assert.equal((await fetch(`${served.url}/v2/s/manifests/v1`, { method: 'PUT', body, headers: { 'content-type': OCI_MANIFEST } })).status, 201);
  });
});
