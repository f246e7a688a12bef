// Fulcio and Rekor stand-ins for keyless signing without the network:
// @sigstore/mock's CA, CT log and transparency log (which it otherwise serves
// only in-process, through nock) behind real HTTP servers on loopback, so a
// strata subprocess can reach them; and the trusted root that names them.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nixEnv } from './strata.js';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, rekorHandler, type HandlerFn } from '@sigstore/mock';

export interface SigstoreStandIns {
  fulcioURL: string;
  rekorURL: string;
  /** The trusted root JSON (Fulcio's root CA, Rekor's key, the CT log's key). */
  trustedRoot: object;
  trustedRootPath: string;
  /** Signing requests (POSTs) each stand-in answered. */
  counts: { fulcio: number; rekor: number };
  /** While true, Fulcio answers 500 to certificate requests (its GETs still answer): a failure after a preflight. */
  refuse: { fulcio: boolean };
  stop(): Promise<void>;
}

function bytes(v: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

/**
 * Rekor stores a dsse entry in canonical form (hashes of the envelope and the
 * payload, and the signatures), not as proposed; the mock log keeps what it is
 * given, so the stand-in canonicalises first, as rekor's types/dsse/v0.0.1 does.
 */
function canonicalDsse(body: string): string {
  const proposed = JSON.parse(body) as { kind: string; apiVersion: string; spec: { proposedContent?: { envelope: string; verifiers: string[] } } };
  const content = proposed.spec.proposedContent;
  if (proposed.kind !== 'dsse' || !content) return body;
  const env = JSON.parse(content.envelope) as { payload: string; signatures: { sig: string }[] };
  return JSON.stringify({
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(Buffer.from(content.envelope)).toString('hex') },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(env.payload, 'base64')).toString('hex') },
      signatures: env.signatures.map((s) => ({ signature: s.sig, verifier: content.verifiers[0] })),
    },
  });
}

/** A GET the real service answers with what it is (Fulcio's configuration, Rekor's log info): a client checks it is up with one. */
interface Status {
  path: string;
  body: object;
}

function serve(routes: Record<string, HandlerFn>, count: () => void, status: Status, refused = () => false): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === status.path) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status.body));
        return;
      }
      if (req.method === 'POST' && refused()) {
        res.writeHead(500).end('refused by the test');
        return;
      }
      const fn = req.method === 'POST' ? routes[req.url ?? ''] : undefined;
      if (!fn) {
        res.writeHead(404).end();
        return;
      }
      count();
      fn(Buffer.concat(chunks).toString('utf8')).then(
        (r) =>
          res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'text/plain' }).end(typeof r.response === 'string' ? r.response : bytes(r.response)),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })),
  );
}

export async function startSigstore(dir: string): Promise<SigstoreStandIns> {
  const counts = { fulcio: 0, rekor: 0 };
  const refuse = { fulcio: false };
  const routes: { fulcio: Record<string, HandlerFn>; rekor: Record<string, HandlerFn> } = { fulcio: {}, rekor: {} };
  const configuration = { issuers: [{ issuerUrl: 'https://oidc.strata.test', audience: 'sigstore', challengeClaim: 'sub', email: {} }] };
  const fulcio = await serve(
    routes.fulcio,
    () => counts.fulcio++,
    { path: '/api/v2/configuration', body: configuration },
    () => refuse.fulcio,
  );
  const logInfo = { rootHash: '0'.repeat(64), treeSize: 0, signedTreeHead: '', treeID: '1' };
  const rekor = await serve(routes.rekor, () => counts.rekor++, { path: '/api/v1/log', body: logInfo });

  const ctlog = await initializeCTLog(p256());
  const ca = await initializeCA(p256(), ctlog);
  const f = fulcioHandler(ca);
  routes.fulcio[f.path] = f.fn;
  // The checkpoint names the log by its URL's host, which verifiers match against the root's baseUrl.
  const tlog = await initializeTLog(rekor.url, p256());
  const r = rekorHandler(tlog);
  routes.rekor[r.path] = (body) => r.fn(canonicalDsse(body));

  const start = new Date(Date.now() - 3600_000).toISOString();
  const key = (raw: Buffer) => ({ rawBytes: raw.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } });
  const ctKey = bytes(ctlog.publicKey);
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: rekor.url, hashAlgorithm: 'SHA2_256', publicKey: key(tlog.publicKey), logId: { keyId: sha256(tlog.publicKey).toString('base64') } }],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: fulcio.url,
        certChain: { certificates: [{ rawBytes: bytes(ca.rootCertificate).toString('base64') }] },
        validFor: { start },
      },
    ],
    ctlogs: [{ baseUrl: 'http://ctfe.invalid', hashAlgorithm: 'SHA2_256', publicKey: key(ctKey), logId: { keyId: bytes(ctlog.logID).toString('base64') } }],
    timestampAuthorities: [],
  };
  const trustedRootPath = join(dir, 'trusted_root.json');
  writeFileSync(trustedRootPath, JSON.stringify(trustedRoot, null, 2));
  const close = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));
  return {
    fulcioURL: fulcio.url,
    rekorURL: rekor.url,
    trustedRoot,
    trustedRootPath,
    counts,
    refuse,
    stop: async () => {
      await close(fulcio.server);
      await close(rekor.server);
    },
  };
}

/** An unsigned JWT, which the stand-in Fulcio takes at its word (real Fulcio checks the issuer's signature). */
export function testIdToken(claims: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ aud: 'sigstore', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, ...claims })}.c2ln`;
}

/** The test's Nix environment without any OIDC token of the machine's, plus `extra`: keyless signing sees only what a test gives it. */
export function envWithoutOidc(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = nixEnv();
  for (const k of ['SIGSTORE_ID_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'GITHUB_OUTPUT']) delete e[k];
  return { ...e, ...extra };
}
