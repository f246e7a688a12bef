// Key-based signing end to end, against a registry without the referrers API
// (distribution 2.8: the sha256-<hex> tag index) and one with it (strata serve):
// keygen, sign (bundle referrer and cosign's legacy .sig image), verify, and
// the ways verify must say no. openssl checks the signatures on its own.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { canonicalJson } from '../../base/canonical.js';
import { attachReferrer } from '../../registry/referrers.js';
import { RegistrySession } from '../../registry/session.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { startServe, type Served } from '../helpers/serve.js';
import { lastLine, nixEnv, removeDir, runStrata, sh, tempDir } from '../helpers/strata.js';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Manifest {
  artifactType?: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  subject?: { digest: string; mediaType: string };
  annotations?: Record<string, string>;
}

async function getJson<T>(url: string, accept = MANIFEST): Promise<T> {
  const r = await fetch(url, { headers: { accept } });
  assert.equal(r.status, 200, `GET ${url}: ${r.status}`);
  return (await r.json()) as T;
}

async function getBytes(url: string): Promise<Buffer> {
  const r = await fetch(url, { headers: { accept: MANIFEST } });
  assert.equal(r.status, 200, `GET ${url}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** DSSE's pre-authentication encoding: what the envelope's signature is over. */
function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

/** openssl's own verdict on a signature over `data` (exit 0 and "Verified OK" or it throws). */
function opensslVerifies(dir: string, pub: string, data: Buffer, sig: Buffer): string {
  writeFileSync(join(dir, 'data.bin'), data);
  writeFileSync(join(dir, 'sig.bin'), sig);
  return sh('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', join(dir, 'sig.bin'), join(dir, 'data.bin')]).trim();
}

async function push(ref: string, extra: string[] = []): Promise<string> {
  const r = await runStrata(['push', './examples/golden#default', ref, '-q', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return lastLine(r.stdout);
}

const registries: [string, () => Promise<{ host: string; stop(): Promise<void> }>, boolean][] = [
  ['distribution 2.8 (referrers tag index)', () => startRegistry() as Promise<Registry>, false],
  [
    'strata serve (referrers API)',
    async () => {
      const root = tempDir('strata-sign-serve-');
      const s: Served = await startServe(root);
      return { host: s.host, stop: async () => (await s.stop(), removeDir(root)) };
    },
    true,
  ],
];

describe('keygen', () => {
  test('writes a PKCS#8 P-256 key readable by its owner only and its SPKI public key; never overwrites', async () => {
    const dir = tempDir('strata-keygen-');
    try {
      const r = await runStrata(['keygen', '--output', join(dir, 'k')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastLine(r.stdout), join(dir, 'k.pub'));
      const key = readFileSync(join(dir, 'k.key'), 'utf8');
      assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.equal(statSync(join(dir, 'k.key')).mode & 0o777, 0o600);
      assert.equal(createPrivateKey(key).asymmetricKeyDetails?.namedCurve, 'prime256v1');
      const pub = readFileSync(join(dir, 'k.pub'), 'utf8');
      assert.match(pub, /^-----BEGIN PUBLIC KEY-----\n/);
      assert.deepEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }), createPublicKey(pub).export({ type: 'spki', format: 'der' }));
      const again = await runStrata(['keygen', '--output', join(dir, 'k')]);
      assert.equal(again.code, 6);
      assert.match(again.stderr, /k\.key exists/);
      assert.equal(readFileSync(join(dir, 'k.key'), 'utf8'), key);
    } finally {
      removeDir(dir);
    }
  });
});

for (const [label, start, referrersApi] of registries) {
  describe(`sign and verify with a key: ${label}`, () => {
    let reg: { host: string; stop(): Promise<void> };
    let dir: string;
    let key: string;
    let pub: string;
    let image: string;
    let base: string;
    let signedDigest: string;
    let referrer: string;

    beforeAll(async () => {
      reg = await start();
      dir = tempDir('strata-sign-');
      base = `http://${reg.host}/v2/signed/app`;
      image = `${reg.host}/signed/app`;
      assert.equal((await runStrata(['keygen', '-o', join(dir, 'k')])).code, 0);
      key = join(dir, 'k.key');
      pub = join(dir, 'k.pub');
      signedDigest = await push(`${image}:v1`);
    });
    afterAll(async () => {
      await reg?.stop();
      removeDir(dir);
    });

    test('sign stores a v0.3 bundle as a referrer of the manifest, and verify accepts it', async () => {
      const r = await runStrata(['sign', `${image}:v1`, '--key', key]);
      assert.equal(r.code, 0, r.stderr);
      referrer = lastLine(r.stdout);
      assert.match(r.stderr, new RegExp(`signed ${image}@${signedDigest} \\(key\\)`));
      assert.match(r.stderr, referrersApi ? /listed by the referrers API/ : /listed by the tag sha256-/);

      const listing = referrersApi
        ? await getJson<{ manifests: { digest: string; artifactType: string }[] }>(
            `${base}/referrers/${signedDigest}`,
            'application/vnd.oci.image.index.v1+json',
          )
        : await getJson<{ manifests: { digest: string; artifactType: string }[] }>(
            `${base}/manifests/${signedDigest.replace(':', '-')}`,
            'application/vnd.oci.image.index.v1+json',
          );
      assert.deepEqual(
        listing.manifests.map((m) => [m.digest, m.artifactType]),
        [[referrer, BUNDLE]],
      );

      const m = await getJson<Manifest>(`${base}/manifests/${referrer}`);
      assert.equal(m.artifactType, BUNDLE);
      assert.deepEqual(m.config, {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        size: 2,
      });
      assert.equal(m.layers.length, 1);
      assert.equal(m.layers[0]!.mediaType, BUNDLE);
      assert.equal(m.subject?.digest, signedDigest);
      assert.equal(m.annotations?.['dev.sigstore.bundle.content'], 'dsse-envelope');
      assert.equal(m.annotations?.['dev.sigstore.bundle.predicateType'], 'https://sigstore.dev/cosign/sign/v1');

      const bundle = JSON.parse((await getBytes(`${base}/blobs/${m.layers[0]!.digest}`)).toString('utf8')) as {
        mediaType: string;
        verificationMaterial: { publicKey?: { hint: string } };
        dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
      };
      assert.equal(bundle.mediaType, BUNDLE);
      assert.ok(bundle.verificationMaterial.publicKey, 'a key signature names its key by hint, with no certificate');
      assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
      const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
        _type: string;
        subject: { digest: { sha256: string } }[];
        predicateType: string;
      };
      assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
      assert.deepEqual(
        statement.subject.map((s) => s.digest.sha256),
        [signedDigest.slice(7)],
      );
      assert.equal(statement.predicateType, 'https://sigstore.dev/cosign/sign/v1');

      // openssl, on its own, over the exact bytes signed: the envelope's PAE.
      const signed = pae(bundle.dsseEnvelope.payloadType, Buffer.from(bundle.dsseEnvelope.payload, 'base64'));
      assert.equal(opensslVerifies(dir, pub, signed, Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, 'base64')), 'Verified OK');

      const v = await runStrata(['verify', `${image}:v1`, '--key', pub]);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout.trim(), `strata: verified ${image}@${signedDigest}: key (referrer ${referrer.slice(7, 19)})`);
      const byDigest = await runStrata(['verify', `docker://${image}@${signedDigest}`, '--key', pub]);
      assert.equal(byDigest.code, 0, byDigest.stderr);
    });

    test("--legacy-tag adds cosign's sha256-<hex>.sig image: simple-signing payload, signature annotation", async () => {
      const r = await runStrata(['sign', `${image}@${signedDigest}`, '--key', key, '--legacy-tag']);
      assert.equal(r.code, 0, r.stderr);
      const tag = `${signedDigest.replace(':', '-')}.sig`;
      assert.match(r.stderr, new RegExp(`legacy signature under ${tag}`));
      const m = await getJson<Manifest>(`${base}/manifests/${tag}`);
      assert.equal(m.config.mediaType, 'application/vnd.oci.image.config.v1+json');
      assert.equal(m.layers.length, 1);
      const layer = m.layers[0]!;
      assert.equal(layer.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
      const payload = await getBytes(`${base}/blobs/${layer.digest}`);
      assert.equal(
        payload.toString('utf8'),
        `{"critical":{"identity":{"docker-reference":"${image}"},"image":{"docker-manifest-digest":"${signedDigest}"},"type":"cosign container image signature"},"optional":null}`,
      );
      const sig = layer.annotations?.['dev.cosignproject.cosign/signature'];
      assert.ok(sig);
      assert.equal(opensslVerifies(dir, pub, payload, Buffer.from(sig, 'base64')), 'Verified OK');

      const v = await runStrata(['verify', `${image}:v1`, '--key', pub]);
      assert.equal(v.code, 0, v.stderr);
      const lines = v.stdout.trim().split('\n');
      assert.equal(lines.length, 3, v.stdout);
      assert.ok(
        lines.some((l) => l.endsWith(`(${tag} layer 1)`)),
        v.stdout,
      );
    });

    test('another key: exit 1 with the reason, never "verified"', async () => {
      assert.equal((await runStrata(['keygen', '-o', join(dir, 'other')])).code, 0);
      const v = await runStrata(['verify', `${image}:v1`, '--key', join(dir, 'other.pub')]);
      assert.equal(v.code, 1, v.stderr);
      assert.equal(v.stdout, '');
      assert.match(v.stderr, /^strata: not verified: .*no signature verifies \(.*signature verification failed/);
    });

    test('an unsigned image: exit 1', async () => {
      const d = await push(`${image}-unsigned:v1`);
      const v = await runStrata(['verify', `${image}-unsigned:v1`, '--key', pub]);
      assert.equal(v.code, 1, v.stderr);
      assert.equal(v.stdout, '');
      assert.match(v.stderr, new RegExp(`not verified: ${image}-unsigned@${d} has no signatures`));
    });

    test('the tag now names other bytes: exit 1; the signed digest still verifies', async () => {
      const moved = await push(`${image}:v1`, ['--label', 'tampered=yes']);
      assert.notEqual(moved, signedDigest);
      const v = await runStrata(['verify', `${image}:v1`, '--key', pub]);
      assert.equal(v.code, 1, v.stderr);
      assert.equal(v.stdout, '');
      assert.match(v.stderr, new RegExp(`${moved} has no signatures`));
      assert.equal((await runStrata(['verify', `${image}@${signedDigest}`, '--key', pub])).code, 0);
    });

    test('a signature made for one image, attached to another: exit 1, naming both digests', async () => {
      const other = await push(`${image}:other`, ['--label', 'other=yes']);
      const signedManifest = await getJson<Manifest>(`${base}/manifests/${referrer}`);
      // The same bundle blob, now in a referrer whose subject is the other image.
      const copy = {
        ...signedManifest,
        schemaVersion: 2,
        mediaType: MANIFEST,
        subject: { mediaType: MANIFEST, digest: other, size: (await getBytes(`${base}/manifests/${other}`)).length },
      };
      const repo = { session: RegistrySession.for(reg.host, {}), name: 'signed/app' };
      await attachReferrer(repo, { bytes: Buffer.from(canonicalJson(copy)), mediaType: MANIFEST, artifactType: BUNDLE }, other as `sha256:${string}`);
      const v = await runStrata(['verify', `${image}:other`, '--key', pub]);
      assert.equal(v.code, 1, v.stderr);
      assert.equal(v.stdout, '');
      assert.match(v.stderr, new RegExp(`it signs ${signedDigest}, and the registry serves ${other}`));
    });

    test('push --sign --key signs what it pushed', async () => {
      const r = await runStrata(['push', './examples/golden#default', `${image}:pushed`, '-q', '--label', 'pushed=yes', '--sign', '--key', key]);
      assert.equal(r.code, 0, r.stderr);
      const digest = lastLine(r.stdout);
      assert.match(r.stderr, new RegExp(`signed ${image}@${digest} \\(key\\)`));
      const v = await runStrata(['verify', `${image}:pushed`, '--key', pub]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`^strata: verified ${image}@${digest}: key`));
    });

    test('push --sign with an unreadable key fails before anything is pushed', async () => {
      const r = await runStrata(['push', './examples/golden#default', `${image}:never`, '-q', '--sign', '--key', '/nonexistent/strata.key']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /nonexistent\/strata\.key/);
      const m = await fetch(`http://${image.split('/')[0]}/v2/${image.split('/').slice(1).join('/')}/manifests/never`, { method: 'HEAD' });
      assert.equal(m.status, 404, 'nothing was tagged');
    });
  });
}

describe('sign and verify: usage', () => {
  let reg: Registry;
  let dir: string;
  beforeAll(async () => {
    reg = await startRegistry();
    dir = tempDir('strata-sign-usage-');
    assert.equal((await runStrata(['keygen', '-o', join(dir, 'k')])).code, 0);
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(dir);
  });

  test('bad flags and unreadable files exit 2; a missing image is not verified', async () => {
    const image = `${reg.host}/usage/app:v1`;
    const env = { ...nixEnv(), SIGSTORE_ID_TOKEN: '', ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' };
    const cases: [string[], RegExp][] = [
      [['verify', image], /needs --key PUB, or --certificate-identity/],
      [['verify', image, '--key', join(dir, 'missing.pub')], /cannot read key/],
      [['verify', image, '--key', join(dir, 'k.key')], /holds a private key/],
      [['verify', image, '--key', join(dir, 'k.pub'), '--certificate-identity', 'a@b', '--certificate-oidc-issuer', 'https://x'], /not both/],
      [
        ['verify', image, '--certificate-identity', 'a@b', '--certificate-oidc-issuer', 'https://x', '--tuf-root', join(dir, 'k.pub')],
        /--tuf-root is the initial root\.json of the mirror --tuf-mirror names; give both/,
      ],
      [['verify', image, '--key', join(dir, 'k.pub'), '--trusted-root', join(dir, 'k.pub')], /cannot read trusted root/],
      [['sign', image, '--key', join(dir, 'k.pub')], /not a PEM private key/],
      [['sign', image, '--key', join(dir, 'k.key'), '--rekor-url', 'http://127.0.0.1:1'], /are for keyless signing/],
      [['sign', image], /needs an OIDC token: set SIGSTORE_ID_TOKEN/],
      [['sign', 'oci:/tmp/x', '--key', join(dir, 'k.key')], /images in a registry/],
      [['push', './examples/golden#default', image, '--key', join(dir, 'k.key')], /are for --sign/],
    ];
    for (const [args, message] of cases) {
      const r = await runStrata(args, { env });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    const missing = await runStrata(['verify', `${reg.host}/usage/none:v1`, '--key', join(dir, 'k.pub')]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /not verified: .*has no manifest v1/);
  });
});
