// Credentials follow the registry, never a URL it hands out (issue 12, point 1).
// A registry on loopback (plain HTTP, then HTTPS with plain HTTP on the same
// port) hands the client URLs on its own origin, on another host (127.0.0.2,
// same port), on another port, and on plain HTTP: as an upload Location, a
// blob redirect, a manifest redirect, a token realm, and a redirect whose
// target answers 401 with a challenge of its own. Every other origin records
// the Authorization headers it is sent; none may see the registry's.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { uploadBlob, bufferSource, getBlob, type Repository } from '../../registry/blobs.js';
import { getManifest } from '../../registry/manifests.js';
import { RegistrySession, type SessionOptions } from '../../registry/session.js';
import { expectFailure, removeDir, runStrata, tempDir, nixEnv } from '../helpers/strata.js';
import {
  BASIC,
  challengeHandler,
  cleanup,
  makeCert,
  PASSWORD,
  registryHandler,
  sawCredentials,
  startOrigin,
  storageHandler,
  tinyImage,
  trustInProcess,
  USER,
  writeLayout,
  type Cert,
  type Origin,
  type RegistryBehaviour,
} from './hostile-registry.js';

const img = tinyImage();
const layerDigest = [...img.blobs.keys()][0]! as `sha256:${string}`;
const fresh = Buffer.from('a blob the registry has not seen');

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

for (const scheme of ['http', 'https'] as const) {
  describe(`a registry on ${scheme}`, () => {
    let cert: Cert | undefined;
    let registry: Origin;
    let otherHost: Origin;
    let otherPort: Origin;
    let plain: Origin | undefined;
    const behaviour: RegistryBehaviour = {};

    beforeAll(async () => {
      if (scheme === 'https') {
        cert = await makeCert();
        trustInProcess(cert);
      }
      const tls = cert ? { tls: cert, alsoPlain: true } : {};
      registry = await startOrigin(() => undefined, tls);
      registry.handler = registryHandler(img, behaviour, () => registry.url);
      otherHost = await startOrigin(storageHandler(img), { ...tls, host: '127.0.0.2', port: registry.port });
      otherPort = await startOrigin(storageHandler(img), tls);
      if (scheme === 'https') plain = await startOrigin(storageHandler(img));
    });
    afterAll(async () => {
      for (const o of [registry, otherHost, otherPort, plain]) await o?.stop();
      cleanup(cert);
    });

    /** A fresh session (sessions are per options object) with the registry's Basic credentials. */
    function repo(extra: SessionOptions = {}): Repository {
      const opts: SessionOptions = { credentials: { username: USER, password: PASSWORD }, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, ...extra };
      return { session: RegistrySession.for(`127.0.0.1:${registry.port}`, opts), name: 'test/app' };
    }
    function reset(b: RegistryBehaviour): void {
      for (const k of Object.keys(behaviour)) delete behaviour[k as keyof RegistryBehaviour];
      Object.assign(behaviour, b);
      for (const o of [registry, otherHost, otherPort, plain]) if (o) o.hits.length = 0;
    }

    test('its own origin gets the credentials, for an absolute upload Location and a redirect', async () => {
      reset({ auth: 'basic', uploadLocation: () => `${registry.url}/upload/1`, blobRedirect: () => `${registry.url}/storage/` });
      await uploadBlob(repo(), bufferSource(fresh));
      assert.ok(
        registry.hits.some((h) => h.path.startsWith('/upload/1') && h.method === 'PUT' && h.authorization === BASIC),
        JSON.stringify(registry.hits),
      );
      assert.deepEqual(await readAll(await getBlob(repo(), layerDigest)), img.layer);
      assert.ok(registry.hits.some((h) => h.path.startsWith('/storage/') && h.authorization === BASIC));
    });

    test("a 401 from a redirect on its own origin is the registry's own challenge: a new token, and the download goes through", async () => {
      reset({ auth: { realm: `${registry.url}/token` }, blobRedirect: () => `${registry.url}/private/` });
      const normal = registry.handler;
      let challenges = 1;
      registry.handler = (req, res, url) => {
        if (!url.pathname.startsWith('/private/')) return normal(req, res, url);
        if (challenges-- > 0) return void res.writeHead(401, { 'www-authenticate': `Bearer realm="${registry.url}/token",service="hostile"` }).end();
        return normal(req, res, new URL(url.pathname.replace('/private/', '/storage/'), url));
      };
      try {
        assert.deepEqual(await readAll(await getBlob(repo(), layerDigest)), img.layer);
        assert.equal(registry.hits.filter((h) => h.path.startsWith('/token')).length, 2, 'the token was taken again after the 401');
        assert.ok(registry.hits.filter((h) => h.path.startsWith('/private/')).every((h) => h.authorization === 'Bearer registry-token'));
      } finally {
        registry.handler = normal;
      }
    });

    for (const { name, origin } of [
      { name: 'another host', origin: () => otherHost },
      { name: 'another port', origin: () => otherPort },
    ]) {
      test(`an upload Location on ${name} gets the upload without credentials`, async () => {
        reset({ auth: 'basic', uploadLocation: () => `${origin().url}/upload/1` });
        await uploadBlob(repo(), bufferSource(fresh));
        assert.ok(
          origin().hits.some((h) => h.method === 'PUT'),
          'the upload went to the Location',
        );
        assert.equal(sawCredentials(origin()), false, `${name} was sent: ${JSON.stringify(origin().hits)}`);
      });
      test(`a blob redirect to ${name} is followed without credentials`, async () => {
        reset({ auth: 'basic', blobRedirect: () => `${origin().url}/storage/` });
        assert.deepEqual(await readAll(await getBlob(repo(), layerDigest)), img.layer);
        assert.equal(sawCredentials(origin()), false);
      });
      test(`a manifest redirect to ${name} is followed without credentials`, async () => {
        reset({ auth: 'basic', manifestRedirect: () => `${origin().url}/storage/` });
        const m = await getManifest(repo(), 'latest');
        assert.equal(m?.digest, img.manifestDigest);
        assert.ok(origin().hits.length > 0);
        assert.equal(sawCredentials(origin()), false);
      });
      test(`a token realm on ${name} is the token service: it gets the credentials, the token goes to the registry`, async () => {
        reset({ auth: { realm: `${origin().url}/token` } });
        const m = await getManifest(repo(), 'latest');
        assert.equal(m?.digest, img.manifestDigest);
        assert.ok(origin().hits.some((h) => h.path.startsWith('/token') && h.authorization === BASIC));
      });
      test(`a redirect to ${name} answering 401 with its own challenge gets no credentials, nor does its realm`, async () => {
        const attacker = origin();
        const saved = attacker.handler;
        attacker.handler = challengeHandler(() => attacker.url);
        try {
          reset({ auth: 'basic', blobRedirect: () => `${attacker.url}/storage/` });
          await assert.rejects(getBlob(repo(), layerDigest), (e: Error) => /401|refused|denied/.test(e.message));
          assert.equal(sawCredentials(attacker), false, JSON.stringify(attacker.hits));
          assert.ok(!attacker.hits.some((h) => h.path.startsWith('/token')), 'the attacker realm was not asked for a token');
        } finally {
          attacker.handler = saved;
        }
      });
    }

    if (scheme === 'https') {
      const downgrades = [
        {
          what: 'an upload Location',
          set: (u: string): RegistryBehaviour => ({ auth: 'basic', uploadLocation: () => `${u}/upload/1` }),
          run: (r: Repository) => uploadBlob(r, bufferSource(fresh)),
        },
        {
          what: 'a blob redirect',
          set: (u: string): RegistryBehaviour => ({ auth: 'basic', blobRedirect: () => `${u}/storage/` }),
          run: async (r: Repository) => readAll(await getBlob(r, layerDigest)),
        },
        {
          what: 'a manifest redirect',
          set: (u: string): RegistryBehaviour => ({ auth: 'basic', manifestRedirect: () => `${u}/storage/` }),
          run: (r: Repository) => getManifest(r, 'latest'),
        },
        { what: 'a token realm', set: (u: string): RegistryBehaviour => ({ auth: { realm: `${u}/token` } }), run: (r: Repository) => getManifest(r, 'latest') },
      ];
      for (const d of downgrades) {
        test(`${d.what} on plain HTTP is refused, with a line naming it, and nothing is sent there`, async () => {
          reset(d.set(plain!.url));
          await assert.rejects(d.run(repo()), (e: Error & { code?: string }) => {
            assert.match(e.message, new RegExp(`plain HTTP.*${plain!.url.replace(/[.:/]/g, '\\$&')}|${plain!.url.replace(/[.:/]/g, '\\$&')}.*plain HTTP`));
            assert.ok(!e.message.includes('\n'));
            return true;
          });
          assert.deepEqual(plain!.hits, []);
        });
        test(`with --insecure, ${d.what} on plain HTTP is allowed to the registry's own host and port only`, async () => {
          reset(d.set(plain!.url));
          await assert.rejects(d.run(repo({ insecure: true })), /plain HTTP/);
          assert.deepEqual(plain!.hits, [], 'another port is still refused');
          const own = registry.url.replace('https:', 'http:');
          reset(d.set(own));
          await d.run(repo({ insecure: true }));
          assert.ok(
            registry.hits.some((h) => !h.secure && !h.path.startsWith('/v2/') && h.authorization === BASIC),
            JSON.stringify(registry.hits),
          );
        });
      }

      test('the CLI refuses a plain-HTTP upload Location (exit 7), and the password never reaches it', async () => {
        reset({ auth: 'basic', empty: true, uploadLocation: () => `${plain!.url}/upload/1` });
        const dir = tempDir();
        try {
          writeLayout(dir, img);
          const r = await runStrata(
            ['push', `oci:${dir}`, `127.0.0.1:${registry.port}/test/app:latest`, '--username', USER, '--password-stdin', '--retries', '1', '-q'],
            { input: PASSWORD, env: nixEnv({ ...process.env, NODE_EXTRA_CA_CERTS: cert!.path }) },
          );
          expectFailure(r, 7, /plain HTTP/);
          assert.deepEqual(plain!.hits, []);
        } finally {
          removeDir(dir);
        }
      });
    }

    test('the CLI: push with an upload Location on another host sends no credentials there', async () => {
      reset({ auth: 'basic', empty: true, uploadLocation: () => `${otherHost.url}/upload/1` });
      const dir = tempDir();
      try {
        writeLayout(dir, img);
        const env = nixEnv({ ...process.env, ...(cert ? { NODE_EXTRA_CA_CERTS: cert.path } : {}) });
        const r = await runStrata(
          ['push', `oci:${dir}`, `127.0.0.1:${registry.port}/test/app:latest`, '--username', USER, '--password-stdin', '--retries', '1', '-q'],
          { input: PASSWORD, env },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.ok(
          otherHost.hits.some((h) => h.method === 'PUT'),
          JSON.stringify(otherHost.hits),
        );
        assert.equal(sawCredentials(otherHost), false, JSON.stringify(otherHost.hits));
        assert.ok(registry.hits.some((h) => h.authorization === BASIC));
      } finally {
        removeDir(dir);
      }
    });
  });
}
