// No tag on an unsigned image: `push --sign` and `index --sign` check what
// signing needs before the first upload (a key, or a token source and Fulcio
// and Rekor answering), push by digest, sign, and only then write tags. Each
// failure is followed by a look at a real registry (distribution 2.8): what
// was uploaded, which tags exist. Keyless, against the Sigstore stand-ins.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { envWithoutOidc, startSigstore, testIdToken, type SigstoreStandIns } from '../helpers/sigstore.js';
import { lastLine, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const ISSUER = 'https://oidc.strata.test';
const IDENTITY = 'https://github.com/org/app/.github/workflows/release.yml@refs/heads/main';
const GOLDEN = './examples/golden#default';

const env = envWithoutOidc;

describe('push --sign and index --sign: preflight, push by digest, sign, tag last', () => {
  let dir: string;
  let reg: Registry;
  let sigstore: SigstoreStandIns;
  let digest: string;
  let layout: string;
  const token = testIdToken({ iss: ISSUER, sub: IDENTITY });
  const keyless = () => ['--sign', '--fulcio-url', sigstore.fulcioURL, '--rekor-url', sigstore.rekorURL];
  const verify = (ref: string) =>
    runStrata(['verify', ref, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--trusted-root', sigstore.trustedRootPath], {
      env: env(),
    });

  /** The repository's tags; none when the registry does not know it. */
  const tags = async (repo: string): Promise<string[]> => {
    const r = await fetch(`${reg.url}/v2/${repo}/tags/list`);
    if (r.status === 404) return [];
    assert.equal(r.status, 200);
    return ((await r.json()) as { tags: string[] | null }).tags ?? [];
  };
  const catalog = async (): Promise<string[]> => ((await (await fetch(`${reg.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
  const hasManifest = async (repo: string, ref: string) =>
    (
      await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' },
      })
    ).status === 200;
  /** Nothing of the push reached the registry: no repository, so no blob, manifest or tag. */
  const untouched = async (repo: string) => {
    assert.ok(!(await catalog()).includes(repo), `${repo} is in the catalog: something was uploaded`);
    assert.deepEqual(await tags(repo), []);
  };

  beforeAll(async () => {
    dir = tempDir('strata-sign-order-');
    reg = await startRegistry();
    sigstore = await startSigstore(dir);
    layout = `oci:${dir}/layout:v1`;
    const b = await runStrata(['build', GOLDEN, '-o', layout], { env: env() });
    assert.equal(b.code, 0, b.stderr);
    digest = lastLine(b.stdout);
  });
  afterAll(async () => {
    await sigstore?.stop();
    await reg?.stop();
    removeDir(dir);
  });

  for (const [kind, source] of [
    ['a Nix installable', () => GOLDEN],
    ['an image (oci: layout)', () => layout],
  ] as const) {
    const slug = kind.startsWith('a Nix') ? 'nix' : 'oci';

    test(`${kind}: no key and no OIDC token source: exit 2 before any upload`, async () => {
      const repo = `${slug}/no-token`;
      const r = await runStrata(['push', source(), `${reg.host}/${repo}:v1`, '-q', ...keyless()], { env: env() });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /keyless signing needs an OIDC token/);
      await untouched(repo);
    });

    test(`${kind}: Fulcio unreachable: exit 9 before any upload`, async () => {
      const repo = `${slug}/no-fulcio`;
      const r = await runStrata(
        ['push', source(), `${reg.host}/${repo}:v1`, '-q', '--sign', '--fulcio-url', 'http://127.0.0.1:1', '--rekor-url', sigstore.rekorURL],
        { env: env({ SIGSTORE_ID_TOKEN: token }) },
      );
      assert.equal(r.code, 9, r.stderr);
      assert.match(r.stderr, /^strata: .*Fulcio.*http:\/\/127\.0\.0\.1:1/m);
      assert.ok(!r.stderr.includes(token));
      await untouched(repo);
    });

    test(`${kind}: signing fails after the push: the image is there by digest, with no tag`, async () => {
      const repo = `${slug}/refused`;
      sigstore.refuse.fulcio = true;
      try {
        const digestFile = join(tempDir('strata-digest-file-'), 'digest');
        const r = await runStrata(['push', source(), `${reg.host}/${repo}:v1`, '--tag', 'latest', '-q', '--digest-file', digestFile, ...keyless()], {
          env: env({ SIGSTORE_ID_TOKEN: token }),
        });
        assert.equal(r.code, 9, r.stderr);
        assert.match(r.stderr, /^strata: signing failed: /m);
        assert.equal(existsSync(digestFile), false, 'the digest file names an unsigned image');
      } finally {
        sigstore.refuse.fulcio = false;
      }
      assert.ok(await hasManifest(repo, digest), 'the image was pushed by digest');
      assert.deepEqual(await tags(repo), []);
    });

    test(`${kind}: signed, then tagged: every tag names the signed digest and verify passes on it`, async () => {
      const repo = `${slug}/signed`;
      const r = await runStrata(['push', source(), `${reg.host}/${repo}:v1`, '--tag', 'latest', '-q', ...keyless()], {
        env: env({ SIGSTORE_ID_TOKEN: token }),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastLine(r.stdout), digest);
      // The sha256-<hex> tag is the referrers fallback's index (distribution 2.8 has no referrers API).
      assert.deepEqual((await tags(repo)).sort(), ['latest', `sha256-${digest.slice(7)}`, 'v1']);
      for (const t of ['v1', 'latest']) {
        const v = await verify(`${reg.host}/${repo}:${t}`);
        assert.equal(v.code, 0, v.stderr);
        assert.match(v.stdout, new RegExp(`^strata: verified ${reg.host}/${repo}@${digest}: identity ${IDENTITY}`));
      }
    });
  }

  test('Rekor unreachable, or a Fulcio URL that is not Fulcio: exit 9 before any upload', async () => {
    const repo = 'nix/no-services';
    const cases: [string[], RegExp][] = [
      [['--fulcio-url', sigstore.fulcioURL, '--rekor-url', 'http://127.0.0.1:1'], /^strata: cannot reach Rekor at http:\/\/127\.0\.0\.1:1: /m],
      // The registry is up but is no Fulcio: it answers 404 to Fulcio's configuration.
      [['--fulcio-url', reg.url, '--rekor-url', sigstore.rekorURL], /^strata: Fulcio at .* answered HTTP 404 to GET \/api\/v2\/configuration/m],
    ];
    for (const [flags, message] of cases) {
      const r = await runStrata(['push', GOLDEN, `${reg.host}/${repo}:v1`, '-q', '--sign', ...flags], { env: env({ SIGSTORE_ID_TOKEN: token }) });
      assert.equal(r.code, 9, r.stderr);
      assert.match(r.stderr, message);
      await untouched(repo);
    }
  });

  test('push --sign --by-digest: signed, and no tag but the signature index', async () => {
    const repo = 'nix/by-digest';
    const r = await runStrata(['push', GOLDEN, `${reg.host}/${repo}`, '--by-digest', '-q', ...keyless()], { env: env({ SIGSTORE_ID_TOKEN: token }) });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tags(repo), [`sha256-${digest.slice(7)}`]);
    assert.equal((await verify(`${reg.host}/${repo}@${digest}`)).code, 0);
  });

  test('GitHub Actions: a token is asked for before the push, and the one Fulcio gets is asked for after it', async () => {
    const repo = 'nix/gha';
    // Numbered tokens; at each request, whether the push had reached the registry yet.
    const seen: { pushed: boolean }[] = [];
    const gha: Server = createServer((req, res) => {
      void catalog().then((c) => {
        seen.push({ pushed: c.includes(repo) });
        const sub = seen.length === 1 ? 'https://github.com/org/app/early' : IDENTITY;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: testIdToken({ iss: ISSUER, sub }) }));
      });
    });
    await new Promise<void>((resolve) => gha.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(gha.address() as { port: number }).port}/token?api-version=2.0`;
      const r = await runStrata(['push', GOLDEN, `${reg.host}/${repo}:v1`, '-q', ...keyless()], {
        env: env({ ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token' }),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(seen, [{ pushed: false }, { pushed: true }]);
      // The certificate names the second token's subject: that is the token Fulcio got.
      const v = await verify(`${reg.host}/${repo}:v1`);
      assert.equal(v.code, 0, v.stderr);
    } finally {
      await new Promise<void>((resolve) => gha.close(() => resolve()));
    }
  });

  describe('index', () => {
    let child: string;
    beforeAll(async () => {
      const r = await runStrata(['push', GOLDEN, `${reg.host}/idx/child`, '--by-digest', '-q'], { env: env() });
      assert.equal(r.code, 0, r.stderr);
      child = `${reg.host}/idx/child@${lastLine(r.stdout)}`;
    });

    test('--by-digest pushes the index with no tag', async () => {
      const r = await runStrata(['index', '-o', `docker://${reg.host}/idx/plain`, child, '--by-digest', '-q'], { env: env() });
      assert.equal(r.code, 0, r.stderr);
      const index = lastLine(r.stdout);
      assert.ok(await hasManifest('idx/plain', index));
      assert.deepEqual(await tags('idx/plain'), []);
      const tagged = await runStrata(['index', '-o', `docker://${reg.host}/idx/plain:v1`, child, '--by-digest', '-q'], { env: env() });
      assert.equal(tagged.code, 2, tagged.stderr);
      assert.match(tagged.stderr, /--by-digest .*drop the tag/);
    });

    test('--sign without a token source: exit 2, nothing pushed', async () => {
      const r = await runStrata(['index', '-o', `docker://${reg.host}/idx/no-token:v1`, child, '-q', ...keyless()], { env: env() });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /keyless signing needs an OIDC token/);
      await untouched('idx/no-token');
    });

    test('--sign, signing fails after the push: the index is there by digest, with no tag', async () => {
      sigstore.refuse.fulcio = true;
      try {
        const r = await runStrata(['index', '-o', `docker://${reg.host}/idx/refused:v1`, child, '-q', ...keyless()], {
          env: env({ SIGSTORE_ID_TOKEN: token }),
        });
        assert.equal(r.code, 9, r.stderr);
      } finally {
        sigstore.refuse.fulcio = false;
      }
      assert.ok((await catalog()).includes('idx/refused'));
      assert.deepEqual(await tags('idx/refused'), []);
    });

    test('--sign: the index digest is signed, then tagged; verify passes on the final tag', async () => {
      const r = await runStrata(['index', '-o', `docker://${reg.host}/idx/signed:v1`, child, '--tag', 'latest', '-q', ...keyless()], {
        env: env({ SIGSTORE_ID_TOKEN: token }),
      });
      assert.equal(r.code, 0, r.stderr);
      const index = lastLine(r.stdout);
      assert.deepEqual((await tags('idx/signed')).sort(), ['latest', `sha256-${index.slice(7)}`, 'v1']);
      const v = await verify(`${reg.host}/idx/signed:v1`);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`^strata: verified ${reg.host}/idx/signed@${index}: identity ${IDENTITY}`));
      const signedBy = await runStrata(['index', '-o', `docker://${reg.host}/idx/signed:v2`, child, '-q', '--sign', '--key', `${dir}/none.key`], {
        env: env(),
      });
      assert.equal(signedBy.code, 2, signedBy.stderr);
      assert.ok(!(await tags('idx/signed')).includes('v2'));
    });
  });
});
