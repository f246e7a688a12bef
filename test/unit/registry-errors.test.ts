// A registry's refusal, as the client reports it: the distribution spec's error
// code, whether trying again could help, and the URL asked without its query
// (an upload Location's query can carry the registry's state or a signature).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { RegistryHttpError, RegistrySession } from '../../registry/session.js';

describe('registry errors', () => {
  let server: Server;
  let host: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.url?.startsWith('/v2/app/manifests/')) {
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: {} }] }));
      }
      res.writeHead(503).end('busy');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const session = () => RegistrySession.for(host, { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  async function refusal(path: string): Promise<RegistryHttpError> {
    const e: unknown = await session()
      .request({ method: 'PUT', path, scopes: [], step: 'the step', expect: [201] })
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    assert.ok(e instanceof RegistryHttpError, String(e));
    return e;
  }

  test("a refusal carries the spec's code and is not retryable; the message is as before", async () => {
    const e = await refusal('/v2/app/manifests/v1');
    assert.equal(e.status, 400);
    assert.equal(e.specCode, 'MANIFEST_INVALID');
    assert.equal(e.retryable, false);
    assert.equal(e.message, `the step failed: registry ${host} answered 400 (MANIFEST_INVALID: manifest invalid)`);
  });

  test('a 503 is retryable, has no spec code, and its URL drops the query', async () => {
    const e = await refusal('/v2/app/blobs/uploads/abc?_state=SECRET&digest=sha256:00');
    assert.equal(e.status, 503);
    assert.equal(e.specCode, undefined);
    assert.equal(e.retryable, true);
    assert.equal(e.url, `http://${host}/v2/app/blobs/uploads/abc`);
    assert.doesNotMatch(`${e.message} ${e.url}`, /SECRET/);
  });
});
