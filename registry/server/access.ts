// Who may do what. Reads are anonymous. Writes (push, delete) need a user of
// an htpasswd file (bcrypt entries only), or are open to anyone with
// --allow-anonymous-push (loopback only, checked by serve), or are refused:
// with --read-only, and when neither was given.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { RegistryError } from './errors.js';

/** read: pulls and listings; write: pushes and deletes; login: GET /v2/, where clients learn the challenge. */
export type Action = 'read' | 'write' | 'login';

export interface Access {
  /** Resolves when the request may go on; throws the refusal (401 with a challenge, or 405). */
  authorize(action: Action, authorization: string | undefined): Promise<void>;
}

export type AccessMode = { kind: 'read-only'; reason: string } | { kind: 'anonymous-push' } | { kind: 'htpasswd'; users: Map<string, string> };

export const REALM = 'strata';

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

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Checks Basic credentials against bcrypt hashes. bcrypt is slow on purpose
 * (tens of ms), and a push makes dozens of requests, so credentials that
 * passed are remembered, as a keyed hash (never the password itself).
 */
class HtpasswdChecker {
  private readonly passed = new Set<string>();
  private readonly key = randomBytes(32);
  // A user who does not exist costs a bcrypt comparison too, so timing does not tell which users do.
  private readonly decoy = bcrypt.hashSync(randomBytes(16).toString('hex'), 10);

  constructor(private readonly users: Map<string, string>) {}

  async valid(header: string | undefined): Promise<boolean> {
    const creds = basicCredentials(header);
    if (!creds) return false;
    const memo = createHash('sha256').update(this.key).update(header!).digest('hex');
    if (this.passed.has(memo)) return true;
    const hash = this.users.get(creds.user);
    // bcryptjs reads $2y$ (PHP's and htpasswd's name for the fixed $2a$) only as $2b$: the same algorithm.
    const ok = await bcrypt.compare(creds.password, (hash ?? this.decoy).replace(/^\$2y\$/, '$2b$'));
    if (!ok || !hash) return false;
    if (this.passed.size >= 1024) this.passed.clear();
    this.passed.add(memo);
    return true;
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
          if (action === 'write') throw new RegistryError(405, 'UNSUPPORTED', `this registry is read-only (${mode.reason})`);
        },
      };
    case 'htpasswd': {
      const checker = new HtpasswdChecker(mode.users);
      return {
        authorize: async (action, authorization) => {
          // Credentials that fail on a read are ignored: reads are anonymous, and
          // some clients send empty Basic credentials once they saw the challenge.
          if (action === 'read') return;
          if (!(await checker.valid(authorization))) throw challenge();
        },
      };
    }
  }
}
