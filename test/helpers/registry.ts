// A real registry for the registry client's tests: CNCF distribution 2.8
// (Debian's docker-registry) on a free loopback port with its own storage
// directory, without auth, with a bcrypt htpasswd file, or with Bearer tokens
// from our token server. stop() ends the process; a test process that dies
// first takes the registries it started with it.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { killChild, spawnTracked } from '../../conformance/reproducibility/children.js';
import { removeDir, tempDir } from './strata.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export interface RegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** user → password for htpasswd and token modes (default: { strata: 'strata-password' }). */
  users?: Record<string, string>;
  /** Token mode: anonymous clients may pull. */
  anonymousPull?: boolean;
  /** Token mode: the tokens' exp (default 300). distribution 2.8 accepts a token for 60 s past it. */
  tokenTtlSeconds?: number;
  /** storage.delete.enabled (default false, as in distribution). */
  deleteEnabled?: boolean;
}

export interface Registry {
  url: string;
  host: string;
  /** The storage directory (filesystem driver root). */
  root: string;
  users: Record<string, string>;
  token?: TokenServer;
  logs(): string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the registry needs one in its config). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Polls GET url until `ok` accepts the status; gives up when `dead()` says so or after `ms`. */
export async function waitForHttp(url: string, ok: (r: Response) => boolean, dead: () => string | null, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const why = dead();
    if (why) throw new Error(why);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (ok(r)) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function config(root: string, port: number, auth: string, deleteEnabled: boolean): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(root)}`,
    '  delete:',
    `    enabled: ${deleteEnabled}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    auth,
  ].join('\n');
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const mode = opts.auth ?? 'none';
  const users = opts.users ?? { strata: 'strata-password' };
  const dir = tempDir('strata-registry-');
  const root = join(dir, 'storage');
  let token: TokenServer | undefined;
  let auth = '';
  if (mode === 'htpasswd') {
    const file = join(dir, 'htpasswd');
    writeFileSync(
      file,
      Object.entries(users)
        .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}\n`)
        .join(''),
    );
    auth = `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${JSON.stringify(file)}`;
  } else if (mode === 'token') {
    token = await startTokenServer({ users, anonymousPull: opts.anonymousPull, ttlSeconds: opts.tokenTtlSeconds });
    auth = [
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(token.realm)}`,
      `    service: ${JSON.stringify(token.service)}`,
      `    issuer: ${JSON.stringify(token.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(token.certPath)}`,
    ].join('\n');
  }

  let out = '';
  const MAX_LOG = 4 << 20;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const cfg = join(dir, 'config.yml');
    writeFileSync(cfg, config(root, port, auth, opts.deleteEnabled ?? false));
    out = '';
    const child = spawnTracked('docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (b: Buffer) => {
      out += b.toString();
      if (out.length > MAX_LOG) out = out.slice(-MAX_LOG / 2);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    let spawnError: Error | null = null;
    child.on('error', (e) => (spawnError = e));
    const url = `http://127.0.0.1:${port}`;
    try {
      // The log line makes sure that it is this registry that answers.
      const ours = (r: Response) => (r.status === 200 || r.status === 401) && out.includes(`listening on 127.0.0.1:${port}`);
      await waitForHttp(`${url}/v2/`, ours, () => {
        if (spawnError) return `docker-registry: ${spawnError.message}`;
        if (child.exitCode !== null || child.signalCode !== null) return `docker-registry exited (${child.exitCode ?? child.signalCode}):\n${out}`;
        return null;
      });
    } catch (e) {
      await killChild(child);
      if (attempt < 5 && /address already in use/.test(out)) continue;
      await token?.stop();
      removeDir(dir);
      throw e;
    }
    return {
      url,
      host: `127.0.0.1:${port}`,
      root,
      users,
      ...(token ? { token } : {}),
      logs: () => out,
      async stop() {
        await killChild(child);
        await token?.stop();
        removeDir(dir);
      },
    };
  }
}
