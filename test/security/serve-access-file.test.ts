// strata serve --access-file (issue 12, point 8): which user may pull, push
// and delete which repositories. A user who may push team-a/* can neither
// push to nor delete from team-b/*; anonymous reads only what the file says.
// Real `strata serve`, skopeo as the pushing client, raw requests for the rest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import bcrypt from 'bcryptjs';
import { parsePolicy } from '../../registry/server/access-policy.js';
import { skopeo } from '../helpers/podman.js';
import { startServe, type Served } from '../helpers/serve.js';
import { removeDir, runStrata, tempDir } from '../helpers/strata.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** An OCI layout with one small image tagged t: skopeo's source. */
function writeLayout(dir: string): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blob = (bytes: Buffer) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, 'blobs', 'sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layer = blob(Buffer.from('access-file test layer'));
  const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} })));
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MANIFEST, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 't' } }] }),
  );
}

describe('strata serve --access-file', () => {
  const work = tempDir();
  let srv: Served;
  let layout: string;
  const call = async (method: string, path: string, user?: string) => {
    const auth = user ? { authorization: basic(user, `${user}-pw`) } : {};
    const r = await fetch(`${srv.url}${path}`, { method, headers: { accept: MANIFEST, ...auth } });
    await r.arrayBuffer();
    return r.status;
  };
  const push = (user: string, repo: string) =>
    skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${user}:${user}-pw`, `oci:${layout}:t`, `docker://${srv.host}/${repo}:v1`]);

  beforeAll(async () => {
    layout = join(work, 'layout');
    writeLayout(layout);
    const htpasswd = join(work, 'htpasswd');
    writeFileSync(htpasswd, ['alice', 'bob', 'carol'].map((u) => `${u}:${bcrypt.hashSync(`${u}-pw`, 5)}\n`).join(''));
    const access = join(work, 'access.json');
    writeFileSync(
      access,
      JSON.stringify({
        anonymous: { pull: ['public/*'] },
        users: {
          alice: { pull: ['team-a/*'], push: ['team-a/*', 'public/*'], delete: ['team-a/*'] },
          bob: { pull: ['*'], push: ['team-b/*'] },
        },
      }),
    );
    srv = await startServe(join(work, 'root'), ['--htpasswd', htpasswd, '--access-file', access]);
  });
  afterAll(async () => {
    await srv?.stop();
    removeDir(work);
  });

  test('a user pushes where the file lets them, and is denied elsewhere', async () => {
    await push('alice', 'team-a/app');
    await push('alice', 'public/app');
    await push('bob', 'team-b/app');
    await assert.rejects(push('alice', 'team-b/app2'), /denied|forbidden/i);
    await assert.rejects(push('bob', 'team-a/app2'), /denied|forbidden/i);
    await assert.rejects(push('carol', 'team-a/app3'), /denied|forbidden/i);
    assert.equal(await call('GET', '/v2/team-b/app2/tags/list', 'bob'), 404);
    assert.equal(await call('GET', '/v2/team-a/app2/tags/list', 'bob'), 404);
  });

  test('pulls: anonymous only public/*, users their patterns; 401 without credentials, 403 with', async () => {
    const m = (repo: string) => `/v2/${repo}/manifests/v1`;
    assert.equal(await call('GET', m('public/app')), 200);
    assert.equal(await call('GET', m('team-a/app')), 401);
    assert.equal(await call('GET', '/v2/team-a/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000'), 401);
    assert.equal(await call('GET', '/v2/team-a/app/tags/list'), 401);
    assert.equal(await call('GET', m('team-a/app'), 'alice'), 200);
    assert.equal(await call('GET', m('team-b/app'), 'alice'), 403);
    assert.equal(await call('GET', m('team-a/app'), 'bob'), 200);
    assert.equal(await call('GET', m('team-a/app'), 'carol'), 403);
    assert.equal(await call('HEAD', m('team-a/app'), 'carol'), 403);
    assert.equal(await call('GET', m('public/app'), 'carol'), 200);
    // Wrong credentials on what anonymous may read are ignored, as without an access file.
    assert.equal(await call('GET', m('public/app'), 'mallory'), 200);
    assert.equal(await call('GET', m('team-a/app'), 'mallory'), 401);
  });

  test('deletes need the delete right; a mount needs pull on its source', async () => {
    // What skopeo pushed (it may have rewritten the layer and so the manifest).
    const r = await fetch(`${srv.url}/v2/team-a/app/manifests/v1`, { headers: { accept: MANIFEST, authorization: basic('alice', 'alice-pw') } });
    const image = { manifest: r.headers.get('docker-content-digest')!, layer: ((await r.json()) as { layers: { digest: string }[] }).layers[0]!.digest };
    assert.equal(await call('DELETE', `/v2/team-b/app/manifests/${image.manifest}`, 'bob'), 403);
    assert.equal(await call('DELETE', `/v2/team-b/app/manifests/${image.manifest}`, 'alice'), 403);
    assert.equal(await call('DELETE', `/v2/team-b/app/manifests/${image.manifest}`), 401);
    assert.equal(await call('GET', '/v2/team-b/app/manifests/v1', 'bob'), 200);
    // alice may push team-a/* but not read team-b: no copying its blobs across by a mount.
    assert.equal(await call('POST', `/v2/team-a/other/blobs/uploads/?mount=${image.layer}&from=team-b/app`, 'alice'), 403);
    assert.equal(await call('POST', `/v2/team-b/other/blobs/uploads/?mount=${image.layer}&from=team-a/app`, 'bob'), 201);
    assert.equal(await call('DELETE', `/v2/team-a/app/manifests/${image.manifest}`, 'alice'), 202);
    assert.equal(await call('GET', '/v2/team-a/app/manifests/v1', 'alice'), 404);
  });

  test('patterns: * is any run of characters, slashes included', () => {
    const p = parsePolicy(JSON.stringify({ anonymous: {}, users: { u: { push: ['team-a/*', 'exact', 'x*z'] } } }));
    for (const repo of ['team-a/app', 'team-a/x/y', 'exact', 'xz', 'x/y/z']) assert.ok(p.allows('u', 'push', repo), repo);
    for (const repo of ['team-a', 'team-ab/app', 'exactly', 'other/team-a/app', 'xza']) assert.ok(!p.allows('u', 'push', repo), repo);
    assert.ok(!p.allows(undefined, 'pull', 'team-a/app'), 'anonymous: {} reads nothing');
    assert.ok(parsePolicy('{}').allows(undefined, 'pull', 'any/thing'), 'without "anonymous", anyone pulls');
  });

  test('an access file that names a user without a password, has an unknown key, or comes without --htpasswd is refused at start', async () => {
    const htpasswd = join(work, 'htpasswd');
    const cases: [string, RegExp, boolean][] = [
      [JSON.stringify({ users: { dave: { pull: ['*'] } } }), /dave not in --htpasswd/, true],
      [JSON.stringify({ users: { alice: { puhs: ['*'] } } }), /"puhs" is none of/, true],
      [JSON.stringify({ anonymus: { pull: ['*'] } }), /"anonymus" is neither/, true],
      ['{"users": ', /not JSON/, true],
      ['{}', /--access-file goes with --htpasswd/, false],
    ];
    for (const [i, [text, message, withHtpasswd]] of cases.entries()) {
      const file = join(work, `bad-${i}.json`);
      writeFileSync(file, text);
      const r = await runStrata([
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--root',
        join(work, 'bad-root'),
        ...(withHtpasswd ? ['--htpasswd', htpasswd] : []),
        '--access-file',
        file,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
