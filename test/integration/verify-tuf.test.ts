// Keyless verify with no --trusted-root: the trusted root comes through TUF, as
// cosign gets Sigstore's. The tests' own TUF repository (test/helpers/tuf-repo.ts)
// publishes the stand-ins' trusted root and is served over loopback HTTP to
// the strata process, standing for a private Sigstore deployment's mirror
// (--tuf-mirror, --tuf-root). The metadata is cached: verify works again with
// the mirror down, until the cached timestamp expires (exit 9). `--json` is
// checked on the same runs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { envWithoutOidc, startSigstore, testIdToken, type SigstoreStandIns } from '../helpers/sigstore.js';
import { startTufRepo, type TufRepo } from '../helpers/tuf-repo.js';
import { expectOk, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const ISSUER = 'https://oidc.strata.test';
const IDENTITY = 'https://github.com/org/app/.github/workflows/release.yml@refs/heads/main';

let dir: string;
let reg: Registry;
let sigstore: SigstoreStandIns;
let image: string;
let digest: string;

/** A runner's environment: no OIDC token of the machine's, and a TUF cache of its own. */
const env = (cache: string, extra: Record<string, string> = {}) => envWithoutOidc({ XDG_CACHE_HOME: cache, ...extra });
const verify = (repo: TufRepo, identity = IDENTITY, extra: string[] = []) => [
  'verify',
  `${image}:v1`,
  '--certificate-identity',
  identity,
  '--certificate-oidc-issuer',
  ISSUER,
  '--tuf-mirror',
  repo.url,
  '--tuf-root',
  repo.rootPath,
  ...extra,
];

beforeAll(async () => {
  dir = tempDir('strata-tuf-');
  reg = await startRegistry();
  sigstore = await startSigstore(dir);
  image = `${reg.host}/tuf/app`;
  const token = testIdToken({ iss: ISSUER, sub: IDENTITY });
  digest = expectOk(
    await runStrata(
      ['push', './examples/golden#default', `${image}:v1`, '-q', '--sign', '--fulcio-url', sigstore.fulcioURL, '--rekor-url', sigstore.rekorURL],
      { env: env(join(dir, 'sign-cache'), { SIGSTORE_ID_TOKEN: token }) },
    ),
  );
});
afterAll(async () => {
  await sigstore?.stop();
  await reg?.stop();
  removeDir(dir);
});

describe('keyless verify gets its trusted root through TUF', () => {
  test('no --trusted-root: verified through the mirror; again from the cache with the mirror down; --json says so', async () => {
    const repo = await startTufRepo(sigstore.trustedRoot, tempDir('strata-tuf-repo-'));
    const cache = join(dir, 'cache-ok');
    let stopped = false;
    try {
      const online = await runStrata(verify(repo), { env: env(cache) });
      assert.equal(online.code, 0, online.stderr);
      assert.match(online.stdout, new RegExp(`verified ${image.replace(/\./g, '\\.')}@${digest}: identity ${IDENTITY}`));
      assert.ok(repo.requests.includes('/timestamp.json') && repo.requests.some((p) => p.endsWith('.trusted_root.json')), repo.requests.join(' '));
      await repo.stop();
      stopped = true;
      const offline = await runStrata(verify(repo, IDENTITY, ['--json']), { env: env(cache) });
      assert.equal(offline.code, 0, offline.stderr);
      const report = JSON.parse(offline.stdout) as { verified: boolean; digest: string; policy: string; signatures: { signer: string; logIndex?: string }[] };
      assert.equal(report.verified, true);
      assert.equal(report.digest, digest);
      assert.equal(report.policy, 'keyless');
      assert.match(report.signatures[0]!.signer, new RegExp(`identity ${IDENTITY}`));
    } finally {
      if (!stopped) await repo.stop();
    }
  });

  test('the root is no bypass: another identity is still not verified (exit 1, and --json says why)', async () => {
    const repo = await startTufRepo(sigstore.trustedRoot, tempDir('strata-tuf-repo-'));
    try {
      const r = await runStrata(verify(repo, 'https://github.com/someone/else', ['--json']), { env: env(join(dir, 'cache-other')) });
      assert.equal(r.code, 1, r.stderr);
      const report = JSON.parse(r.stdout) as { verified: boolean; reason: string };
      assert.equal(report.verified, false);
      assert.match(report.reason, /no signature verifies/);
    } finally {
      await repo.stop();
    }
  });

  test('a cached timestamp that has expired, with the mirror down: exit 9, one line saying so', async () => {
    const repo = await startTufRepo(sigstore.trustedRoot, tempDir('strata-tuf-repo-'), { timestampTtlSeconds: 3 });
    const cache = join(dir, 'cache-expired');
    const first = await runStrata(verify(repo), { env: env(cache) });
    await repo.stop();
    assert.equal(first.code, 0, first.stderr);
    await sleep(4000);
    const r = await runStrata(verify(repo), { env: env(cache) });
    assert.equal(r.code, 9, r.stderr);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('strata: '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^strata: the cached TUF metadata of http:\/\/127\.0\.0\.1:\d+ expired at \S+, and the mirror gave no fresh metadata: /);
  });

  test('a mirror without its root.json, or both a file and a mirror: exit 2 before any request', async () => {
    const noRoot = await runStrata(
      ['verify', `${image}:v1`, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--tuf-mirror', 'http://127.0.0.1:1'],
      { env: env(join(dir, 'cache-x')) },
    );
    assert.equal(noRoot.code, 2, noRoot.stderr);
    assert.match(noRoot.stderr, /--tuf-mirror http:\/\/127\.0\.0\.1:1 needs --tuf-root FILE/);
    const both = await runStrata(
      [...verify({ url: 'http://127.0.0.1:1', rootPath: sigstore.trustedRootPath } as TufRepo), '--trusted-root', sigstore.trustedRootPath],
      { env: env(join(dir, 'cache-y')) },
    );
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /give --trusted-root, or --tuf-mirror with --tuf-root, not both/);
  });
});
