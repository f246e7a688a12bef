// `strata serve` and `strata gc`: options checked in one place, the registry
// app (registry/server/) put on a Node HTTP server (HTTP/1.1 over TLS with
// --tls-cert/--tls-key, its certificate read again on SIGHUP), and a clean stop
// on SIGINT or SIGTERM (no new connections, idle ones closed, the rest given a
// few seconds). Uploads cut by a stop stay resumable under uploads/. On a
// loopback address it answers only loopback Host names (see foreignHost).
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { mkdirs } from '../base/fs.js';
import { createAccess, loadHtpasswd, loadPolicy, type AccessMode } from '../registry/server/access.js';
import { createRegistryApp } from '../registry/server/app.js';
import type { Bridge } from '../registry/server/bridge.js';
import { RegistryError } from '../registry/server/errors.js';
import { gc } from '../registry/server/gc.js';
import { jsonLogger, logRequests, type Logger } from '../registry/server/log.js';
import type { RegistryStore } from '../registry/server/storage.js';
import { Store } from '../registry/server/store.js';
import { MIN_SECRET_BYTES, UploadTokens } from '../registry/server/upload-token.js';
import { parseStorageUrl, UpstreamStore } from '../registry/server/upstream-store.js';
import { isLoopback } from '../registry/session.js';
import { StrataError } from '../base/errors.js';
import { describeCertificate, readTlsPair, TLS_HANDSHAKE_MS, tlsFiles } from './serve-tls.js';

export interface ServeOptions {
  /** HOST:PORT or [IPv6]:PORT; port 0 takes a free one (the printed address tells which). */
  listen: string;
  /** The storage directory; unused with `storage`. */
  root: string;
  /** Registry storage: docker://REGISTRY[/PREFIX] holds everything, nothing is kept here (registry/server/upstream-store.ts). */
  storage?: string;
  /** With `storage`: blob GETs get a 307 to the upstream. */
  redirectBlobs?: boolean;
  /** With `storage`: the secret every replica signs upload session ids with (32 bytes or more), so any of them continues a session. */
  fleetSecretFile?: string;
  htpasswd?: string;
  /** Who may pull, push and delete which repositories (registry/server/access-policy.ts); needs htpasswd. */
  accessFile?: string;
  readOnly?: boolean;
  allowAnonymousPush?: boolean;
  /** PEM certificate (chain) and key: HTTPS instead of HTTP. Both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /** Repositories served from images made on demand (the --image options fill it in). */
  bridge?: Bridge;
  /** The server's log: a JSON line per request, per build and per server error (default: on stderr). */
  log?: Logger;
}

export interface RunningServer {
  /** http://HOST:PORT, or https:// */
  url: string;
  /** With TLS: reads the certificate and key files again and serves new connections with them; what it now serves. */
  reloadTls?(): Promise<string>;
  close(): Promise<void>;
}

/** How long requests in flight may go on after a stop is asked for. */
const DRAIN_MS = 5000;

export function parseListen(listen: string): { host: string; port: number } {
  const m = listen.match(/^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new StrataError('usage', `--listen '${listen}' is not HOST:PORT (e.g. 127.0.0.1:5000, [::1]:5000, 0.0.0.0:5000)`);
  return { host: m[1] ?? m[2]!, port };
}

async function accessMode(opts: ServeOptions, host: string): Promise<AccessMode> {
  if (opts.allowAnonymousPush && (opts.readOnly || opts.htpasswd))
    throw new StrataError('usage', '--allow-anonymous-push goes with neither --read-only nor --htpasswd');
  if (opts.readOnly) return { kind: 'read-only', reason: 'started with --read-only' };
  if (opts.accessFile && !opts.htpasswd) throw new StrataError('usage', '--access-file goes with --htpasswd (which holds the passwords)');
  if (opts.htpasswd) {
    const users = await loadHtpasswd(opts.htpasswd).catch((e: unknown) => {
      throw new StrataError('usage', `--htpasswd: ${(e as Error).message}`, { cause: e });
    });
    if (!opts.accessFile) return { kind: 'htpasswd', users };
    const policy = await loadPolicy(opts.accessFile).catch((e: unknown) => {
      throw new StrataError('usage', `--access-file: ${(e as Error).message}`, { cause: e });
    });
    // A name with no password is a typo, or a user removed from one file only: either way not what was meant.
    const unknown = policy.users.filter((u) => !users.has(u));
    if (unknown.length) throw new StrataError('usage', `--access-file: ${unknown.join(', ')} not in --htpasswd ${opts.htpasswd}`);
    return { kind: 'htpasswd', users, policy };
  }
  if (opts.allowAnonymousPush) {
    // Anyone who can connect could push, and overwrite tags: only this machine may.
    if (!loopbackName(host))
      throw new StrataError(
        'usage',
        `--allow-anonymous-push is for a loopback address (127.0.0.1, ::1, localhost), not ${host}; use --htpasswd to take pushes from elsewhere`,
      );
    return { kind: 'anonymous-push' };
  }
  return { kind: 'read-only', reason: 'pushes need --htpasswd FILE, or --allow-anonymous-push on loopback' };
}

/** localhost, *.localhost (RFC 6761: never asked of DNS), 127.0.0.0/8, ::1, without a port or brackets. */
function loopbackName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return isLoopback(name.includes(':') ? `[${name}]` : name) || /^[a-z0-9.-]+\.localhost$/.test(name);
}

/** The Host header's name (no port), or undefined when it has none or is not one. */
function hostName(header: string | undefined): string | undefined {
  const m = header?.match(/^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * A server listening on loopback only answers only requests whose Host is a
 * loopback name or address. A web page whose name an attacker rebinds (DNS)
 * to 127.0.0.1 can make the browser send it requests, but with the page's own
 * name as Host: refused here, it can neither push nor delete (with
 * --allow-anonymous-push), nor start Nix builds through the bridge, nor read.
 * A server listening on other addresses is reached by any name, and --htpasswd guards its writes.
 */
function foreignHost(incoming: IncomingMessage): Response | undefined {
  const name = hostName(incoming.headers.host);
  if (name !== undefined && loopbackName(name)) return undefined;
  const e = new RegistryError(
    403,
    'DENIED',
    `Host ${JSON.stringify(incoming.headers.host ?? '')} is not a loopback name, and this server listens on loopback only`,
  );
  return Response.json(e.body(), { status: e.status, headers: { 'Docker-Distribution-API-Version': 'registry/2.0' } });
}

/** /readyz: the storage (directory writable, or upstream registry answering), and Nix's store when images are built on demand. */
async function readiness(storage: RegistryStore, builds: boolean): Promise<string[]> {
  const problems: string[] = [];
  if (storage instanceof UpstreamStore) problems.push(...(await storage.ready()));
  else if (storage instanceof Store) await access(storage.root, constants.W_OK).catch(() => problems.push('the storage directory is not writable'));
  if (builds) {
    const { runNix } = await import('../nix/run.js');
    // The store every build starts from, answered by the daemon where there is one.
    await runNix(['store', 'ping'], { captureStderr: true }).catch(() => problems.push('the Nix store does not answer'));
  }
  return problems;
}

/** The directory store (made if missing), or registry storage with its signed upload sessions. */
async function openStorage(opts: ServeOptions): Promise<RegistryStore> {
  if (!opts.storage) {
    if (opts.redirectBlobs || opts.fleetSecretFile) throw new StrataError('usage', '--redirect-blobs and --fleet-secret-file go with --storage docker://…');
    await mkdirs(opts.root).catch((e: unknown) => {
      throw new StrataError('output', `cannot make the registry root ${opts.root}: ${(e as Error).message}`, { cause: e });
    });
    return new Store(opts.root);
  }
  const target = parseStorageUrl(opts.storage);
  let tokens: UploadTokens | undefined;
  if (opts.fleetSecretFile) {
    const secret = await readFile(opts.fleetSecretFile).catch((e: NodeJS.ErrnoException) => {
      throw new StrataError('usage', `--fleet-secret-file ${opts.fleetSecretFile}: ${e.code ?? e.message}`);
    });
    if (secret.length < MIN_SECRET_BYTES)
      throw new StrataError(
        'usage',
        `--fleet-secret-file ${opts.fleetSecretFile} holds ${secret.length} bytes; it needs ${MIN_SECRET_BYTES} or more (e.g. head -c 32 /dev/urandom)`,
      );
    tokens = new UploadTokens(secret);
  }
  const store = new UpstreamStore({ ...target, tokens: tokens ?? UploadTokens.ephemeral(), ...(opts.redirectBlobs ? { redirectBlobs: true } : {}) });
  if (opts.redirectBlobs) {
    // A client sent to the upstream goes without serve's credentials: it must need none.
    const anonymous = await store.anonymousReads();
    if (anonymous === false)
      throw new StrataError('usage', `--redirect-blobs: ${store.description} asks for credentials, which clients redirected there would not have`);
    if (anonymous === undefined)
      process.stderr.write(`strata: warning: ${store.description} does not answer; --redirect-blobs assumes clients can read it anonymously\n`);
  }
  if (!tokens) process.stderr.write('strata: no --fleet-secret-file: uploads started here can be continued only by this process\n');
  return store;
}

export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  // Pull rules are serve's; a client sent to the upstream reads there without them.
  if (opts.storage && opts.redirectBlobs && opts.accessFile)
    throw new StrataError('usage', "--redirect-blobs sends clients to the upstream, where --access-file's pull rules do not apply: give one or the other");
  // The TLS pair first: a bad one is refused before any other start-up work or a made directory.
  const files = tlsFiles(opts.tlsCert, opts.tlsKey);
  const pair = files && (await readTlsPair(files));
  const auth = createAccess(await accessMode(opts, host));
  const store = await openStorage(opts);
  const log = opts.log ?? jsonLogger();
  const app = createRegistryApp({
    store,
    auth,
    log,
    ready: () => readiness(store, opts.bridge !== undefined),
    ...(opts.bridge ? { bridge: opts.bridge } : {}),
  });
  const loopbackOnly = loopbackName(host);
  const server = createAdaptorServer({
    // HTTP/1.1 over TLS (no ALPN h2): the same server otherwise, so the same limits and stop.
    ...(pair && { createServer: createHttpsServer, serverOptions: { cert: pair.cert, key: pair.key, handshakeTimeout: TLS_HANDSHAKE_MS } }),
    fetch: (request, env) => (loopbackOnly && foreignHost((env as HttpBindings).incoming)) || app.fetch(request, env),
  }) as Server;
  // Node answers `Expect: 100-continue` itself, before the request is looked
  // at, unless 'checkContinue' has a listener: the request goes to the app
  // like any other (to every 'request' listener, the log's included), whose
  // access check sends the 100 once the credentials passed.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));
  logRequests(server, log);
  // Node ends any request after 5 minutes by default; a large upload may take longer (bytes keep flowing).
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new StrataError('usage', `cannot listen on ${opts.listen}: ${e.code ?? e.message}`, { cause: e })),
    );
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${pair ? 'https' : 'http'}://${shown}:${address.port}`,
    ...(files && {
      reloadTls: async () => {
        const next = await readTlsPair(files);
        // Connections open now keep the old context; new ones get this one.
        (server as unknown as HttpsServer).setSecureContext({ cert: next.cert, key: next.key });
        return describeCertificate(next.leaf);
      },
    }),
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** Serves until SIGINT or SIGTERM, then stops cleanly. */
export async function serveUntilStopped(opts: ServeOptions): Promise<void> {
  const running = await serve(opts);
  // Listening for the signals before saying where it serves: whoever reads that line may stop it at once.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (s: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(s);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const reload = running.reloadTls;
  // One reload at a time, in order: the last SIGHUP's files win. (Without TLS, SIGHUP keeps its default: it stops the process.)
  let reloading = Promise.resolve();
  const onHangup = () => {
    reloading = reloading.then(() =>
      reload!().then(
        (cert) => void process.stderr.write(`strata: SIGHUP: serving the certificate ${cert}\n`),
        (e: Error) => void process.stderr.write(`strata: SIGHUP: kept the certificate in use: ${e.message}\n`),
      ),
    );
  };
  if (reload) process.on('SIGHUP', onHangup);
  process.stderr.write(`strata: serving on ${running.url}\n`);
  const signal = await stopped;
  process.off('SIGHUP', onHangup);
  process.stderr.write(`strata: ${signal}: stopping\n`);
  await running.close();
}

/** gc of a store (refusing a directory that is none), as one line per thing removed and a summary. */
export async function collectGarbage(root: string, graceMs: number): Promise<string[]> {
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw new StrataError('usage', `${root} is not a registry directory (strata serve --root)`);
  const r = await gc(root, { graceMs });
  const bytes = r.blobs.reduce((n, b) => n + b.size, 0);
  return [
    ...r.links.map((l) => `unlinked blob ${l.digest} from ${l.repository}`),
    ...r.referrers.map((l) => `removed referrer entry ${l.digest} from ${l.repository}`),
    ...r.blobs.map((b) => `removed blob ${b.digest} (${b.size} bytes)`),
    ...r.uploads.map((u) => `removed upload ${u}`),
    ...r.tmp.map((t) => `removed tmp/${t}`),
    `gc: ${r.blobs.length} blobs (${bytes} bytes), ${r.links.length} links, ${r.uploads.length} uploads, ${r.referrers.length} referrer entries, ${r.tmp.length} temporary files removed`,
  ];
}
