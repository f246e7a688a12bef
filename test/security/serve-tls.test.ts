// strata serve over TLS without a reverse proxy: --tls-cert and --tls-key
// (both or neither; a file that cannot be read or a key that is not the
// certificate's is a usage error), HTTP/1.1 over TLS, the printed URL https://,
// and on SIGHUP both files read again: new connections get the new
// certificate, and a bad new pair keeps the old one and says why. Certificates
// are self-signed ones made by the openssl CLI; clients trust them explicitly
// (https.request's ca, tls.connect's ca, skopeo --cert-dir). A connection that
// never finishes its handshake is closed after TLS_HANDSHAKE_MS.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { killChild, spawnTracked } from '../../conformance/reproducibility/children.js';
import { TLS_HANDSHAKE_MS } from '../../src/serve-tls.js';
import { skopeo } from '../helpers/podman.js';
import { selfSignedCert } from '../helpers/tls-cert.js';
import { expectFailure, removeDir, runStrata, strataBin, tempDir } from '../helpers/strata.js';
import { MediaType } from '../../oci/types.js';
import { sha256 } from '../../base/hash-tap.js';

const OCI_MANIFEST: string = MediaType.ociManifest;
const sha = sha256;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pair {
  cert: string;
  key: string;
}

/** A self-signed P-256 certificate for 127.0.0.1, in `dir`/`name`.{crt,key}. */
async function makeCert(dir: string, name: string): Promise<Pair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await selfSignedCert(pair, `strata-${name}`, 'IP:127.0.0.1');
  return pair;
}

const fingerprint = (pemFile: string) => new X509Certificate(readFileSync(pemFile)).fingerprint256;

/** The certificate a new TLS connection to `port` is given (verified against `ca`). */
function peerFingerprint(port: number, ca: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function httpsRequest(url: string, ca: Buffer[], method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Running {
  url: string;
  port: number;
  child: ChildProcess;
  stderr(): string;
}

/** strata serve on a free loopback port with TLS; resolves once it printed where it listens. */
async function startTlsServe(root: string, pair: Pair): Promise<Running> {
  const argv = [strataBin, 'serve', '--listen', '127.0.0.1:0', '--root', root, '--allow-anonymous-push', '--tls-cert', pair.cert, '--tls-key', pair.key];
  const child = spawnTracked(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strata serve did not start: ${err}`)), 15_000);
    child.stderr!.on('data', () => {
      const m = err.match(/strata: serving on (\S+)\n/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`strata serve exited (${code}): ${err}`)));
  });
  return { url, port: Number(new URL(url).port), child, stderr: () => err };
}

/** Polls `probe` until it gives `want` (at most `ms`); returns what it last gave. */
async function until<T>(probe: () => Promise<T>, want: T, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  let got = await probe();
  while (got !== want && Date.now() < deadline) {
    await sleep(50);
    got = await probe();
  }
  return got;
}

let dir: string;
let served: Running | undefined;
beforeAll(() => {
  dir = tempDir('strata-serve-tls-');
});
afterAll(async () => {
  if (served) await killChild(served.child);
  removeDir(dir);
});

describe('strata serve --tls-cert/--tls-key', () => {
  let live: Pair;
  let first: Pair;
  let second: Pair;
  beforeAll(async () => {
    first = await makeCert(dir, 'first');
    second = await makeCert(dir, 'second');
    // The server reads these two paths; rotation writes new contents to them.
    live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
  });

  it('serves the registry API over HTTPS, to a client that trusts the certificate', async () => {
    served = await startTlsServe(join(dir, 'root'), live);
    assert.match(served.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = [readFileSync(first.cert)];
    assert.equal((await httpsRequest(`${served.url}/v2/`, ca, 'GET')).status, 200);
    // A push by hand over TLS: config, layer, manifest; then read back.
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
    const layer = randomBytes(200);
    for (const b of [config, layer]) assert.equal((await httpsRequest(`${served.url}/v2/app/blobs/uploads/?digest=${sha(b)}`, ca, 'POST', b)).status, 201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
      }),
    );
    assert.equal((await httpsRequest(`${served.url}/v2/app/manifests/v1`, ca, 'PUT', manifest, { 'content-type': OCI_MANIFEST })).status, 201);
    const got = await httpsRequest(`${served.url}/v2/app/blobs/${sha(layer)}`, ca, 'GET');
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(layer));
    // A client that does not trust the certificate is refused by its own TLS check.
    await assert.rejects(httpsRequest(`${served.url}/v2/`, [], 'GET'), /self[- ]signed|unable to verify|certificate/i);
    // skopeo, as users would point it at the server: --cert-dir with the CA.
    const certDir = join(dir, 'skopeo-certs');
    mkdirSync(certDir);
    copyFileSync(first.cert, join(certDir, 'ca.crt'));
    const inspected = JSON.parse(await skopeo(['inspect', '--raw', '--cert-dir', certDir, `docker://${new URL(served.url).host}/app:v1`])) as {
      layers: { digest: string }[];
    };
    assert.equal(inspected.layers[0]!.digest, sha(layer));
  });

  it('on SIGHUP, new connections get the rotated certificate', async () => {
    assert.ok(served, 'the server of the first test runs');
    const both = [readFileSync(first.cert), readFileSync(second.cert)];
    assert.equal(await peerFingerprint(served.port, both), fingerprint(first.cert));
    copyFileSync(second.cert, live.cert);
    copyFileSync(second.key, live.key);
    served.child.kill('SIGHUP');
    assert.equal(await until(() => peerFingerprint(served!.port, both), fingerprint(second.cert)), fingerprint(second.cert));
    assert.match(served.stderr(), /SIGHUP/);
    assert.equal((await httpsRequest(`${served.url}/v2/`, [readFileSync(second.cert)], 'GET')).status, 200);
  });

  it('a bad pair on SIGHUP keeps the certificate in use and says why', async () => {
    assert.ok(served, 'the server of the first test runs');
    const both = [readFileSync(first.cert), readFileSync(second.cert)];
    // first's certificate with second's key: they do not match.
    copyFileSync(first.cert, live.cert);
    const before = served.stderr().length;
    served.child.kill('SIGHUP');
    const said = await until(async () => /certificate|key/i.test(served!.stderr().slice(before)), true);
    assert.ok(said, `nothing said after a bad SIGHUP: ${served.stderr()}`);
    assert.equal(served.child.exitCode, null, 'the server still runs');
    assert.equal(await peerFingerprint(served.port, both), fingerprint(second.cert));
    // A missing file likewise.
    writeFileSync(live.cert, 'not a certificate');
    served.child.kill('SIGHUP');
    await sleep(300);
    assert.equal(served.child.exitCode, null);
    assert.equal(await peerFingerprint(served.port, both), fingerprint(second.cert));
  });

  it('a connection that never finishes its TLS handshake is closed after TLS_HANDSHAKE_MS', async () => {
    assert.ok(served, 'the server of the first test runs');
    const started = Date.now();
    // A raw TCP connection that sends nothing: no ClientHello, so no handshake (Node's default waits 120 s).
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const s = netConnect(served!.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => resolve(Date.now() - started));
      setTimeout(() => {
        s.destroy();
        reject(new Error(`still open after ${TLS_HANDSHAKE_MS + 5000} ms`));
      }, TLS_HANDSHAKE_MS + 5000);
    });
    assert.ok(closedAfter >= TLS_HANDSHAKE_MS - 500, `closed after ${closedAfter} ms, before the timeout`);
  });

  it('refuses one of the two flags alone, an unreadable file and a key that is not the certificate’s (exit 2)', async () => {
    const root = join(dir, 'bad-root');
    const serveArgs = (...extra: string[]) => ['serve', '--listen', '127.0.0.1:0', '--root', root, ...extra];
    expectFailure(await runStrata(serveArgs('--tls-cert', first.cert)), 2, /--tls-key/);
    expectFailure(await runStrata(serveArgs('--tls-key', first.key)), 2, /--tls-cert/);
    expectFailure(await runStrata(serveArgs('--tls-cert', join(dir, 'absent.crt'), '--tls-key', first.key)), 2, /--tls-cert .*absent\.crt/);
    expectFailure(await runStrata(serveArgs('--tls-cert', first.cert, '--tls-key', second.key)), 2, /key .*(match|certificate)|does not match/i);
    const notPem = join(dir, 'garbage.crt');
    writeFileSync(notPem, 'garbage');
    expectFailure(await runStrata(serveArgs('--tls-cert', notPem, '--tls-key', first.key)), 2, /--tls-cert/);
  });

  it('--allow-anonymous-push is still for loopback only, TLS or not', async () => {
    expectFailure(
      await runStrata([
        'serve',
        '--listen',
        '0.0.0.0:0',
        '--root',
        join(dir, 'r2'),
        '--allow-anonymous-push',
        '--tls-cert',
        first.cert,
        '--tls-key',
        first.key,
      ]),
      2,
      /loopback/,
    );
  });
});
