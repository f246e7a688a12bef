// `strata serve` as users run it (a subprocess on a free port, a temp root),
// driven by real clients: skopeo and podman, Strata's own push and referrers
// client, and raw HTTP for what clients never send (path traversal, chunks out
// of order, a server killed in the middle of an upload).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import bcrypt from 'bcryptjs';
import { configFromEnv } from '../../conformance/distribution/config.js';
import type { Report } from '../../conformance/distribution/report.js';
import { runConformance } from '../../conformance/distribution/runner.js';
import { canonicalJson } from '../../base/canonical.js';
import { attachReferrer, listReferrers } from '../../registry/referrers.js';
import { BridgeError, type Bridge } from '../../registry/server/bridge.js';
import { serve } from '../../src/serve.js';
import { RegistrySession } from '../../registry/session.js';
import { podmanPull, skopeo } from '../helpers/podman.js';
import { startServe, type Served } from '../helpers/serve.js';
import { lastLine, removeDir, runStrata, sha256File, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ok(r: Response, status: number): Promise<Response> {
  if (r.status !== status) assert.fail(`${r.url}: expected ${status}, got ${r.status}: ${await r.text()}`);
  return r;
}

async function errorCode(r: Response): Promise<string> {
  return ((await r.json()) as { errors: { code: string }[] }).errors[0]!.code;
}

/** Monolithic upload: POST ?digest= with the bytes. */
async function putBlob(url: string, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha(bytes);
  await ok(await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes }), 201);
  return { digest, size: bytes.length };
}

/** A one-layer image pushed by hand; returns the manifest's digest. */
async function putImage(url: string, repo: string, tags: string[], extra: Record<string, unknown> = {}): Promise<{ digest: string; bytes: Buffer }> {
  const config = await putBlob(url, repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
  const layer = await putBlob(url, repo, randomBytes(64));
  const bytes = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      ...extra,
    }),
  );
  const digest = sha(bytes);
  for (const ref of [digest, ...tags])
    await ok(await fetch(`${url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'content-type': OCI_MANIFEST } }), 201);
  return { digest, bytes };
}

/** Status line of a request sent byte for byte (fetch would normalise the path first). */
function rawStatus(host: string, method: string, path: string): Promise<number> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname!, () =>
      socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    socket.on('data', (b) => (text += b.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0)));
  });
}

/** Every path under `dir`, relative. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

/** Every check of every workflow run: the result of each one that did not pass, by name. */
function nonPasses(report: Report): string[] {
  return report.workflows.flatMap((w) => w.checks.filter((c) => c.status !== 'pass').map((c) => `${w.id}: ${c.name}: ${c.status} ${c.reason ?? ''}`));
}

let work: string;
let layout: string;
let layoutDigest: string;
beforeAll(async () => {
  work = tempDir('strata-serve-test-');
  layout = join(work, 'layout');
  const built = await runStrata(['build', GOLDEN, '-o', `oci:${layout}:t`]);
  assert.equal(built.code, 0, built.stderr);
  layoutDigest = lastLine(built.stdout);
});
afterAll(() => removeDir(work));

describe('strata serve with anonymous push (loopback)', () => {
  let srv: Served;
  beforeAll(async () => {
    srv = await startServe(join(work, 'anon'));
  });
  afterAll(async () => srv?.stop());

  test('the distribution-spec conformance suite: every check of the four workflows passes', async () => {
    const report = await runConformance(
      configFromEnv({ OCI_ROOT_URL: srv.url, OCI_NAMESPACE: 'conformance/test', OCI_CROSSMOUNT_NAMESPACE: 'conformance/mount' }),
    );
    assert.deepEqual(nonPasses(report), []);
    assert.equal(report.workflows.length, 4);
  });

  test('skopeo copies an OCI layout in and back out, byte for byte', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${srv.host}/org/team/app:v1`]);
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${srv.host}/org/team/app:v1`]);
    assert.equal(sha(raw), layoutDigest);
    const out = join(work, 'out');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${srv.host}/org/team/app:v1`, `oci:${out}:t`]);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, layoutDigest);
    for (const blob of readdirSync(join(out, 'blobs', 'sha256')))
      assert.equal(sha256File(join(out, 'blobs', 'sha256', blob)), sha256File(join(layout, 'blobs', 'sha256', blob)));
  });

  test('strata push (streamed layers) then podman pull', async () => {
    const pushed = await runStrata(['push', GOLDEN, `${srv.host}/pushed/app:v1`, '-q']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const digest = lastLine(pushed.stdout);
    const pulled = await podmanPull(`${srv.host}/pushed/app:v1`);
    assert.equal(pulled.digest, digest);
    // Pushed again: every blob is already there.
    const again = await runStrata(['push', GOLDEN, `${srv.host}/pushed/app:v1`, '--json', '-q']);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { pushed: { blobs: { action: string }[] } };
    assert.ok(
      summary.pushed.blobs.every((b) => b.action === 'exists'),
      again.stdout,
    );
  });

  test('tags list pages with n and last, and a Link to the next page', async () => {
    const tags = ['v1', 'v2', 'v3', 'v4', 'a'];
    await putImage(srv.url, 'paged', tags);
    const pages: string[][] = [];
    let next: string | undefined = `/v2/paged/tags/list?n=2`;
    while (next) {
      const r: Response = await ok(await fetch(new URL(next, srv.url)), 200);
      next = r.headers.get('link')?.match(/^<([^>]+)>; rel="next"$/)?.[1];
      pages.push(((await r.json()) as { tags: string[] }).tags);
    }
    assert.deepEqual(pages, [['a', 'v1'], ['v2', 'v3'], ['v4']]);
    const zero = await ok(await fetch(`${srv.url}/v2/paged/tags/list?n=0`), 200);
    assert.equal(zero.headers.get('link'), null);
    assert.deepEqual(((await zero.json()) as { tags: string[] }).tags, []);
    assert.deepEqual(((await (await fetch(`${srv.url}/v2/paged/tags/list?last=v2`)).json()) as { tags: string[] }).tags, ['v3', 'v4']);
    assert.deepEqual(
      (JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${srv.host}/paged`])) as { Tags: string[] }).Tags.sort(),
      [...tags].sort(),
    );
    assert.equal(await errorCode(await ok(await fetch(`${srv.url}/v2/never/pushed/tags/list`), 404)), 'NAME_UNKNOWN');
  });

  test('referrers: a manifest with a subject is indexed (OCI-Subject), filtered by artifactType', async () => {
    const subject = await putImage(srv.url, 'refs/app', ['v1']);
    const session = RegistrySession.for(srv.host, {});
    const repo = { session, name: 'refs/app' };
    const empty = await putBlob(srv.url, 'refs/app', Buffer.from('{}'));
    const sbom = await putBlob(srv.url, 'refs/app', Buffer.from('{"spdxVersion":"SPDX-2.3"}'));
    const artifact = (type: string, layer: { digest: string; size: number }) =>
      Buffer.from(
        canonicalJson({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: type,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
          layers: [{ mediaType: 'application/spdx+json', ...layer }],
          subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length },
          annotations: { 'org.example': 'yes' },
        }),
      );
    const a = await attachReferrer(
      repo,
      { bytes: artifact('application/vnd.example.sbom', sbom), mediaType: OCI_MANIFEST },
      subject.digest as `sha256:${string}`,
    );
    assert.equal(a.via, 'api');
    const b = await attachReferrer(
      repo,
      { bytes: artifact('application/vnd.example.sig', empty), mediaType: OCI_MANIFEST },
      subject.digest as `sha256:${string}`,
    );
    const listed = await listReferrers(repo, subject.digest as `sha256:${string}`);
    assert.equal(listed.api, true);
    assert.deepEqual(listed.manifests.map((m) => m.digest).sort(), [a.digest, b.digest].sort());
    const filtered = await ok(await fetch(`${srv.url}/v2/refs/app/referrers/${subject.digest}?artifactType=application/vnd.example.sig`), 200);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.equal(filtered.headers.get('content-type'), OCI_INDEX);
    const index = (await filtered.json()) as { mediaType: string; manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    assert.equal(index.mediaType, OCI_INDEX);
    assert.deepEqual(
      index.manifests.map((m) => [m.digest, m.artifactType, m.annotations['org.example']]),
      [[b.digest, 'application/vnd.example.sig', 'yes']],
    );
    const none = (await (await ok(await fetch(`${srv.url}/v2/refs/app/referrers/${sha('nothing')}`), 200)).json()) as { manifests: unknown[] };
    assert.deepEqual(none.manifests, []);
    assert.equal(await errorCode(await ok(await fetch(`${srv.url}/v2/refs/app/referrers/sha256:abc`), 400)), 'DIGEST_INVALID');
    // Deleted, it is no longer listed.
    await ok(await fetch(`${srv.url}/v2/refs/app/manifests/${b.digest}`, { method: 'DELETE' }), 202);
    assert.deepEqual(
      (await listReferrers(repo, subject.digest as `sha256:${string}`)).manifests.map((m) => m.digest),
      [a.digest],
    );
  });

  test('the protocol: unknown blobs, wrong digests, chunks out of order, Accept, sizes, deletes', async () => {
    const { url } = srv;
    // A manifest naming a blob the repository lacks (another repository has it).
    const elsewhere = await putBlob(url, 'proto/other', Buffer.from('only there'));
    const config = await putBlob(url, 'proto/app', Buffer.from('{}'));
    const lacking = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...elsewhere }],
      }),
    );
    const r = await ok(await fetch(`${url}/v2/proto/app/manifests/v1`, { method: 'PUT', body: lacking, headers: { 'content-type': OCI_MANIFEST } }), 400);
    const body = (await r.json()) as { errors: { code: string; detail: { digest: string } }[] };
    assert.deepEqual(body.errors, [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: { digest: elsewhere.digest } }]);
    assert.equal((await fetch(`${url}/v2/proto/app/blobs/${elsewhere.digest}`, { method: 'HEAD' })).status, 404);
    assert.equal(await errorCode(await ok(await fetch(`${url}/v2/proto/app/blobs/${elsewhere.digest}`), 404)), 'BLOB_UNKNOWN');
    // A mount from the repository that has it: 201; from one that does not: an upload session (202).
    await ok(await fetch(`${url}/v2/proto/app/blobs/uploads/?mount=${elsewhere.digest}&from=proto/other`, { method: 'POST' }), 201);
    await ok(await fetch(`${url}/v2/proto/app/blobs/uploads/?mount=${sha('absent')}&from=proto/other`, { method: 'POST' }), 202);
    const put = await ok(await fetch(`${url}/v2/proto/app/manifests/v1`, { method: 'PUT', body: lacking, headers: { 'content-type': OCI_MANIFEST } }), 201);
    assert.equal(put.headers.get('docker-content-digest'), sha(lacking));
    assert.equal(put.headers.get('location'), `/v2/proto/app/manifests/${sha(lacking)}`);
    // A digest that does not match: DIGEST_INVALID, nothing stored.
    assert.equal(
      await errorCode(await ok(await fetch(`${url}/v2/proto/app/blobs/uploads/?digest=${sha('other bytes')}`, { method: 'POST', body: 'these bytes' }), 400)),
      'DIGEST_INVALID',
    );
    assert.equal(existsSync(join(srv.root, 'blobs', 'sha256', sha('these bytes').slice(7))), false);
    assert.equal(existsSync(join(srv.root, 'blobs', 'sha256', sha('other bytes').slice(7))), false);
    // Chunks: in order they go, out of order is 416 with the current Range; status; then PUT.
    const start = await ok(await fetch(`${url}/v2/proto/app/blobs/uploads/`, { method: 'POST' }), 202);
    const session = new URL(start.headers.get('location')!, url);
    const chunk1 = await ok(await fetch(session, { method: 'PATCH', body: 'hello ', headers: { 'content-range': '0-5' } }), 202);
    assert.equal(chunk1.headers.get('range'), '0-5');
    const late = await ok(await fetch(session, { method: 'PATCH', body: 'x', headers: { 'content-range': '9-9' } }), 416);
    assert.equal(late.headers.get('range'), '0-5');
    const status = await ok(await fetch(session), 204);
    assert.equal(status.headers.get('range'), '0-5');
    await ok(await fetch(`${session}?digest=${sha('hello world')}`, { method: 'PUT', body: 'world', headers: { 'content-range': '6-10' } }), 201);
    assert.equal(await (await ok(await fetch(`${url}/v2/proto/app/blobs/${sha('hello world')}`, { headers: { range: 'bytes=-5' } }), 206)).text(), 'world');
    assert.equal((await fetch(`${url}/v2/proto/app/blobs/${sha('hello world')}`, { headers: { range: 'bytes=20-' } })).status, 416);
    assert.equal(await errorCode(await ok(await fetch(session), 404)), 'BLOB_UPLOAD_UNKNOWN');
    // Accept: an OCI manifest is not converted for a client that takes only Docker's.
    await ok(await fetch(`${url}/v2/proto/app/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } }), 404);
    const got = await ok(await fetch(`${url}/v2/proto/app/manifests/v1`, { headers: { accept: `${OCI_INDEX}, ${OCI_MANIFEST};q=0.9` } }), 200);
    assert.equal(got.headers.get('content-type'), OCI_MANIFEST);
    // Too large: 413 before it is read.
    const huge = Buffer.alloc(4 * 2 ** 20 + 1, 0x20);
    await ok(await fetch(`${url}/v2/proto/app/manifests/big`, { method: 'PUT', body: huge, headers: { 'content-type': OCI_MANIFEST } }), 413);
    // Not JSON, a tag that is not one, a digest reference that does not match the body.
    assert.equal(
      await errorCode(
        await ok(await fetch(`${url}/v2/proto/app/manifests/v2`, { method: 'PUT', body: 'nope', headers: { 'content-type': OCI_MANIFEST } }), 400),
      ),
      'MANIFEST_INVALID',
    );
    assert.equal(
      await errorCode(
        await ok(await fetch(`${url}/v2/proto/app/manifests/${sha('x')}`, { method: 'PUT', body: lacking, headers: { 'content-type': OCI_MANIFEST } }), 400),
      ),
      'DIGEST_INVALID',
    );
    // Deletes: the tag, then the manifest by digest, then a blob link.
    await ok(await fetch(`${url}/v2/proto/app/manifests/v1`, { method: 'DELETE' }), 202);
    await ok(await fetch(`${url}/v2/proto/app/manifests/v1`), 404);
    await ok(await fetch(`${url}/v2/proto/app/manifests/${sha(lacking)}`, { method: 'DELETE' }), 202);
    await ok(await fetch(`${url}/v2/proto/app/manifests/${sha(lacking)}`), 404);
    await ok(await fetch(`${url}/v2/proto/app/blobs/${config.digest}`, { method: 'DELETE' }), 202);
    await ok(await fetch(`${url}/v2/proto/app/blobs/${config.digest}`, { method: 'DELETE' }), 404);
  });

  test('path traversal is 404 or 400 and touches nothing outside the root', async () => {
    const before = tree(work).filter((p) => !p.startsWith('anon'));
    const d = sha('x');
    const attempts: [string, string][] = [
      ['GET', '/v2/../../etc/passwd'],
      ['GET', `/v2/../../../etc/blobs/${d}`],
      ['GET', `/v2/%2e%2e/%2e%2e/etc/blobs/${d}`],
      ['GET', `/v2/a/%2e%2e/%2e%2e/%2e%2e/b/blobs/${d}`],
      ['GET', `/v2/a%2f..%2f..%2fb/manifests/latest`],
      ['GET', '/v2/a/manifests/..%2F..%2Fetc%2Fpasswd'],
      ['GET', '/v2/a/manifests/..'],
      ['PUT', '/v2/a/manifests/..'],
      ['PUT', '/v2/a/manifests/.x'],
      ['GET', '/v2//etc/tags/list'],
      ['GET', '/v2/etc/blobs/sha256:../../../passwd'],
      ['PATCH', '/v2/a/blobs/uploads/..%2F..%2Fx'],
      ['PATCH', '/v2/a/blobs/uploads/../../x'],
      ['POST', `/v2/_blobs/blobs/uploads/?digest=${d}`],
      ['POST', '/v2/a/blobs/uploads/?mount=sha256:x&from=../../etc'],
      ['GET', `/v2/${'a/'.repeat(200)}b/tags/list`],
      ['GET', '/etc/passwd'],
    ];
    for (const [method, path] of attempts) {
      const status = await rawStatus(srv.host, method, path);
      // The mount with a bad `from` is an ordinary upload session, as the spec says.
      const expected = method === 'POST' && path.includes('mount') ? [202] : [400, 404];
      assert.ok(expected.includes(status), `${method} ${path}: ${status}`);
    }
    assert.deepEqual(
      tree(work).filter((p) => !p.startsWith('anon')),
      before,
    );
    const repos = tree(join(srv.root, 'repositories'));
    assert.ok(!repos.some((p) => /(^|\/)(etc|passwd|x|b)(\/|$)/.test(p) || p.includes('..')), repos.join('\n'));
  });

  test('four concurrent uploads of one blob all succeed and leave one whole file', async () => {
    const bytes = randomBytes(6 << 20);
    const digest = sha(bytes);
    const half = bytes.length / 2;
    const statuses = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const start = await ok(await fetch(`${srv.url}/v2/same/app${i}/blobs/uploads/`, { method: 'POST' }), 202);
        const session = new URL(start.headers.get('location')!, srv.url);
        await ok(await fetch(session, { method: 'PATCH', body: bytes.subarray(0, half), headers: { 'content-range': `0-${half - 1}` } }), 202);
        const done = await fetch(`${session}?digest=${digest}`, { method: 'PUT', body: bytes.subarray(half) });
        return done.status;
      }),
    );
    assert.deepEqual(statuses, [201, 201, 201, 201]);
    const file = join(srv.root, 'blobs', 'sha256', digest.slice(7));
    assert.equal(sha256File(file), digest);
    assert.deepEqual(
      readdirSync(join(srv.root, 'blobs', 'sha256')).filter((h) => h === digest.slice(7)),
      [digest.slice(7)],
    );
    for (const i of [1, 2, 3, 4])
      assert.equal((await fetch(`${srv.url}/v2/same/app${i}/blobs/${digest}`, { method: 'HEAD' })).headers.get('content-length'), String(bytes.length));
  });
});

describe('strata serve with htpasswd', () => {
  let srv: Served;
  beforeAll(async () => {
    const file = join(work, 'htpasswd');
    // $2y$ as htpasswd -B writes it, beside a $2b$ entry.
    writeFileSync(file, `alice:${bcrypt.hashSync('alice-pw', 5).replace(/^\$2[ab]\$/, '$2y$')}\nbob:${bcrypt.hashSync('bob-pw', 5)}\n`);
    srv = await startServe(join(work, 'auth'), ['--htpasswd', file]);
  });
  afterAll(async () => srv?.stop());

  test('push needs credentials; pulls are anonymous', async () => {
    const anonymous = await runStrata(['push', GOLDEN, `${srv.host}/team/app:v1`, '-q']);
    assert.equal(anonymous.code, 8, anonymous.stderr);
    const wrong = await runStrata(['push', GOLDEN, `${srv.host}/team/app:v1`, '-q', '--username', 'alice', '--password-stdin'], { input: 'not-it' });
    assert.equal(wrong.code, 8, wrong.stderr);
    const pushed = await runStrata(['push', GOLDEN, `${srv.host}/team/app:v1`, '-q', '--username', 'alice', '--password-stdin'], { input: 'alice-pw' });
    assert.equal(pushed.code, 0, pushed.stderr);
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'bob:bob-pw', `oci:${layout}:t`, `docker://${srv.host}/team/other:v1`]);
    await assert.rejects(
      skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${srv.host}/team/other:v2`]),
      /unauthorized|authentication required/i,
    );

    const challenge = await ok(await fetch(`${srv.url}/v2/team/app/blobs/uploads/`, { method: 'POST' }), 401);
    assert.equal(challenge.headers.get('www-authenticate'), 'Basic realm="strata"');
    assert.equal(await errorCode(challenge), 'UNAUTHORIZED');
    assert.equal((await fetch(`${srv.url}/v2/team/app/manifests/v1`, { method: 'DELETE' })).status, 401);

    const pulled = await podmanPull(`${srv.host}/team/app:v1`);
    assert.equal(pulled.digest, lastLine(pushed.stdout));
    assert.equal(sha(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${srv.host}/team/other:v1`])), layoutDigest);
  });

  test('the conformance suite passes with Basic credentials; without them no push gets past 401', async () => {
    const env = { OCI_ROOT_URL: srv.url, OCI_NAMESPACE: 'conformance/auth' };
    assert.deepEqual(nonPasses(await runConformance(configFromEnv({ ...env, OCI_USERNAME: 'bob', OCI_PASSWORD: 'bob-pw' }))), []);
    const anonymous = await runConformance(configFromEnv({ ...env, OCI_TEST_PUSH: '1' }));
    for (const c of anonymous.workflows[0]!.checks) assert.ok(c.status !== 'pass' && /401/.test(c.reason ?? ''), `${c.name}: ${c.status} ${c.reason}`);
  });
});

describe('strata serve refusals', () => {
  test('--read-only refuses writes with 405 UNSUPPORTED; reads go on', async () => {
    const srv = await startServe(join(work, 'ro'), ['--read-only']);
    try {
      const r = await ok(await fetch(`${srv.url}/v2/a/blobs/uploads/`, { method: 'POST' }), 405);
      assert.equal(await errorCode(r), 'UNSUPPORTED');
      await ok(await fetch(`${srv.url}/v2/`), 200);
      await ok(await fetch(`${srv.url}/v2/a/manifests/latest`), 404);
    } finally {
      await srv.stop();
    }
  });

  test('--allow-anonymous-push is refused with a non-loopback address', async () => {
    const r = await runStrata(['serve', '--listen', '0.0.0.0:0', '--root', join(work, 'nope'), '--allow-anonymous-push']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--allow-anonymous-push is for a loopback address/);
  });

  test('SIGTERM stops it cleanly', async () => {
    const srv = await startServe(join(work, 'term'));
    srv.child.kill('SIGTERM');
    const code = await new Promise((resolve) => srv.child.once('exit', (c, sig) => resolve(c ?? sig)));
    assert.equal(code, 0, srv.stderr());
  });
});

describe('strata serve killed in the middle of an upload', () => {
  test('no partial blob is visible; the upload is redone; gc removes the stale session', async () => {
    const root = join(work, 'killed');
    let srv = await startServe(root);
    const blob = randomBytes(50 << 20);
    const digest = sha(blob);
    const start = await ok(await fetch(`${srv.url}/v2/big/app/blobs/uploads/`, { method: 'POST' }), 202);
    const session = new URL(start.headers.get('location')!, srv.url);
    const id = session.pathname.split('/').pop()!;
    let sent = 0;
    const slow = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        if (sent >= blob.length) return ctrl.close();
        ctrl.enqueue(blob.subarray(sent, sent + (1 << 20)));
        sent += 1 << 20;
        await sleep(20);
      },
    });
    const patch = fetch(session, { method: 'PATCH', body: slow, duplex: 'half' } as RequestInit).then(
      (r) => r.status,
      (e: Error) => e,
    );
    const data = join(root, 'uploads', id, 'data');
    for (let i = 0; !existsSync(data) || statSync(data).size < 10 << 20; i++) {
      assert.ok(i < 1000, 'the upload did not get going');
      await sleep(10);
    }
    srv.child.kill('SIGKILL');
    await new Promise((r) => srv.child.once('exit', r));
    assert.ok((await patch) instanceof Error, 'the PATCH was cut');
    const partial = statSync(data).size;
    assert.ok(partial >= 10 << 20 && partial < blob.length, `${partial} bytes arrived`);
    assert.equal(existsSync(join(root, 'blobs', 'sha256', digest.slice(7))), false);
    assert.ok(!existsSync(join(root, 'tmp')) || readdirSync(join(root, 'tmp')).length === 0);

    srv = await startServe(root);
    try {
      assert.equal((await fetch(`${srv.url}/v2/big/app/blobs/${digest}`, { method: 'HEAD' })).status, 404);
      // The session is still there to resume, at the bytes that were written.
      const status = await ok(await fetch(session.toString().replace(/^http:\/\/[^/]+/, srv.url)), 204);
      assert.equal(status.headers.get('range'), `0-${partial - 1}`);
      // A new upload of the whole blob works.
      await putBlob(srv.url, 'big/app', blob);
      const head = await ok(await fetch(`${srv.url}/v2/big/app/blobs/${digest}`, { method: 'HEAD' }), 200);
      assert.equal(head.headers.get('content-length'), String(blob.length));
      assert.equal(sha256File(join(root, 'blobs', 'sha256', digest.slice(7))), digest);

      const collected = await runStrata(['gc', '--root', root, '--grace', '0']);
      assert.equal(collected.code, 0, collected.stderr);
      assert.match(collected.stdout, new RegExp(`^removed upload ${id}$`, 'm'));
      assert.equal(existsSync(join(root, 'uploads', id)), false);
      // No manifest uses the blob, and with no grace period it goes too.
      assert.match(collected.stdout, new RegExp(`^unlinked blob ${digest} from big/app$`, 'm'));
      assert.match(collected.stdout, new RegExp(`^removed blob ${digest} \\(${blob.length} bytes\\)$`, 'm'));
      assert.equal((await fetch(`${srv.url}/v2/big/app/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    } finally {
      await srv.stop();
    }
  });
});

describe('the bridge hook', () => {
  /** A stand-in for the Nix bridge: repository nix/golden serves the built layout. */
  function layoutBridge(dir: string): Bridge {
    const top = (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] }).manifests[0]!;
    const path = (digest: string) => join(dir, 'blobs', 'sha256', digest.replace('sha256:', ''));
    return {
      handles: (name) => name === 'nix/golden',
      manifest: async (_name, reference) => {
        if (reference === 'broken') throw new BridgeError(500, 'UNSUPPORTED', 'nix build failed');
        return reference === 't' || reference === top.digest
          ? { bytes: readFileSync(path(top.digest)), mediaType: top.mediaType, digest: top.digest }
          : undefined;
      },
      blob: async (_name, digest) => {
        if (!/^sha256:[a-f0-9]{64}$/.test(digest) || !existsSync(path(digest))) return undefined;
        const size = statSync(path(digest)).size;
        const descriptor = { mediaType: 'application/octet-stream', digest: digest as `sha256:${string}`, size };
        return { descriptor, open: (r) => createReadStream(path(digest), { start: r?.start ?? 0, end: (r?.end ?? size) - 1 }) };
      },
      tags: async () => ['t'],
    };
  }

  test('a bridged repository is read from the bridge, refuses pushes, and passes its errors on', async () => {
    const running = await serve({ listen: '127.0.0.1:0', root: join(work, 'bridged'), allowAnonymousPush: true, bridge: layoutBridge(layout) });
    const host = running.url.replace('http://', '');
    try {
      const out = join(work, 'from-bridge');
      await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/nix/golden:t`, `oci:${out}:t`]);
      assert.equal((JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest, layoutDigest);
      assert.deepEqual(((await (await ok(await fetch(`${running.url}/v2/nix/golden/tags/list`), 200)).json()) as { tags: string[] }).tags, ['t']);
      const denied = await ok(await fetch(`${running.url}/v2/nix/golden/blobs/uploads/`, { method: 'POST' }), 405);
      assert.equal(await errorCode(denied), 'UNSUPPORTED');
      const broken = await ok(await fetch(`${running.url}/v2/nix/golden/manifests/broken`), 500);
      assert.equal(await errorCode(broken), 'UNSUPPORTED');
      await ok(await fetch(`${running.url}/v2/nix/golden/manifests/other`), 404);
      // Other repositories are the store's as usual.
      await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${host}/plain/app:v1`]);
    } finally {
      await running.close();
    }
  });

  test('/healthz and /readyz: ready when the storage is writable and the real Nix store answers', async () => {
    const running = await serve({ listen: '127.0.0.1:0', root: join(work, 'probed'), allowAnonymousPush: true, bridge: layoutBridge(layout) });
    try {
      assert.deepEqual(await (await ok(await fetch(`${running.url}/healthz`), 200)).json(), { status: 'ok' });
      assert.deepEqual(await (await ok(await fetch(`${running.url}/readyz`), 200)).json(), { status: 'ready' });
    } finally {
      await running.close();
    }
  });
});
