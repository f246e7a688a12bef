// strata serve on loopback against DNS rebinding (issue 12, point 6): a page
// whose name an attacker points at 127.0.0.1 makes the browser send requests
// with that name as Host. A server listening on loopback only answers
// loopback Host names, so such a page can neither push nor delete (with
// --allow-anonymous-push) nor start Nix builds through the bridge.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { startServe, type Served } from '../helpers/serve.js';
import { removeDir, tempDir } from '../helpers/strata.js';

/** A request with the Host header given (fetch would put the URL's own). */
function send(url: string, method: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: { host, 'content-length': '0' } }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const builds = (s: Served) =>
  s
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('strata: building broken ')).length;

describe('strata serve --allow-anonymous-push on loopback', () => {
  const work = tempDir();
  let srv: Served;
  let port: string;
  beforeAll(async () => {
    // A bridged repository whose build fails fast: whether a build starts shows in the log.
    srv = await startServe(join(work, 'root'), ['--allow-anonymous-push', '--image', 'broken=./examples/golden#no-such-package']);
    port = new URL(srv.url).port;
  });
  afterAll(async () => {
    await srv?.stop();
    removeDir(work);
  });

  test('a request whose Host is not a loopback name is refused: no push, no delete, no read', async () => {
    for (const host of [
      `rebound.example:${port}`,
      'rebound.example',
      `10.0.0.1:${port}`,
      `localhost.example.com:${port}`,
      `127.0.0.1.rebound.example:${port}`,
    ]) {
      for (const [method, path] of [
        ['POST', '/v2/app/blobs/uploads/'],
        ['DELETE', '/v2/app/manifests/latest'],
        ['GET', '/v2/app/tags/list'],
        ['GET', '/v2/'],
      ] as const) {
        const r = await send(srv.url, method, path, host);
        assert.equal(r.status, 403, `${method} ${path} with Host ${host}: ${r.status} ${r.body}`);
        assert.equal(JSON.parse(r.body).errors[0].code, 'DENIED');
      }
    }
  });

  test('loopback names and addresses are answered', async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LocalHost:${port}`,
      `app.localhost:${port}`,
      `127.1.2.3:${port}`,
      `[::1]:${port}`,
      'localhost',
      `localhost.:${port}`,
    ]) {
      const r = await send(srv.url, 'POST', '/v2/app/blobs/uploads/', host);
      assert.equal(r.status, 202, `Host ${host}: ${r.status} ${r.body}`);
    }
  });

  test('a bridged repository asked for under a foreign Host starts no build; under a loopback one it does', async () => {
    const refused = await send(srv.url, 'GET', '/v2/broken/manifests/latest', `rebound.example:${port}`);
    assert.equal(refused.status, 403, refused.body);
    assert.equal(builds(srv), 0, srv.stderr());
    const asked = await send(srv.url, 'GET', '/v2/broken/manifests/latest', `127.0.0.1:${port}`);
    assert.notEqual(asked.status, 403, asked.body);
    assert.equal(builds(srv), 1, srv.stderr());
  });
});
