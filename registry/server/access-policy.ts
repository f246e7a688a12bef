// Who may pull, push and delete which repositories: strata serve's access
// file (--access-file), a JSON object beside the htpasswd file (which keeps
// the passwords):
//
//   { "anonymous": { "pull": ["*"] },
//     "users": { "alice": { "pull": ["*"], "push": ["team-a/*"], "delete": ["team-a/*"] } } }
//
// A pattern is a repository name in which `*` stands for any run of
// characters, slashes included: `team-a/*` covers team-a/app and
// team-a/x/y (not team-a itself), `*` covers everything. "anonymous" is what
// anyone may do without credentials (default: pull everything, as without an
// access file); a user may do what anonymous may and what their entry says;
// a user of the htpasswd file the access file does not name gets nothing more
// than anonymous. Without an access file every user may do everything.
export type Permission = 'pull' | 'push' | 'delete';

const PERMISSIONS: readonly Permission[] = ['pull', 'push', 'delete'];

type Rights = Record<Permission, RegExp[]>;

export interface Policy {
  /** Whether `user` (undefined: no credentials) may do `what` to `repository`. */
  allows(user: string | undefined, what: Permission, repository: string): boolean;
  /** The users the policy names (each must have a password). */
  readonly users: readonly string[];
}

function pattern(p: string): RegExp {
  return new RegExp(
    `^${p
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

function rights(value: unknown, where: string): Rights {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: not an object of "pull", "push", "delete"`);
  const out: Rights = { pull: [], push: [], delete: [] };
  for (const [k, v] of Object.entries(value)) {
    if (!PERMISSIONS.includes(k as Permission)) throw new Error(`${where}: "${k}" is none of "pull", "push", "delete"`);
    if (!Array.isArray(v) || !v.every((p) => typeof p === 'string' && p !== '')) throw new Error(`${where}.${k}: not a list of repository patterns`);
    out[k as Permission] = v.map(pattern);
  }
  return out;
}

function policy(anonymous: Rights, users: Map<string, Rights>, others: Rights): Policy {
  const may = (r: Rights, what: Permission, repository: string) => r[what].some((re) => re.test(repository));
  return {
    allows: (user, what, repository) => may(anonymous, what, repository) || (user !== undefined && may(users.get(user) ?? others, what, repository)),
    users: [...users.keys()],
  };
}

const everything = (): Rights => ({ pull: [/^/], push: [/^/], delete: [/^/] });
const nothing = (): Rights => ({ pull: [], push: [], delete: [] });

/** Without an access file: anyone pulls, every user of the htpasswd file pushes and deletes. */
export function defaultPolicy(): Policy {
  return policy({ ...nothing(), pull: [/^/] }, new Map(), everything());
}

export function parsePolicy(text: string, file = 'access file'): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${file}: not an object of "anonymous" and "users"`);
  const { anonymous, users, ...rest } = doc as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) throw new Error(`${file}: "${extra[0]}" is neither "anonymous" nor "users"`);
  if (users !== undefined && (typeof users !== 'object' || users === null || Array.isArray(users)))
    throw new Error(`${file}: "users" is not an object of user names`);
  const named = new Map(Object.entries(users ?? {}).map(([u, r]) => [u, rights(r, `${file}: users.${u}`)]));
  return policy(anonymous === undefined ? { ...nothing(), pull: [/^/] } : rights(anonymous, `${file}: anonymous`), named, nothing());
}
