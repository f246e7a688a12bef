// `strata serve --storage docker://…`: replicas that keep nothing of their own
// over one real registry (CNCF distribution 2.8, Debian's docker-registry),
// behind a round-robin proxy. Both pass the conformance suite through the
// proxy (every other request on the other replica, upload sessions included);
// independent clients (skopeo, podman) read through either what was pushed
// through the other; kill -9 of a replica in the middle of a push or a pull
// loses nothing once the client retries through the other.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { configFromEnv } from '../../conformance/distribution/config.js';
import type { Report } from '../../conformance/distribution/report.js';
import { runConformance } from '../../conformance/distribution/runner.js';
import { podmanPull, skopeo } from '../helpers/podman.js';
import { randomLayout } from '../helpers/random-layout.js';
import { freePort, startRegistry, type Registry } from '../helpers/registry.js';
import { startRoundRobin, type RoundRobin } from '../helpers/round-robin.js';
import { eventually } from '../helpers/serve-log.js';
import { startServe, type Served } from '../helpers/serve.js';
import { expectFailure, expectOk, lastLine, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';

let work: string;
let upstream: Registry;
let secret: string;
let a: Served;
let b: Served;
let proxy: RoundRobin;
let layout: string;
let layoutDigest: string;

/** A replica over the upstream's `fleet` prefix, with the fleet's secret. */
function replica(extra: string[] = []): Promise<Served> {
  return startServe('', ['--storage', `docker://${upstream.host}/fleet`, '--fleet-secret-file', secret, '--allow-anonymous-push', ...extra]);
}

beforeAll(async () => {
  work = tempDir('strata-fleet-test-');
  upstream = await startRegistry({ deleteEnabled: true });
  secret = join(work, 'fleet-secret');
  writeFileSync(secret, randomBytes(32));
  [a, b] = await Promise.all([replica(), replica()]);
  proxy = await startRoundRobin([a.url, b.url]);
  layout = join(work, 'layout');
  const built = await runStrata(['build', GOLDEN, '-o', `oci:${layout}:t`]);
  assert.equal(built.code, 0, built.stderr);
  layoutDigest = lastLine(built.stdout);
});
afterAll(async () => {
  await proxy?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.stop();
  removeDir(work);
});

function nonPasses(report: Report): string[] {
  return report.workflows.flatMap((w) => w.checks.filter((c) => c.status !== 'pass').map((c) => `${w.id}: ${c.name}: ${c.status}`));
}

const conformanceEnv = (url: string) => configFromEnv({ OCI_ROOT_URL: url, OCI_NAMESPACE: 'conformance/test', OCI_CROSSMOUNT_NAMESPACE: 'conformance/mount' });
/** distribution 2.8 deletes manifests by digest only, so serve over it cannot delete a tag alone (the spec allows that). */
const UPSTREAM_SHORTFALL = ['content-management: DELETE tag: 202, then the tag is 404: unsupported'];

describe('registry storage', () => {
  test('the conformance suite through a round-robin of two replicas: everything passes but what the upstream cannot do', async () => {
    const before = [...proxy.served];
    const report = await runConformance(conformanceEnv(proxy.url));
    assert.deepEqual(nonPasses(report), UPSTREAM_SHORTFALL);
    assert.equal(report.workflows.length, 4);
    // Turns alternate, so sessions started on one replica went on on the other.
    assert.ok(proxy.served[0]! - before[0]! > 50 && proxy.served[1]! - before[1]! > 50, `served ${proxy.served}`);
  });

  test('the conformance suite against one replica alone', async () => {
    assert.deepEqual(nonPasses(await runConformance(conformanceEnv(a.url))), UPSTREAM_SHORTFALL);
  });

  test('skopeo pushes through one replica; skopeo and podman pull the same digest through the other and from the upstream itself', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${a.host}/org/app:v1`]);
    const viaB = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${b.host}/org/app:v1`]);
    assert.equal(`sha256:${createHash('sha256').update(viaB).digest('hex')}`, layoutDigest);
    const direct = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${upstream.host}/fleet/org/app:v1`]);
    assert.equal(direct, viaB);
    const pulled = await podmanPull(`${b.host}/org/app:v1`);
    assert.equal(pulled.digest, layoutDigest);
    const out = join(work, 'out');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${b.host}/org/app:v1`, `oci:${out}:t`]);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, layoutDigest);
  });

  test('an upload started on one replica goes on on the other; a replica with another secret, or an altered id, does not know it', async () => {
    const bytes = randomBytes(3000);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const started = await fetch(`${a.url}/v2/sessions/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    const first = new URL(started.headers.get('location')!, a.url).pathname;
    const patched = await fetch(`${b.url}${first}`, {
      method: 'PATCH',
      body: bytes.subarray(0, 1000),
      headers: { 'content-range': '0-999', 'content-type': 'application/octet-stream' },
    });
    assert.equal(patched.status, 202, await patched.text());
    assert.equal(patched.headers.get('range'), '0-999');
    const second = new URL(patched.headers.get('location')!, b.url).pathname;
    assert.notEqual(second, first, "the upstream's session state moved on, and the id with it");

    const stranger = await startServe('', ['--storage', `docker://${upstream.host}/fleet`, '--allow-anonymous-push']);
    try {
      const r = await fetch(`${stranger.url}${second}`, { method: 'GET' });
      assert.equal(r.status, 404);
      assert.equal(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
      assert.match(stranger.stderr(), /no --fleet-secret-file: uploads started here can be continued only by this process/);
    } finally {
      await stranger.stop();
    }
    // An id is good for its own repository only.
    assert.equal((await fetch(`${a.url}${second.replace('/v2/sessions/', '/v2/other/')}`, { method: 'GET' })).status, 404);
    const id = second.split('/').pop()!;
    const altered = second.replace(id, `${id.slice(0, 5)}${id[5] === 'A' ? 'B' : 'A'}${id.slice(6)}`);
    assert.equal((await fetch(`${a.url}${altered}`, { method: 'GET' })).status, 404);
    // A chunk longer or shorter than its Content-Range: 400 SIZE_INVALID, and the upstream's session is where it was.
    for (const body of [bytes.subarray(1000, 1600), bytes.subarray(1000, 1200)]) {
      const r = await fetch(`${a.url}${second}`, { method: 'PATCH', body, headers: { 'content-range': '1000-1499' } });
      assert.equal(r.status, 400);
      assert.equal(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code, 'SIZE_INVALID');
    }
    // A chunk that does not start where the session stands: 416, checked by the replica (distribution 2.8 itself would append it).
    const wrong = await fetch(`${a.url}${second}`, { method: 'PATCH', body: bytes.subarray(0, 10), headers: { 'content-range': '0-9' } });
    assert.equal(wrong.status, 416);
    const done = await fetch(`${a.url}${second}?digest=${digest}`, {
      method: 'PUT',
      body: bytes.subarray(1000),
      headers: { 'content-range': '1000-2999', 'content-type': 'application/octet-stream' },
    });
    assert.equal(done.status, 201, await done.text());
    const got = await fetch(`${upstream.url}/v2/fleet/sessions/blobs/${digest}`);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
  });

  test("referrers are kept under serve's own tags, which clients can neither write, delete nor see; the spec's fallback tag is a plain tag", async () => {
    const manifest = (body: object) => Buffer.from(JSON.stringify(body));
    const config = {
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
      size: 2,
    };
    const empty = await fetch(`${a.url}/v2/refs/blobs/uploads/?digest=${config.digest}`, { method: 'POST', body: '{}' });
    assert.equal(empty.status, 201);
    const subject = manifest({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [] });
    const subjectDigest = `sha256:${createHash('sha256').update(subject).digest('hex')}`;
    const put = (ref: string, bytes: Buffer, type = 'application/vnd.oci.image.manifest.v1+json') =>
      fetch(`${a.url}/v2/refs/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'content-type': type } });
    assert.equal((await put('v1', subject)).status, 201);
    const sbom = manifest({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/spdx+json',
      config,
      layers: [],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subjectDigest, size: subject.length },
    });
    const sbomDigest = `sha256:${createHash('sha256').update(sbom).digest('hex')}`;
    const putSbom = await put(sbomDigest, sbom);
    assert.equal(putSbom.status, 201);
    assert.equal(putSbom.headers.get('oci-subject'), subjectDigest);
    const listed = async () =>
      ((await (await fetch(`${b.url}/v2/refs/referrers/${subjectDigest}`)).json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    assert.deepEqual(await listed(), [sbomDigest]);
    // A pusher overwriting the spec's fallback tag with an empty index hides nothing from serve's referrers API.
    const emptyIndex = manifest({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    assert.equal((await put(subjectDigest.replace(':', '-'), emptyIndex, 'application/vnd.oci.image.index.v1+json')).status, 201);
    assert.deepEqual(await listed(), [sbomDigest]);
    // serve's own tag cannot be written or deleted through it, and is not listed.
    const own = `strata-referrers-${subjectDigest.replace(':', '-')}`;
    assert.equal((await put(own, emptyIndex, 'application/vnd.oci.image.index.v1+json')).status, 403);
    assert.equal((await fetch(`${a.url}/v2/refs/manifests/${own}`, { method: 'DELETE' })).status, 403);
    const tags = ((await (await fetch(`${a.url}/v2/refs/tags/list`)).json()) as { tags: string[] }).tags;
    assert.deepEqual(tags, [subjectDigest.replace(':', '-'), 'v1']);
    assert.deepEqual((await upstreamTags('fleet/refs')).sort(), [own, subjectDigest.replace(':', '-'), 'v1'].sort());
    // Deleting the referrer takes it out of the list.
    assert.equal((await fetch(`${a.url}/v2/refs/manifests/${sbomDigest}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(await listed(), []);
  });

  test('--redirect-blobs: a blob GET is a 307 to the upstream, which skopeo follows to the same image', async () => {
    const r = await replica(['--redirect-blobs']);
    try {
      const manifest = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${r.host}/org/app:v1`])) as {
        layers: { digest: string }[];
      };
      const layer = manifest.layers[0]!.digest;
      const res = await fetch(`${r.url}/v2/org/app/blobs/${layer}`, { redirect: 'manual' });
      assert.equal(res.status, 307);
      assert.equal(res.headers.get('location'), `${upstream.url}/v2/fleet/org/app/blobs/${layer}`);
      assert.equal((await fetch(`${r.url}/v2/org/app/blobs/${layer}`, { method: 'HEAD' })).status, 200, 'a HEAD is answered by the replica');
      const out = join(work, 'redirected');
      await skopeo(['copy', '--src-tls-verify=false', `docker://${r.host}/org/app:v1`, `oci:${out}:t`]);
      const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      assert.equal(index.manifests[0]!.digest, layoutDigest);
    } finally {
      await r.stop();
    }
  });

  test('/readyz names an upstream that does not answer; strata gc refuses registry storage', async () => {
    const dead = await startServe('', ['--storage', `docker://127.0.0.1:${await freePort()}/x`]);
    try {
      const r = await fetch(`${dead.url}/readyz`);
      assert.equal(r.status, 503);
      assert.match(JSON.stringify(await r.json()), /the upstream registry docker:\/\/127\.0\.0\.1:\d+\/x does not answer/);
      assert.equal((await fetch(`${dead.url}/healthz`)).status, 200);
    } finally {
      await dead.stop();
    }
    assert.equal((await fetch(`${a.url}/readyz`)).status, 200);
    expectFailure(await runStrata(['gc', '--storage', `docker://${upstream.host}/fleet`]), 2, /upstream registry, which collects its own/);
    expectFailure(await runStrata(['serve', '--storage', `docker://${upstream.host}/fleet`, '--root', work]), 2, /--storage and --root/);
    expectFailure(await runStrata(['serve', '--storage', 'https://x/y']), 2, /is not docker:\/\/REGISTRY\[\/PREFIX\]/);
    expectFailure(
      await runStrata(['serve', '--storage', `docker://${upstream.host}/fleet`, '--redirect-blobs', '--htpasswd', secret, '--access-file', secret]),
      2,
      /--redirect-blobs sends clients to the upstream, where --access-file's pull rules do not apply/,
    );
    const short = join(work, 'short-secret');
    writeFileSync(short, 'too short');
    expectFailure(await runStrata(['serve', '--storage', `docker://${upstream.host}/fleet`, '--fleet-secret-file', short]), 2, /needs 32 or more/);
  });
});

describe('an upstream that asks for credentials', () => {
  let locked: Registry;
  beforeAll(async () => {
    locked = await startRegistry({ auth: 'htpasswd' });
  });
  afterAll(async () => locked?.stop());

  test("serve uses push's credentials (an auth file) for the upstream; its clients never need or see them; --redirect-blobs is refused", async () => {
    const dir = join(work, 'creds');
    mkdirSync(dir, { recursive: true });
    const authFile = join(dir, 'auth.json');
    const [user, password] = Object.entries(locked.users)[0]!;
    writeFileSync(authFile, JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));
    const args = ['--storage', `docker://${locked.host}/fleet`, '--allow-anonymous-push'];
    const withCreds = await startServe('', args, { ...nixEnv(), REGISTRY_AUTH_FILE: authFile });
    const without = await startServe('', args, { ...nixEnv(), REGISTRY_AUTH_FILE: join(dir, 'none.json') });
    try {
      await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${withCreds.host}/org/app:v1`]);
      const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${withCreds.host}/org/app:v1`]);
      assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, layoutDigest);
      assert.equal((await fetch(`${withCreds.url}/readyz`)).status, 200);
      // Without credentials for the upstream: not ready, and a read fails as the server's error, not as the client's login.
      const notReady = await fetch(`${without.url}/readyz`);
      assert.equal(notReady.status, 503);
      const read = await fetch(`${without.url}/v2/org/app/manifests/v1`);
      assert.equal(read.status, 500);
      const body = await read.text();
      assert.doesNotMatch(body, new RegExp(`${password}|${locked.host}`));
      assert.equal(read.headers.get('www-authenticate'), null);
    } finally {
      await Promise.all([withCreds.stop(), without.stop()]);
    }
    expectFailure(
      await runStrata(['serve', '--listen', '127.0.0.1:0', ...args, '--redirect-blobs'], { env: { ...nixEnv(), REGISTRY_AUTH_FILE: authFile } }),
      2,
      /--redirect-blobs: docker:\/\/127\.0\.0\.1:\d+\/fleet asks for credentials, which clients redirected there would not have/,
    );
  });
});

/** The bytes of the upstream's open upload sessions under `repo` (distribution's filesystem layout). */
function uploadedBytes(repo: string): number {
  const dir = join(upstream.root, 'docker/registry/v2/repositories', repo, '_uploads');
  let n = 0;
  try {
    for (const line of spawnSyncLines('find', [dir, '-name', 'data'])) n += statSync(line).size;
  } catch {
    return 0;
  }
  return n;
}

function spawnSyncLines(cmd: string, args: string[]): string[] {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
}

/** The upstream's tags of `repo`: none when it does not know the name yet. */
async function upstreamTags(repo: string): Promise<string[]> {
  const r = await fetch(`${upstream.url}/v2/${repo}/tags/list`);
  if (r.status === 404) return [];
  return ((await r.json()) as { tags: string[] | null }).tags ?? [];
}

/** Waits for `ok()`, looking every 20 ms: a kill must land while a chunk is still on its way. */
const until = (what: string, ok: () => boolean): Promise<true> => eventually(what, () => ok() || undefined, 60_000, 20);

describe('replicas are disposable', () => {
  let c: Served;
  let d: Served;
  let lb: RoundRobin;
  beforeAll(async () => {
    [c, d] = await Promise.all([replica(), replica()]);
    lb = await startRoundRobin([c.url, d.url]);
  });
  afterAll(async () => {
    await lb?.close();
    await Promise.all([c?.stop(), d?.stop()]);
  });

  test('kill -9 of the replica in the middle of a push: the push goes on through the other, same digest, and only the finished image is tagged', async () => {
    const big = randomLayout(join(work, 'big'), 48 * 2 ** 20);
    lb.pin(0);
    const chunk = 16 * 2 ** 20;
    const push = runStrata(['push', `oci:${work}/big:big`, `${lb.host}/big:v1`, '--chunk-size', String(chunk)]);
    // Killed in the middle of a chunk, with most of it still to come: the PATCH in flight through it is cut.
    await until('a chunk half-way through', () => {
      const n = uploadedBytes('fleet/big') % chunk;
      return n > 2 ** 20 && n < chunk / 2;
    });
    c.child.kill('SIGKILL');
    assert.deepEqual(await upstreamTags('fleet/big'), [], 'no tag before the push ends');
    const r = await push;
    assert.equal(expectOk(r), big.digest);
    // The cut chunk was sent again through the other replica, from where the upstream's session stood. (How many
    // bytes that took is not asserted: once, under load, the blob started over, most likely because distribution 2.8
    // had taken part of the cut chunk after the client asked where the session stood, and cancelled the session.)
    assert.match(r.stderr, /retry upload of blob/);
    assert.deepEqual(await upstreamTags('fleet/big'), ['v1']);
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${d.host}/big:v1`]);
    assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, big.digest);
    assert.ok(lb.served[1]! > 0);
  });

  test('kill -9 of the replica in the middle of a pull: the client resumes through the other and gets the whole blob', async () => {
    const e = await replica();
    const lb2 = await startRoundRobin([e.url, d.url]);
    try {
      lb2.pin(0);
      const layer = randomLayoutLayer(join(work, 'big'));
      const url = `${lb2.url}/v2/big/blobs/${layer}`;
      // A slow reader: the replica is killed while the blob is still coming.
      const received: Buffer[] = [];
      let got = 0;
      const first = (async () => {
        const res = await fetch(url);
        assert.equal(res.status, 200);
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          received.push(Buffer.from(chunk));
          got += chunk.length;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await until('the first bytes', () => got > 2 ** 20);
      e.child.kill('SIGKILL');
      await assert.rejects(first, 'the first download was cut');
      assert.ok(got < 48 * 2 ** 20, `${got} bytes before the cut`);
      // The client's retry asks for the rest (Range), through the other replica.
      const rest = await fetch(url, { headers: { range: `bytes=${got}-` } });
      assert.equal(rest.status, 206);
      received.push(Buffer.from(await rest.arrayBuffer()));
      assert.equal(`sha256:${createHash('sha256').update(Buffer.concat(received)).digest('hex')}`, layer);
    } finally {
      await lb2.close();
      await e.stop();
    }
  });
});

function randomLayoutLayer(dir: string): string {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  return manifest.layers[0]!.digest;
}
