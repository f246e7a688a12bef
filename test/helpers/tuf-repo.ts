// A TUF repository of the tests' own, as Sigstore publishes its trusted root:
// root, targets, snapshot and timestamp metadata (consistent snapshots),
// signed with an ed25519 key made here, whose one target is trusted_root.json,
// served over loopback HTTP so a strata subprocess can fetch it as it fetches
// tuf-repo-cdn.sigstore.dev. The metadata is built with @tufjs/models, the
// models tuf-js itself verifies with.
import { createHash, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Key, Metadata, MetaFile, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

export interface TufRepo {
  url: string;
  /** The initial root.json, as a private deployment hands it to its clients (--tuf-root). */
  rootPath: string;
  /** Requests answered, by path. */
  requests: string[];
  stop(): Promise<void>;
}

const SPEC = '1.0.31';
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `timestampTtlSeconds`: how long the timestamp is valid (the others get a year). */
export async function startTufRepo(trustedRoot: object, dir: string, opts: { timestampTtlSeconds?: number } = {}): Promise<TufRepo> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = (publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32).toString('hex');
  const keyID = createHash('sha256').update(raw).digest('hex');
  const key = new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw } });
  const signer = (data: Buffer) => new Signature({ keyID, sig: signBytes(null, data, privateKey).toString('hex') });
  const year = iso(Date.now() + 365 * 86400_000);

  const files = new Map<string, Buffer>();
  const publish = <T extends Root | Targets | Snapshot | Timestamp>(signed: T, name: string) => {
    const md = new Metadata(signed);
    md.sign(signer);
    const bytes = Buffer.from(JSON.stringify(md.toJSON()));
    files.set(`/${name}`, bytes);
    return bytes;
  };

  // One key for every top-level role, threshold 1 (Root's default roles).
  const root = new Root({ version: 1, specVersion: SPEC, expires: year, consistentSnapshot: true });
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) root.addKey(key, role);
  const rootBytes = publish(root, '1.root.json');

  const target = Buffer.from(JSON.stringify(trustedRoot));
  const targetHash = createHash('sha256').update(target).digest('hex');
  files.set(`/targets/${targetHash}.trusted_root.json`, target);
  const targets = new Targets({ version: 1, specVersion: SPEC, expires: year });
  targets.addTarget(new TargetFile({ path: 'trusted_root.json', length: target.length, hashes: { sha256: targetHash } }));
  publish(targets, '1.targets.json');
  publish(new Snapshot({ version: 1, specVersion: SPEC, expires: year, meta: { 'targets.json': new MetaFile({ version: 1 }) } }), '1.snapshot.json');
  const ttl = opts.timestampTtlSeconds ?? 365 * 86400;
  publish(
    new Timestamp({ version: 1, specVersion: SPEC, expires: iso(Date.now() + ttl * 1000), snapshotMeta: new MetaFile({ version: 1 }) }),
    'timestamp.json',
  );

  const rootPath = join(dir, 'root.json');
  writeFileSync(rootPath, rootBytes);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const body = files.get(path);
    if (!body) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    rootPath,
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
