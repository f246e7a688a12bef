// Who may do what. Reads are anonymous. Writes (push, delete) need a user of
// an htpasswd file (bcrypt entries only), or are open to anyone with
// --allow-anonymous-push (loopback only, checked by serve), or are refused:
// with --read-only, and when neither was given. An access file
// (access-policy.ts) narrows this per repository: which user may pull, push
// and delete what, and what anonymous may pull.
//
// Credentials are checked so that hostile clients learn and cost little: a
// failed check does the same bcrypt work whether the user exists or not and
// whatever their hash's cost; bcrypt runs on one worker thread, never on the
// event loop, so reads go on while it works; and when too many checks wait,
// the next is refused at once (429) rather than queued.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { defaultPolicy, parsePolicy, type Permission, type Policy } from './access-policy.js';
import type { CheckReply, CheckRequest } from './bcrypt-worker.js';
import { RegistryError } from './errors.js';
import { workerEntry } from '../../base/worker-entry.js';

/** pull: reads of a repository; push: uploads and manifest PUTs; delete; login: GET /v2/, where clients learn the challenge. */
export type Action = Permission | 'login';

export interface Access {
  /**
   * Resolves when the request may go on; throws the refusal: 401 with a
   * challenge (no or wrong credentials), 403 (a user who may not), 405
   * (read-only) or 429 (too many checks waiting). `repository` is undefined for login.
   */
  authorize(action: Action, repository: string | undefined, authorization: string | undefined): Promise<void>;
}

export type AccessMode = { kind: 'read-only'; reason: string } | { kind: 'anonymous-push' } | { kind: 'htpasswd'; users: Map<string, string>; policy?: Policy };

export const REALM = 'strata';

/**
 * Credential checks waiting or running at once, beyond which the next is
 * refused with 429: at cost 5 (htpasswd -B) a check takes a few ms, so a full
 * queue is ~50 ms of work; at cost 10, ~1 s. Credentials that passed before
 * skip the queue (the memo below), so pushes in progress go on.
 */
export const MAX_PENDING_CHECKS = 16;

/** user → bcrypt hash, from lines "user:$2y$…" (# comments and blank lines skipped). */
export function parseHtpasswd(text: string, file = 'htpasswd'): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new Error(`${file}:${i + 1}: not "user:bcrypt-hash" (only bcrypt entries, $2y$/$2a$/$2b$, as from htpasswd -B)`);
    }
    users.set(user, hash);
  });
  if (users.size === 0) throw new Error(`${file}: no users`);
  return users;
}

export async function loadHtpasswd(file: string): Promise<Map<string, string>> {
  return parseHtpasswd(await readFile(file, 'utf8'), file);
}

export async function loadPolicy(file: string): Promise<Policy> {
  return parsePolicy(await readFile(file, 'utf8'), file);
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

const costOf = (hash: string) => Number(hash.slice(4, 6));

/** One worker thread that runs the comparisons one at a time, started on the first check. */
class BcryptThread {
  private worker: Worker | undefined;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (ok: boolean) => void; reject: (e: Error) => void }>();

  get pending(): number {
    return this.waiting.size;
  }

  compare(password: string, hashes: string[]): Promise<boolean> {
    const worker = (this.worker ??= this.start());
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, password, hashes } satisfies CheckRequest);
    });
  }

  private start(): Worker {
    const entry = workerEntry('./bcrypt-worker.js', import.meta.url);
    const worker = new Worker(entry.url, entry.execArgv ? { execArgv: entry.execArgv } : {});
    // Idle, it must not keep the process alive (tests and gc make an Access and leave).
    worker.unref();
    worker.on('message', ({ id, ok }: CheckReply) => {
      this.waiting.get(id)?.resolve(ok);
      this.waiting.delete(id);
    });
    const fail = (e: Error) => {
      this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the bcrypt thread exited (${code})`)));
    return worker;
  }
}

/**
 * Checks Basic credentials against bcrypt hashes. bcrypt is slow on purpose
 * (ms to tens of ms), and a push makes dozens of requests, so credentials that
 * passed are remembered, as a keyed hash (never the password itself).
 *
 * Every check costs 2^max, max being the highest cost in the file: an unknown
 * user is compared with a decoy of cost max; a user of cost c with their own
 * hash and then decoys of costs c, c+1, …, max-1, since bcrypt's work is
 * 2^cost and 2^c + 2^c + 2^(c+1) + … + 2^(max-1) = 2^max. So neither whether
 * a user exists nor their hash's cost shows in the time a refusal takes.
 */
class HtpasswdChecker {
  private readonly passed = new Set<string>();
  private readonly key = randomBytes(32);
  private readonly decoys = new Map<number, string>();
  private readonly maxCost: number;
  private readonly thread = new BcryptThread();

  constructor(private readonly users: Map<string, string>) {
    const costs = [...users.values()].map(costOf);
    this.maxCost = Math.max(...costs);
    // A decoy is a salt of its cost and any 31 hash characters: comparing with it does the full work of that cost, and making it none.
    for (let c = Math.min(...costs); c <= this.maxCost; c++) this.decoys.set(c, `${bcrypt.genSaltSync(c)}${'.'.repeat(31)}`);
  }

  /** The user whose credentials these are, or undefined (none, or wrong); throws 429 when too many checks wait. */
  async user(header: string | undefined): Promise<string | undefined> {
    const creds = basicCredentials(header);
    if (!creds) return undefined;
    const memo = createHash('sha256').update(this.key).update(header!).digest('hex');
    if (this.passed.has(memo)) return creds.user;
    if (this.thread.pending >= MAX_PENDING_CHECKS) {
      throw new RegistryError(429, 'TOOMANYREQUESTS', 'too many credential checks at once; retry later', undefined, { 'Retry-After': '1' });
    }
    const hash = this.users.get(creds.user);
    const hashes = hash ? [hash] : [this.decoys.get(this.maxCost)!];
    for (let c = hash ? costOf(hash) : this.maxCost; c < this.maxCost; c++) hashes.push(this.decoys.get(c)!);
    const ok = await this.thread.compare(creds.password, hashes);
    if (!ok || !hash) return undefined;
    if (this.passed.size >= 1024) this.passed.clear();
    this.passed.add(memo);
    return creds.user;
  }
}

export function createAccess(mode: AccessMode): Access {
  const challenge = () => new RegistryError(401, 'UNAUTHORIZED', 'authentication required', undefined, { 'WWW-Authenticate': `Basic realm="${REALM}"` });
  switch (mode.kind) {
    case 'anonymous-push':
      return { authorize: async () => undefined };
    case 'read-only':
      return {
        authorize: async (action) => {
          if (action === 'push' || action === 'delete') throw new RegistryError(405, 'UNSUPPORTED', `this registry is read-only (${mode.reason})`);
        },
      };
    case 'htpasswd': {
      const checker = new HtpasswdChecker(mode.users);
      const policy = mode.policy ?? defaultPolicy();
      return {
        authorize: async (action, repository, authorization) => {
          // What anonymous may do needs no credentials, and any that were sent
          // are ignored: so reads never wait for bcrypt, and clients that send
          // empty Basic credentials once they saw the challenge still read.
          if (action !== 'login' && policy.allows(undefined, action, repository!)) return;
          const user = await checker.user(authorization);
          if (user === undefined) throw challenge();
          if (action !== 'login' && !policy.allows(user, action, repository!))
            throw new RegistryError(403, 'DENIED', `${user} may not ${action} ${repository}`);
        },
      };
    }
  }
}
