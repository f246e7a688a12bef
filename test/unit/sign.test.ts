// The pieces of sign/ that need no registry: the signed payloads, the legacy
// annotations and the bundle they stand for, key files.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { generateKeyFiles, loadPrivateKey, loadPublicKey } from '../../sign/keys.js';
import { bundleOfLegacy, legacyAnnotations } from '../../sign/legacy.js';
import { imageStatement, parseStatement, simpleSigningDigest, simpleSigningPayload, subjectDigests } from '../../sign/payload.js';
import { BundleMaker } from '../../sign/signers.js';
import { removeDir, tempDir } from '../helpers/strata.js';

const DIGEST = `sha256:${'ab'.repeat(32)}` as const;

test('the simple-signing payload is byte for byte what cosign signs, and names its digest', () => {
  const p = simpleSigningPayload('reg.example/org/app', DIGEST);
  assert.equal(
    p.toString(),
    `{"critical":{"identity":{"docker-reference":"reg.example/org/app"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"},"optional":null}`,
  );
  assert.equal(simpleSigningDigest(p), DIGEST);
  assert.throws(() => simpleSigningDigest(Buffer.from('{"critical":{"type":"atomic container signature","image":{}}}')), /critical\.type/);
  assert.throws(() => simpleSigningDigest(Buffer.from('nope')), /not JSON/);
});

test("the image statement is an in-toto v1 statement of cosign's sign predicate about the digest", () => {
  const s = parseStatement(imageStatement('reg.example/org/app', DIGEST));
  assert.equal(s._type, 'https://in-toto.io/Statement/v1');
  assert.equal(s.predicateType, 'https://sigstore.dev/cosign/sign/v1');
  assert.deepEqual(subjectDigests(s), [DIGEST]);
  assert.throws(() => parseStatement(Buffer.from('{"_type":"x"}')), /not an in-toto statement/);
});

test('a legacy signature layer stands for the message bundle it was made from', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const payload = simpleSigningPayload('reg.example/org/app', DIGEST);
  const annotations = legacyAnnotations(await new BundleMaker({ kind: 'key', key: privateKey }).message(payload));
  assert.deepEqual(Object.keys(annotations), ['dev.cosignproject.cosign/signature']);
  const root = { mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  const verifier = new Verifier(
    toTrustMaterial(root, () => ({ publicKey, validFor: () => true })),
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  verifier.verify(toSignedEntity(bundleOfLegacy(payload, annotations), payload));
  const other = simpleSigningPayload('reg.example/org/app', `sha256:${'cd'.repeat(32)}`);
  assert.throws(() => verifier.verify(toSignedEntity(bundleOfLegacy(other, annotations), other)), /signature/);
  assert.throws(() => bundleOfLegacy(payload, {}), /no dev\.cosignproject\.cosign\/signature/);
});

test('key files: P-256 only, unencrypted, each half where it belongs', () => {
  const dir = tempDir('strata-keys-');
  try {
    const files = generateKeyFiles(join(dir, 'k'));
    assert.equal(loadPrivateKey(files.privateKey).asymmetricKeyType, 'ec');
    assert.equal(loadPublicKey(files.publicKey).type, 'public');
    assert.throws(() => loadPublicKey(files.privateKey), /holds a private key/);
    assert.throws(() => generateKeyFiles(join(dir, 'k')), /exists/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'rsa.key'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.throws(() => loadPrivateKey(join(dir, 'rsa.key')), /not an ECDSA P-256 key/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'enc.key'), ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }));
    assert.throws(() => loadPrivateKey(join(dir, 'enc.key')), /is encrypted/);
    writeFileSync(join(dir, 'sec1.key'), ec.privateKey.export({ type: 'sec1', format: 'pem' }));
    assert.equal(loadPrivateKey(join(dir, 'sec1.key')).asymmetricKeyType, 'ec');
  } finally {
    removeDir(dir);
  }
});
