// /healthz and /readyz for load balancers, and the access log's digest field.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'vitest';
import { createAccess } from '../../registry/server/access.js';
import { createRegistryApp } from '../../registry/server/app.js';
import { logRequests, quietLogger, type LogEvent } from '../../registry/server/log.js';
import { MemoryStore } from '../../registry/server/memory-store.js';

// Every other request needs credentials here: the probes must not.
const auth = createAccess({ kind: 'htpasswd', users: new Map([['ci', '$2y$04$invalidinvalidinvalidinvalidinvalidinvalidinvalidinva']]) });

describe('health and readiness', () => {
  test('/healthz answers without credentials; /v2/ still asks for them', async () => {
    const app = createRegistryApp({ store: new MemoryStore(), auth, log: quietLogger });
    const h = await app.request('/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok' });
    assert.equal((await app.request('/v2/')).status, 401);
  });

  test('/readyz is 503 naming what is missing, 200 once it is back, and checks at most every 2 s', async () => {
    let problems = ['the Nix store does not answer'];
    let checks = 0;
    const app = createRegistryApp({
      store: new MemoryStore(),
      auth,
      log: quietLogger,
      ready: () => {
        checks++;
        return Promise.resolve(problems);
      },
    });
    const down = await app.request('/readyz');
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { status: 'not ready', problems: ['the Nix store does not answer'] });
    problems = [];
    // Within the 2 s the last answer stands: one check for both probes.
    assert.equal((await app.request('/readyz')).status, 503);
    assert.equal(checks, 1);
    await new Promise((r) => setTimeout(r, 2100));
    const up = await app.request('/readyz');
    assert.equal(up.status, 200);
    assert.deepEqual(await up.json(), { status: 'ready' });
    assert.equal(checks, 2);
  });

  test('a readiness check that throws is not ready, with its message', async () => {
    const app = createRegistryApp({ store: new MemoryStore(), auth, log: quietLogger, ready: () => Promise.reject(new Error('disk gone')) });
    const r = await app.request('/readyz');
    assert.equal(r.status, 503);
    assert.deepEqual(await r.json(), { status: 'not ready', problems: ['disk gone'] });
  });
});

describe('the access log', () => {
  test('names the digest a request was about: from the path, or the registry’s header for a tag', async () => {
    const events: LogEvent[] = [];
    const server = createServer((req, res) => {
      if (req.url?.endsWith('/manifests/1.0')) res.setHeader('Docker-Content-Digest', `sha256:${'b'.repeat(64)}`);
      res.end('x');
    });
    logRequests(server, (e) => events.push(e));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await (await fetch(`${base}/v2/team/app/blobs/sha256:${'a'.repeat(64)}`)).text();
      await (await fetch(`${base}/v2/team/app/manifests/1.0`)).text();
      await (await fetch(`${base}/v2/team/app/tags/list`)).text();
      await new Promise((r) => setTimeout(r, 50)); // 'close' comes after the body
    } finally {
      server.close();
    }
    const byPath = (end: string) => events.find((e) => String(e['path']).endsWith(end))!;
    assert.equal(byPath(`blobs/sha256:${'a'.repeat(64)}`)['digest'], `sha256:${'a'.repeat(64)}`);
    assert.equal(byPath('manifests/1.0')['digest'], `sha256:${'b'.repeat(64)}`);
    assert.equal(byPath('tags/list')['digest'], undefined);
    for (const e of events) {
      assert.equal(e['repository'], 'team/app');
      assert.equal(typeof e['id'], 'string');
      assert.equal(e['status'], 200);
      assert.equal(e['bytes'], 1);
      assert.equal(typeof e['durationMs'], 'number');
    }
  });
});
