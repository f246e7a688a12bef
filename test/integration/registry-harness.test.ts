// The registry test harness, proved with independent clients (skopeo, podman,
// fetch) before Strata's registry client relies on it: each kind of registry
// takes a real push and refuses what it should, and the fault proxy fails on
// cue and counts what reached the registry.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startGhcrFront } from '../helpers/ghcr-front.js';
import { podmanPull, skopeo } from '../helpers/podman.js';
import { startRegistry } from '../helpers/registry.js';
import { removeDir, sh, tempDir } from '../helpers/strata.js';

let work: string;
let layout: string;
let manifestDigest: string;
let configDigest: string;
/** Bytes of the layer and config blobs: what a push uploads. */
let blobBytes: number;
const stops: (() => Promise<void>)[] = [];

/** Registers a server to stop after the test file, and returns it. */
function cleanup<T extends { stop(): Promise<void> }>(s: T): T {
  stops.push(() => s.stop());
  return s;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(() => {
  work = tempDir('strata-harness-');
  layout = join(work, 'layout');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:t`]);
  sh('sh', ['-c', `echo "harness $$" > "${work}/hello.txt"`]);
  sh('umoci', ['insert', '--image', `${layout}:t`, join(work, 'hello.txt'), '/hello.txt']);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  manifestDigest = index.manifests[0].digest;
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
  configDigest = manifest.config.digest;
  blobBytes = manifest.config.size + manifest.layers.reduce((n: number, l: { size: number }) => n + l.size, 0);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  removeDir(work);
});

const src = () => `oci:${layout}:t`;

/** skopeo's exit status and stderr, for the refusals. */
async function refused(args: string[]): Promise<string> {
  const e = await skopeo(args).then(
    () => null,
    (err: Error) => err,
  );
  assert.ok(e, `skopeo ${args.join(' ')} should have failed`);
  return e.message;
}

async function remoteDigest(ref: string, creds?: string): Promise<string> {
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : ['--no-creds']), `docker://${ref}`]);
  return sha256(Buffer.from(raw));
}

test('plain registry: skopeo pushes, skopeo and podman pull the same digests', async () => {
  const reg = cleanup(await startRegistry());
  await skopeo(['copy', '--dest-tls-verify=false', src(), `docker://${reg.host}/plain/img:t`]);
  assert.equal(await remoteDigest(`${reg.host}/plain/img:t`), manifestDigest);
  const pulled = await podmanPull(`${reg.host}/plain/img:t`);
  assert.equal(pulled.digest, manifestDigest);
  assert.equal(pulled.configDigest, configDigest);
  assert.match(reg.logs(), /method=PUT .*uri="?\/v2\/plain\/img\/manifests\/t"? .*status=201/, 'the registry logged the push');
});

test('htpasswd registry: no or wrong password refused, the right one accepted', async () => {
  const reg = cleanup(await startRegistry({ auth: 'htpasswd', users: { alice: 'right-password' } }));
  const dest = `docker://${reg.host}/basic/img:t`;
  assert.match(await refused(['copy', '--dest-tls-verify=false', '--dest-no-creds', src(), dest]), /unauthorized|authentication required/i);
  assert.match(await refused(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:wrong', src(), dest]), /unauthorized|authentication required/i);
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:right-password', src(), dest]);
  assert.equal(await remoteDigest(`${reg.host}/basic/img:t`, 'alice:right-password'), manifestDigest);
  const bare = await fetch(`${reg.url}/v2/`);
  assert.equal(bare.status, 401);
  assert.match(bare.headers.get('www-authenticate') ?? '', /^Basic realm=/);
});

test('token registry: anonymous push refused, authenticated push accepted, tokens counted', async () => {
  const reg = cleanup(await startRegistry({ auth: 'token', users: { bob: 'token-password' }, anonymousPull: true }));
  const token = reg.token!;
  const dest = `docker://${reg.host}/tok/img:t`;
  assert.match(await refused(['copy', '--dest-tls-verify=false', '--dest-no-creds', src(), dest]), /denied|unauthorized/i);
  assert.match(await refused(['copy', '--dest-tls-verify=false', '--dest-creds', 'bob:wrong', src(), dest]), /wrong username or password|unauthorized/i);
  assert.ok(token.counters.refused >= 1);
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'bob:token-password', src(), dest]);
  assert.ok(token.counters.authenticated > 0 && token.counters.anonymous > 0, JSON.stringify(token.counters));
  assert.ok(token.issued.some((t) => t.account === 'bob' && t.access.some((a) => a.name === 'tok/img' && a.actions.includes('push'))));
  // Anonymous pull is allowed here, and gets a token with pull only.
  assert.equal(await remoteDigest(`${reg.host}/tok/img:t`), manifestDigest);

  // The Bearer challenge names the token server; the OAuth2 form's token works too, within its scope.
  const challenge = await fetch(`${reg.url}/v2/tok/img/manifests/t`);
  assert.equal(challenge.status, 401);
  assert.match(
    challenge.headers.get('www-authenticate') ?? '',
    new RegExp(`^Bearer realm="${token.realm}",service="${token.service}",scope="repository:tok/img:pull"`),
  );
  const form = new URLSearchParams({
    grant_type: 'password',
    username: 'bob',
    password: 'token-password',
    service: token.service,
    scope: 'repository:tok/img:pull',
    client_id: 'harness',
  });
  const oauth = (await (await fetch(token.realm, { method: 'POST', body: form })).json()) as { access_token: string };
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const got = await fetch(`${reg.url}/v2/tok/img/manifests/t`, { headers: { authorization: `Bearer ${oauth.access_token}`, accept } });
  assert.equal(got.status, 200);
  assert.equal(sha256(Buffer.from(await got.arrayBuffer())), manifestDigest);
  const put = await fetch(`${reg.url}/v2/tok/img/manifests/u`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${oauth.access_token}`, 'content-type': accept },
    body: '{}',
  });
  assert.equal(put.status, 401);
  assert.match(put.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
});

test('ghcr front: a token even for public pulls, push needs the user token, no referrers API', async () => {
  const backend = cleanup(await startRegistry());
  const ghcr = cleanup(await startGhcrFront(backend.url, { users: { octo: 'ghp_harness' }, publicRepos: ['octo/public'] }));
  const pub = `${ghcr.host}/octo/public:t`;
  assert.match(await refused(['copy', '--dest-tls-verify=false', '--dest-no-creds', src(), `docker://${pub}`]), /unauthorized|authentication required/i);
  assert.match(
    await refused(['copy', '--dest-tls-verify=false', '--dest-creds', 'octo:not-the-token', src(), `docker://${pub}`]),
    /unauthorized|invalid username\/password/i,
  );
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'octo:ghp_harness', src(), `docker://${pub}`]);
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'octo:ghp_harness', src(), `docker://${ghcr.host}/octo/private:t`]);
  const before = ghcr.counters.anonymousTokens;
  assert.equal(await remoteDigest(pub), manifestDigest);
  assert.ok(ghcr.counters.anonymousTokens > before, 'an anonymous pull asked for a token');
  await refused(['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${ghcr.host}/octo/private:t`]);
  assert.equal(await remoteDigest(`${ghcr.host}/octo/private:t`, 'octo:ghp_harness'), manifestDigest);

  const bare = await fetch(`${ghcr.url}/v2/octo/public/manifests/t`, { method: 'PUT', body: '{}' });
  assert.equal(bare.status, 401);
  assert.equal(bare.headers.get('www-authenticate'), `Bearer realm="${ghcr.url}/token",service="ghcr-front",scope="repository:octo/public:pull,push"`);
  const anon = (await (await fetch(`${ghcr.url}/token?service=ghcr-front&scope=repository:octo/public:pull,push`)).json()) as { token: string };
  const headers = { authorization: `Bearer ${anon.token}` };
  const upload = await fetch(`${ghcr.url}/v2/octo/public/blobs/uploads/`, { method: 'POST', headers });
  assert.equal(upload.status, 401, 'an anonymous token has no push');
  const basic = `Basic ${Buffer.from('octo:ghp_harness').toString('base64')}`;
  const pullOnly = (await (await fetch(`${ghcr.url}/token?scope=repository:octo/public:pull`, { headers: { authorization: basic } })).json()) as {
    token: string;
  };
  const denied = await fetch(`${ghcr.url}/v2/octo/public/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${pullOnly.token}` } });
  assert.equal(denied.status, 403, 'a token is valid only for the scopes it was issued for');
  const referrers = await fetch(`${ghcr.url}/v2/octo/public/referrers/${manifestDigest}`, { headers });
  assert.equal(referrers.status, 404);
  assert.equal(ghcr.counters.referrers, 1);
  // Location headers point back at the front, not at the registry behind it.
  const user = (await (await fetch(`${ghcr.url}/token?scope=repository:octo/public:pull,push`, { headers: { authorization: basic } })).json()) as {
    token: string;
  };
  const started = await fetch(`${ghcr.url}/v2/octo/public/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${user.token}` } });
  assert.equal(started.status, 202);
  assert.ok(started.headers.get('location')?.startsWith(`${ghcr.url}/v2/octo/public/blobs/uploads/`), started.headers.get('location') ?? '');
});

test('ghcr front: a token stops working when it expires', async () => {
  const backend = cleanup(await startRegistry());
  const ghcr = cleanup(await startGhcrFront(backend.url, { users: { octo: 'ghp_harness' }, tokenTtlSeconds: 1 }));
  const basic = `Basic ${Buffer.from('octo:ghp_harness').toString('base64')}`;
  const { token } = (await (await fetch(`${ghcr.url}/token?scope=repository:octo/x:pull`, { headers: { authorization: basic } })).json()) as { token: string };
  const list = () => fetch(`${ghcr.url}/v2/octo/x/tags/list`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await list()).status, 404, 'valid token: the registry behind says the repository is unknown');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await list()).status, 401);
});

test('fault proxy: a 503 on the manifest PUT, then success on the next push; counters see each byte once', async () => {
  const reg = cleanup(await startRegistry());
  const proxy = cleanup(await startFaultProxy(reg.url));
  const rule = proxy.inject({ method: 'PUT', path: /\/manifests\//, nth: 1, kind: 'status', status: 503, retryAfter: 1 });
  const copy = ['copy', '--dest-tls-verify=false', src(), `docker://${proxy.host}/fault/img:t`];
  assert.match(await refused(copy), /503 Service Unavailable/);
  await skopeo(copy);
  assert.equal(rule.fired, 1);
  assert.equal(rule.matched, 2);
  assert.equal(proxy.counters.requests.manifestPut, 2);
  assert.deepEqual(
    proxy.counters.log.filter((e) => e.kind === 'manifestPut').map((e) => e.status ?? e.fault),
    ['status', 201],
  );
  assert.equal(proxy.counters.blobUploadBytes, blobBytes, 'the second push did not upload the blobs again');
  assert.equal(proxy.counters.requests.uploadPost, 2, 'one upload for each blob, in the first push');
  assert.equal(await remoteDigest(`${reg.host}/fault/img:t`), manifestDigest);
  // Location headers name the proxy (the Host header went through).
  const started = await fetch(`${proxy.url}/v2/fault/other/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202);
  assert.ok(started.headers.get('location')?.startsWith(`${proxy.url}/`));
  proxy.reset();
  assert.equal(proxy.counters.requests.uploadPost, 0);
  assert.equal(proxy.counters.log.length, 0);
});

test('fault proxy: reset mid-blob reaches the registry as a cut upload; delay and reset-before-response', async () => {
  const reg = cleanup(await startRegistry());
  const proxy = cleanup(await startFaultProxy(reg.url));
  const blob = randomBytes(1 << 20);
  const octet = { 'content-type': 'application/octet-stream' };
  const post = await fetch(`${proxy.url}/v2/cut/img/blobs/uploads/`, { method: 'POST' });
  const location = post.headers.get('location')!;
  proxy.inject({ method: 'PATCH', nth: 1, kind: 'reset-mid-body', afterBytes: 300_000 });
  const cutOff = (e: Error & { cause?: { code?: string } }) => ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(e.cause?.code ?? '');
  await assert.rejects(fetch(location, { method: 'PATCH', headers: octet, body: blob }), cutOff);
  assert.equal(proxy.counters.bodyBytes.uploadPatch, 300_000);
  assert.equal(proxy.counters.blobUploadBytes, 300_000);
  assert.match(reg.logs(), /client disconnected during blob PATCH.*copied=300000/);
  proxy.clear();
  // Distribution 2.8 keeps what it got, so the offset in the Location's _state no longer matches: the upload is lost.
  const status = await fetch(location);
  assert.equal(status.status, 404);
  assert.match(await status.text(), /BLOB_UPLOAD_INVALID/);
  // A new upload goes through.
  const again = await fetch(`${proxy.url}/v2/cut/img/blobs/uploads/`, { method: 'POST' });
  const put = await fetch(`${again.headers.get('location')}&digest=${sha256(blob)}`, { method: 'PUT', headers: octet, body: blob });
  assert.equal(put.status, 201);

  proxy.inject({ method: 'GET', path: /^\/v2\/$/, first: 1, kind: 'delay', ms: 300 });
  const t0 = Date.now();
  assert.equal((await fetch(`${proxy.url}/v2/`)).status, 200);
  assert.ok(Date.now() - t0 >= 290);

  proxy.inject({ method: 'HEAD', kind: 'reset-before-response' });
  await assert.rejects(fetch(`${proxy.url}/v2/cut/img/blobs/${sha256(blob)}`, { method: 'HEAD' }));
  assert.deepEqual(proxy.counters.log.at(-1), {
    method: 'HEAD',
    path: `/v2/cut/img/blobs/${sha256(blob)}`,
    kind: 'blobHead',
    fault: 'reset-before-response',
    status: 200,
  });
});
