// Registry storage trusts nothing its upstream or its clients send about
// where to go or what bytes are: an upload Location on another origin is
// refused, blob bytes that are not the digest never reach a client as a whole
// answer, and an upload id a client made up (another secret, a foreign
// location) sends nothing anywhere. The upstream here is a hostile registry.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { quietLogger } from '../../registry/server/log.js';
import { serve, type RunningServer } from '../../src/serve.js';
import { removeDir, tempDir } from '../helpers/strata.js';
import { sha, startOrigin, type Origin } from './hostile-registry.js';

const good = Buffer.from('the blob the digest names');
const goodDigest = sha(good);
// Big enough to come in many chunks: every byte but the last kind is passed on before the digest can be known.
const big = Buffer.alloc(4 * 2 ** 20, 0x42);
const bigDigest = sha(big);

let upstream: Origin;
let elsewhere: Origin;
let srv: RunningServer;
let work: string;

beforeAll(async () => {
  work = tempDir('strata-serve-upstream-');
  elsewhere = await startOrigin((_req, res) => void res.writeHead(202, { location: '/whatever' }).end());
  upstream = await startOrigin((req, res, url) => {
    const p = url.pathname;
    if (p === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    // Sessions handed out on another origin.
    if (req.method === 'POST' && p.endsWith('/blobs/uploads/')) return void res.writeHead(202, { location: `${elsewhere.url}/v2/p/app/blobs/uploads/x` }).end();
    // Blobs whose bytes are not their digest's, with the right length.
    if (p === `/v2/p/app/blobs/${goodDigest}` || p === `/v2/p/app/blobs/${bigDigest}`) {
      const bad = Buffer.alloc(p.endsWith(goodDigest) ? good.length : big.length, 0x41);
      res.writeHead(200, { 'content-length': String(bad.length), 'docker-content-digest': goodDigest });
      return void res.end(req.method === 'HEAD' ? undefined : bad);
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}');
  });
  const secret = join(work, 'secret');
  writeFileSync(secret, randomBytes(32));
  srv = await serve({
    listen: '127.0.0.1:0',
    root: '',
    storage: `docker://127.0.0.1:${upstream.port}/p`,
    fleetSecretFile: secret,
    allowAnonymousPush: true,
    log: quietLogger,
  });
});
afterAll(async () => {
  await srv?.close();
  await Promise.all([upstream?.stop(), elsewhere?.stop()]);
  removeDir(work);
});

test('an upload session the upstream hands out on another origin is refused: nothing goes there', async () => {
  const r = await fetch(`${srv.url}/v2/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(r.status, 500);
  assert.doesNotMatch(await r.text(), new RegExp(String(elsewhere.port)));
  assert.deepEqual(elsewhere.hits, []);
});

test('blob bytes that are not the digest end the answer early: no client takes them for the blob', async () => {
  for (const digest of [goodDigest, bigDigest]) {
    const r = await fetch(`${srv.url}/v2/app/blobs/${digest}`);
    assert.equal(r.status, 200);
    // Cut short of its Content-Length: the last chunk is held back until the hash is known, and it was wrong.
    await assert.rejects(r.arrayBuffer(), digest);
  }
});

test('an upload id signed with another secret, steering to another origin, is BLOB_UPLOAD_UNKNOWN and sends nothing anywhere', async () => {
  const before = upstream.hits.length;
  const payload = Buffer.from(JSON.stringify(['app', `/v2/p/app/blobs/uploads/x?to=${elsewhere.url}`, 0, Math.floor(Date.now() / 1000)])).toString('base64url');
  const mac = createHmac('sha256', randomBytes(32)).update('strata upload session\0').update(payload).digest('base64url');
  for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
    const r = await fetch(`${srv.url}/v2/app/blobs/uploads/${payload}.${mac}?digest=${goodDigest}`, {
      method,
      ...(method === 'PATCH' || method === 'PUT' ? { body: 'x' } : {}),
    });
    assert.equal(r.status, 404, method);
    assert.equal(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
  }
  assert.equal(upstream.hits.length, before);
  assert.deepEqual(elsewhere.hits, []);
});
