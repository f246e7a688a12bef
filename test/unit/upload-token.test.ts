// Upload session ids of registry storage: what one replica signs, another with
// the same secret reads back; an id altered, forged, signed with another
// secret or steering to another origin is refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'vitest';
import { MAX_AGE_SECONDS, MIN_SECRET_BYTES, UploadTokens } from '../../registry/server/upload-token.js';

const secret = Buffer.alloc(MIN_SECRET_BYTES, 7);
const token = { repository: 'org/app', location: '/v2/fleet/org/app/blobs/uploads/0b5e?_state=abc%3D', size: 1234 };

test('an id signed by one replica is read back by another with the same secret', () => {
  const id = new UploadTokens(secret).sign(token);
  assert.match(id, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(new UploadTokens(Buffer.from(secret)).verify(id), token);
});

test('another secret, an altered payload or signature, or a malformed id names no session', () => {
  const tokens = new UploadTokens(secret);
  const id = tokens.sign(token);
  const [payload, mac] = id.split('.') as [string, string];
  assert.equal(new UploadTokens(Buffer.alloc(MIN_SECRET_BYTES, 8)).verify(id), undefined);
  const bigger = Buffer.from(JSON.stringify(['org/app', token.location, 0, Math.floor(Date.now() / 1000)])).toString('base64url');
  assert.equal(tokens.verify(`${bigger}.${mac}`), undefined);
  assert.equal(tokens.verify(`${payload}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`), undefined);
  for (const bad of ['', '.', 'abc', `${payload}.`, `${payload}.${mac}.x`, '3f0c1e2a-0000-4000-8000-000000000000', `${payload}/../x.${mac}`])
    assert.equal(tokens.verify(bad), undefined, bad);
});

test('a location that is not a path on the upstream (another origin, scheme-relative) is refused even when signed', () => {
  const tokens = new UploadTokens(secret);
  // Signed here by hand with the same key, as a replica's bug or a leaked secret would: the shape check still holds.
  const forge = (location: string) => {
    const payload = Buffer.from(JSON.stringify(['org/app', location, 0, Math.floor(Date.now() / 1000)])).toString('base64url');
    const mac = createHmac('sha256', secret).update('strata upload session\0').update(payload).digest('base64url');
    return `${payload}.${mac}`;
  };
  assert.deepEqual(tokens.verify(forge('/v2/x/blobs/uploads/1')), { repository: 'org/app', location: '/v2/x/blobs/uploads/1', size: 0 });
  for (const location of ['https://evil.example/v2/', '//evil.example/v2/', 'v2/relative']) assert.equal(tokens.verify(forge(location)), undefined, location);
});

test('a secret shorter than 32 bytes is refused', () => {
  assert.throws(() => new UploadTokens(Buffer.alloc(MIN_SECRET_BYTES - 1)), /needs 32/);
  assert.notEqual(UploadTokens.ephemeral().sign(token), UploadTokens.ephemeral().sign(token));
});

test('an id is good for a day after it was signed, and not before it was (beyond a few minutes of clock skew)', () => {
  let now = 1_000_000;
  const tokens = new UploadTokens(secret, () => now);
  const id = tokens.sign(token);
  now += MAX_AGE_SECONDS;
  assert.deepEqual(tokens.verify(id), token);
  now += 1;
  assert.equal(tokens.verify(id), undefined);
  now = 1_000_000 - 301;
  assert.equal(tokens.verify(id), undefined, 'signed in the future by more than the skew allowed');
});

test('a session path too long for an id is refused when signing, not handed out', () => {
  assert.throws(() => new UploadTokens(secret).sign({ ...token, location: `/v2/x/blobs/uploads/${'a'.repeat(5000)}` }), /too long/);
});
