// A hostile registry for the registry client's security tests (issue 12,
// points 1 and 3): node:http and node:https servers on loopback that play a
// registry serving one small image and taking uploads (Basic or Bearer auth),
// and other origins — another host (127.0.0.2 on the same port), another
// port, plain HTTP beside HTTPS — that play storage, a token service or an
// attacker, and record every Authorization header they are sent. What each
// test makes them do wrong (hand out foreign Locations and realms, redirect,
// stream forever, trickle, send huge headers) is its own handler.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createNet, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { setDefaultCACertificates, getCACertificates } from 'node:tls';
import { removeDir, tempDir } from '../helpers/strata.js';
import { selfSignedCert } from '../helpers/tls-cert.js';

export const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Hit {
  method: string;
  path: string;
  authorization?: string;
  /** Whether it came over TLS. */
  secure: boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface Origin {
  /** scheme://host:port, no trailing slash. */
  url: string;
  port: number;
  /** Every request received, in order, with its Authorization header. */
  hits: Hit[];
  /** Bytes written in response bodies through `count` (for the bounds tests). */
  written: { bytes: number };
  handler: Handler;
  stop(): Promise<void>;
}

export interface Cert {
  cert: string;
  key: string;
  /** The PEM's file, for NODE_EXTRA_CA_CERTS of a CLI run. */
  path: string;
  dir: string;
}

/** A self-signed certificate for 127.0.0.1, 127.0.0.2 and localhost (openssl, as the token server's). */
export async function makeCert(): Promise<Cert> {
  const dir = tempDir('strata-hostile-tls-');
  const key = join(dir, 'key.pem');
  const path = join(dir, 'cert.pem');
  await selfSignedCert({ cert: path, key }, 'strata-hostile-registry', 'IP:127.0.0.1,IP:127.0.0.2,DNS:localhost');
  return { cert: readFileSync(path, 'utf8'), key: readFileSync(key, 'utf8'), path, dir };
}

/** This process trusts `cert` from now on (Node 24's tls.setDefaultCACertificates; undici uses the default store). */
export function trustInProcess(cert: Cert): void {
  setDefaultCACertificates([...getCACertificates('default'), cert.cert]);
}

export interface OriginOptions {
  host?: string;
  port?: number;
  /** HTTPS with this certificate. */
  tls?: Cert;
  /** With tls: plain HTTP on the same port too (the first byte tells a TLS hello from a request line). */
  alsoPlain?: boolean;
}

/** An origin whose answers come from `handler` (replaceable: origin.handler = …). */
export async function startOrigin(handler: Handler, opts: OriginOptions = {}): Promise<Origin> {
  const hits: Hit[] = [];
  const origin = { hits, written: { bytes: 0 }, handler } as Origin;
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.push({
      method: req.method ?? '',
      path: url.pathname + url.search,
      secure: 'encrypted' in req.socket,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    Promise.resolve(origin.handler(req, res, url)).catch(() => res.destroy());
  };
  const plain = createHttp(serve);
  const servers: Server[] = [plain];
  let listener: Server | ReturnType<typeof createNet> = plain;
  if (opts.tls) {
    const secure = createHttps({ cert: opts.tls.cert, key: opts.tls.key }, serve);
    servers.push(secure);
    listener = secure;
    if (opts.alsoPlain) {
      listener = createNet((socket: Socket) => {
        socket.once('readable', () => {
          const first = socket.read(1) as Buffer | null;
          if (!first) return socket.destroy();
          socket.unshift(first);
          (first[0] === 0x16 ? secure : plain).emit('connection', socket);
        });
      });
    }
  }
  const sockets = new Set<Socket>();
  listener.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  origin.port = (listener.address() as AddressInfo).port;
  origin.url = `${opts.tls ? 'https' : 'http'}://${opts.host ?? '127.0.0.1'}:${origin.port}`;
  origin.stop = async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.closeAllConnections?.();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  };
  return origin;
}

/** Whether any hit carried an Authorization header. */
export function sawCredentials(o: Origin): boolean {
  return o.hits.some((h) => h.authorization !== undefined);
}

/** One small valid image: an empty tar layer, its config, and the manifest. */
export interface TinyImage {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  blobs: Map<string, Buffer>;
  manifestDigest: string;
}

export function tinyImage(): TinyImage {
  const layer = Buffer.alloc(1024); // an empty tar: two zero blocks
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }),
  );
  return {
    layer,
    config,
    manifest,
    blobs: new Map([
      [sha(layer), layer],
      [sha(config), config],
    ]),
    manifestDigest: sha(manifest),
  };
}

/** The image as an OCI layout in `dir` (tag latest), for `strata push oci:DIR`. */
export function writeLayout(dir: string, img: TinyImage): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of [img.layer, img.config, img.manifest]) writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: img.manifestDigest,
        size: img.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}

export const USER = 'strata';
export const PASSWORD = 'registry-secret';
export const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
/** The token every token service here hands out, and the registry accepts. */
export const TOKEN = 'registry-token';

export interface RegistryBehaviour {
  /** 'basic' wants BASIC; a realm URL wants Bearer TOKEN from that token service. Default: no auth. */
  auth?: 'basic' | { realm: string };
  /** The absolute Location a POST to uploads answers with (default: this registry's /upload/1). */
  uploadLocation?: () => string;
  /** Blob GETs answer 307 to this (+ the digest). */
  blobRedirect?: () => string;
  /** Manifest GETs answer 307 to this (+ the reference). */
  manifestRedirect?: () => string;
  /** HEADs find nothing, so a push uploads every blob. */
  empty?: boolean;
}

function authorized(req: IncomingMessage, auth: RegistryBehaviour['auth']): boolean {
  if (!auth) return true;
  return req.headers.authorization === (auth === 'basic' ? BASIC : `Bearer ${TOKEN}`);
}

function challenge(auth: NonNullable<RegistryBehaviour['auth']>): string {
  return auth === 'basic' ? 'Basic realm="hostile"' : `Bearer realm="${auth.realm}",service="hostile"`;
}

/**
 * A registry serving `img` as test/app:latest and taking uploads, behaving as
 * `b` says. Paths outside /v2/ play storage and token service for redirects and
 * realms pointed at this very origin.
 */
export function registryHandler(img: TinyImage, b: RegistryBehaviour, self: () => string): Handler {
  return (req, res, url) => {
    const p = url.pathname;
    if (p === '/token') return json(res, 200, { token: TOKEN, expires_in: 300 });
    if (p.startsWith('/storage/')) return serveContent(img, p.slice('/storage/'.length), res);
    if (p.startsWith('/upload/')) return takeUpload(req, res, url);
    if (!p.startsWith('/v2/')) return json(res, 404, {});
    if (!authorized(req, b.auth)) {
      res.writeHead(401, { 'www-authenticate': challenge(b.auth!), 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (p === '/v2/') return json(res, 200, {});
    if (b.empty && req.method === 'HEAD') return json(res, 404, {});
    const blob = /^\/v2\/test\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(p);
    if (blob && req.method === 'GET' && b.blobRedirect) return redirect(res, `${b.blobRedirect()}${blob[1]}`);
    if (blob) return serveContent(img, blob[1]!, res, req.method === 'HEAD');
    const manifest = /^\/v2\/test\/app\/manifests\/([^/]+)$/.exec(p);
    if (manifest && req.method === 'GET' && b.manifestRedirect) return redirect(res, `${b.manifestRedirect()}${manifest[1]}`);
    if (manifest && (req.method === 'GET' || req.method === 'HEAD')) return serveContent(img, manifest[1]!, res, req.method === 'HEAD');
    if (manifest && req.method === 'PUT')
      return drain(req, () => res.writeHead(201, { 'docker-content-digest': manifest[1]!.startsWith('sha256:') ? manifest[1]! : img.manifestDigest }).end());
    if (p === '/v2/test/app/blobs/uploads/' && req.method === 'POST')
      return drain(req, () => res.writeHead(202, { location: b.uploadLocation?.() ?? `${self()}/upload/1`, 'content-length': '0' }).end());
    json(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
  };
}

/** Storage, attacker or token service on another origin: serves the image's content to anyone and takes uploads. */
export function storageHandler(img: TinyImage): Handler {
  return (req, res, url) => {
    if (url.pathname === '/token') return json(res, 200, { token: TOKEN, expires_in: 300 });
    if (req.method === 'PATCH' || req.method === 'PUT' || req.method === 'POST') return takeUpload(req, res, url);
    const last = url.pathname.split('/').pop() ?? '';
    serveContent(img, last, res, req.method === 'HEAD');
  };
}

/** A 401 with a Bearer challenge naming this origin's own /token: what an attacker answers a redirected request with. */
export function challengeHandler(self: () => string): Handler {
  return (_req, res, url) => {
    if (url.pathname === '/token') return json(res, 200, { token: 'attacker-token', expires_in: 300 });
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${self()}/token",service="attacker"` }).end();
  };
}

function serveContent(img: TinyImage, ref: string, res: ServerResponse, head = false): void {
  const body = ref === 'latest' || ref === img.manifestDigest ? img.manifest : img.blobs.get(ref);
  if (!body) return json(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
  const headers: Record<string, string> = { 'content-length': String(body.length), 'docker-content-digest': sha(body) };
  if (body === img.manifest) headers['content-type'] = 'application/vnd.oci.image.manifest.v1+json';
  res.writeHead(200, headers).end(head ? undefined : body);
}

function takeUpload(req: IncomingMessage, res: ServerResponse, url: URL): void {
  drain(req, () => {
    if (req.method === 'PUT') res.writeHead(201, url.searchParams.get('digest') ? { 'docker-content-digest': url.searchParams.get('digest')! } : {}).end();
    else res.writeHead(202, { location: url.pathname, range: '0-0', 'content-length': '0' }).end();
  });
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(307, { location: to, 'content-length': '0' }).end();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function drain(req: IncomingMessage, then: () => void): void {
  req.resume();
  req.on('end', then);
}

/** Writes `total` bytes of `fill` as fast as the client reads, counting them in `origin.written`. */
export async function stream(res: ServerResponse, origin: Origin, total: number, fill = ' '): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, fill);
  for (let sent = 0; sent < total && !res.destroyed; sent += chunk.length) {
    origin.written.bytes += chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done).off('close', done);
          resolve();
        };
        res.on('drain', done).on('close', done);
      });
    }
  }
  res.end();
}

/** One byte every `everyMs`, at most `max` of them (a bounded trickle), then the end. */
export async function trickle(res: ServerResponse, everyMs: number, max: number, byte = ' '): Promise<void> {
  for (let i = 0; i < max && !res.destroyed; i++) {
    res.write(byte);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  res.end();
}

export function cleanup(cert: Cert | undefined): void {
  if (cert) removeDir(cert.dir);
}
