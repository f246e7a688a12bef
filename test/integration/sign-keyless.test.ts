// Keyless signing offline: Fulcio and Rekor stand-ins (@sigstore/mock behind
// loopback HTTP servers), an unsigned test JWT as the OIDC token, and the
// trusted root that names the stand-ins. strata verify checks the certificate,
// the identity and issuer, and the log entry; @sigstore/verify, in this
// process, checks the same bundle on its own.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { startServe, type Served } from '../helpers/serve.js';
import { envWithoutOidc, startSigstore, testIdToken, type SigstoreStandIns } from '../helpers/sigstore.js';
import { lastLine, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const ISSUER = 'https://oidc.strata.test';
const IDENTITY = 'https://github.com/org/app/.github/workflows/release.yml@refs/heads/main';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const env = envWithoutOidc;

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { headers: { accept: `${MANIFEST}, application/vnd.oci.image.index.v1+json` } });
  assert.equal(r.status, 200, `GET ${url}: ${r.status}`);
  return (await r.json()) as T;
}

describe('keyless signing with Fulcio and Rekor stand-ins, on strata serve', () => {
  let dir: string;
  let serve: Served;
  let sigstore: SigstoreStandIns;
  let image: string;
  let digest: string;
  const token = testIdToken({ iss: ISSUER, sub: IDENTITY });
  const verifyArgs = (identity = IDENTITY, issuer = ISSUER, root?: string) => [
    'verify',
    `${image}:v1`,
    '--certificate-identity',
    identity,
    '--certificate-oidc-issuer',
    issuer,
    '--trusted-root',
    root ?? sigstore.trustedRootPath,
  ];

  beforeAll(async () => {
    dir = tempDir('strata-keyless-');
    serve = await startServe(`${dir}/registry`);
    sigstore = await startSigstore(dir);
    image = `${serve.host}/keyless/app`;
    const r = await runStrata(['push', './examples/golden#default', `${image}:v1`, '-q'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    digest = lastLine(r.stdout);
  });
  afterAll(async () => {
    await sigstore?.stop();
    await serve?.stop();
    removeDir(dir);
  });

  test('SIGSTORE_ID_TOKEN: a Fulcio certificate and a Rekor entry; strata verify and @sigstore/verify accept the bundle', async () => {
    const r = await runStrata(['sign', `${image}:v1`, '--fulcio-url', sigstore.fulcioURL, '--rekor-url', sigstore.rekorURL, '--legacy-tag'], {
      env: env({ SIGSTORE_ID_TOKEN: token }),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), 'the token is never printed');
    assert.match(r.stderr, new RegExp(`signed ${image}@${digest} \\(keyless\\).*referrers API; legacy signature under`));
    // One certificate and one log entry for the bundle, the same again for the legacy signature.
    assert.deepEqual(sigstore.counts, { fulcio: 2, rekor: 2 });

    const v = await runStrata(verifyArgs(), { env: env() });
    assert.equal(v.code, 0, v.stderr);
    const lines = v.stdout.trim().split('\n');
    assert.equal(lines.length, 2, v.stdout);
    for (const l of lines)
      assert.match(l, new RegExp(`^strata: verified ${image}@${digest}: identity ${IDENTITY}, issuer ${ISSUER} \\(.*, Rekor log index \\d+\\)$`));

    // @sigstore/verify on its own: the bundle from the registry, the trusted root, the identity.
    const referrer = lastLine(r.stdout);
    const m = await getJson<{ layers: { digest: string }[] }>(`http://${serve.host}/v2/keyless/app/manifests/${referrer}`);
    const bundle = bundleFromJSON(await (await fetch(`http://${serve.host}/v2/keyless/app/blobs/${m.layers[0]!.digest}`)).json());
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(bundle.verificationMaterial.content.$case, 'certificate');
    assert.equal(bundle.verificationMaterial.tlogEntries.length, 1);
    const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(sigstore.trustedRoot)));
    const signer = verifier.verify(toSignedEntity(bundle), { subjectAlternativeName: IDENTITY, extensions: { issuer: ISSUER } });
    assert.equal(signer.identity?.subjectAlternativeName, IDENTITY);
    assert.throws(
      () => verifier.verify(toSignedEntity(bundle), { subjectAlternativeName: 'https://github.com/evil/app', extensions: { issuer: ISSUER } }),
      /identity/,
    );
  });

  test('another identity, another issuer, a root that does not trust the CA, a key: exit 1', async () => {
    const otherRoot = `${dir}/other-root.json`;
    writeFileSync(otherRoot, JSON.stringify({ ...sigstore.trustedRoot, certificateAuthorities: [] }));
    const cases: [string[], RegExp][] = [
      [verifyArgs('https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main'), /certificate identity error/],
      [verifyArgs(IDENTITY, 'https://token.actions.githubusercontent.com'), /issuer/],
      [verifyArgs(IDENTITY, ISSUER, otherRoot), /certificate/i],
    ];
    for (const [args, reason] of cases) {
      const v = await runStrata(args, { env: env() });
      assert.equal(v.code, 1, `${args.join(' ')}: ${v.stderr}`);
      assert.equal(v.stdout, '');
      assert.match(v.stderr, /^strata: not verified: /);
      assert.match(v.stderr, reason);
    }
    assert.equal((await runStrata(['keygen', '-o', `${dir}/k`])).code, 0);
    const withKey = await runStrata(['verify', `${image}:v1`, '--key', `${dir}/k.pub`], { env: env() });
    assert.equal(withKey.code, 1, withKey.stderr);
    assert.match(withKey.stderr, /signed keyless \(a Fulcio certificate\), and --key was given/);
  });

  test('GitHub Actions: the token is asked for with audience sigstore and the request token; neither is printed', async () => {
    const requestToken = 'gha-request-token-secret';
    const seen: { audience: string | null; authorization: string | undefined }[] = [];
    const gha: Server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      seen.push({ audience: u.searchParams.get('audience'), authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: token }));
    });
    await new Promise<void>((resolve) => gha.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(gha.address() as { port: number }).port}/token?api-version=2.0`;
      const r = await runStrata(
        [
          'push',
          './examples/golden#default',
          `${image}:gha`,
          '-q',
          '--label',
          'gha=yes',
          '--sign',
          '--fulcio-url',
          sigstore.fulcioURL,
          '--rekor-url',
          sigstore.rekorURL,
        ],
        {
          env: env({ ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken }),
        },
      );
      assert.equal(r.code, 0, r.stderr);
      // Twice: once checked before the push, and a fresh one to sign with after it (sign-order.test.ts).
      assert.deepEqual(seen, Array(2).fill({ audience: 'sigstore', authorization: `Bearer ${requestToken}` }));
      for (const secret of [token, requestToken]) assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret));
      const v = await runStrata(
        ['verify', `${image}:gha`, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--trusted-root', sigstore.trustedRootPath],
        { env: env() },
      );
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`^strata: verified ${image}@${lastLine(r.stdout)}: identity ${IDENTITY}`));
    } finally {
      await new Promise<void>((resolve) => gha.close(() => resolve()));
    }
  });

  test('a token that is not a JWT is refused without being echoed; Fulcio unreachable is exit 9', async () => {
    const bad = 'not-a-jwt-secret-value';
    const r = await runStrata(['sign', `${image}:v1`, '--fulcio-url', sigstore.fulcioURL, '--rekor-url', sigstore.rekorURL], {
      env: env({ SIGSTORE_ID_TOKEN: bad }),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /SIGSTORE_ID_TOKEN is not a JWT/);
    assert.ok(!r.stderr.includes(bad));
    const expired = testIdToken({ sub: IDENTITY, iss: ISSUER, exp: Math.floor(Date.now() / 1000) - 60 });
    const late = await runStrata(['sign', `${image}:v1`, '--fulcio-url', sigstore.fulcioURL, '--rekor-url', sigstore.rekorURL], {
      env: env({ SIGSTORE_ID_TOKEN: expired }),
    });
    assert.equal(late.code, 2, late.stderr);
    assert.match(late.stderr, /SIGSTORE_ID_TOKEN expired at /);
    assert.ok(!late.stderr.includes(expired));
    const down = await runStrata(['sign', `${image}:v1`, '--fulcio-url', 'http://127.0.0.1:1', '--rekor-url', sigstore.rekorURL], {
      env: env({ SIGSTORE_ID_TOKEN: token }),
    });
    assert.equal(down.code, 9, down.stderr);
    assert.match(down.stderr, /^strata: signing failed: /);
    assert.ok(!down.stderr.includes(token));
  });
});
