// The image's own root: what a minimal image needs outside /nix/store, made by
// Strata as tree entries (no store path holds it). copyToRoot paths are linked in
// as a symlink farm the way buildEnv does: directories real, everything else a
// symlink into the store.
import { lstat, readdir } from 'node:fs/promises';
import type { ImageDescription, UserEntry } from '../nix/description.js';
import { StrataError } from '../base/errors.js';
import { sha256 } from '../base/hash-tap.js';
import { bytesReader } from '../base/fs.js';
import { compareBytes, compareTreePaths, type TreeEntry } from './tree.js';

const DIR_MODE = 0o755;
const CA_FILE = 'etc/ssl/certs/ca-certificates.crt';

class RootTree {
  private readonly entries = new Map<string, TreeEntry & { origin: string }>();

  dir(path: string, mode = DIR_MODE, origin = 'strata'): void {
    this.parents(path);
    const e = this.entries.get(path);
    if (e && e.type !== 'directory') throw collision(path, e.origin, origin);
    if (!e || mode !== DIR_MODE) this.entries.set(path, { type: 'directory', path, mode, origin });
  }

  link(path: string, target: string, origin: string): void {
    this.parents(path);
    const e = this.entries.get(path);
    if (e) {
      if (e.type === 'symlink' && e.target === target) return;
      throw collision(path, e.origin, origin);
    }
    this.entries.set(path, { type: 'symlink', path, target, origin });
  }

  file(path: string, content: string, mode = 0o644): void {
    this.parents(path);
    const e = this.entries.get(path);
    if (e) throw collision(path, e.origin, 'strata');
    const bytes = Buffer.from(content, 'utf8');
    this.entries.set(path, {
      type: 'file',
      path,
      mode,
      size: bytes.length,
      open: () => bytesReader(bytes),
      contentDigest: sha256(bytes),
      origin: 'strata',
    });
  }

  private parents(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const e = this.entries.get(p);
      if (!e) this.entries.set(p, { type: 'directory', path: p, mode: DIR_MODE, origin: 'strata' });
      else if (e.type !== 'directory') throw collision(p, e.origin, 'a directory needed by another entry');
    }
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  sorted(): TreeEntry[] {
    return [...this.entries.values()].map(({ origin: _o, ...e }) => e as TreeEntry).sort((a, b) => compareTreePaths(a.path, b.path));
  }
}

function collision(path: string, a: string, b: string): StrataError {
  return new StrataError('description', `/${path} is provided twice in the image root: by ${a} and by ${b}`);
}

/** Links every file of `storePath` under the root, recursing into directories. */
async function linkTree(tree: RootTree, storePath: string, rel: string): Promise<void> {
  const names = (await readdir(rel ? `${storePath}/${rel}` : storePath)).sort(compareBytes);
  for (const n of names) {
    const r = rel ? `${rel}/${n}` : n;
    if (r === 'nix') throw new StrataError('description', `copyToRoot path ${storePath} has a top-level 'nix' entry, which would shadow the store`);
    const st = await lstat(`${storePath}/${r}`);
    if (st.isDirectory()) {
      tree.dir(r, DIR_MODE, storePath);
      await linkTree(tree, storePath, r);
    } else tree.link(r, `${storePath}/${r}`, storePath);
  }
}

function passwd(users: UserEntry[]): { passwd: string; group: string } {
  const all = new Map<string, UserEntry>([
    ['root', { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' }],
    ['nobody', { name: 'nobody', uid: 65534, gid: 65534, home: '/var/empty', shell: '/sbin/nologin' }],
  ]);
  for (const u of users) all.set(u.name, u);
  const list = [...all.values()].sort((a, b) => a.uid - b.uid || compareBytes(a.name, b.name));
  const groups = new Map<number, string>();
  for (const u of list) if (!groups.has(u.gid)) groups.set(u.gid, u.name === 'nobody' ? 'nogroup' : u.name);
  return {
    passwd: list.map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.name}:${u.home}:${u.shell}\n`).join(''),
    group: [...groups]
      .sort((a, b) => a[0] - b[0])
      .map(([gid, name]) => `${name}:x:${gid}:\n`)
      .join(''),
  };
}

/** The entries of the root layer, in tree order; empty when the image needs none. */
export async function rootEntries(d: ImageDescription): Promise<TreeEntry[]> {
  const tree = new RootTree();
  for (const p of d.copyToRoot) {
    const st = await lstat(p);
    if (!st.isDirectory()) throw new StrataError('description', `copyToRoot path ${p} is not a directory`);
    await linkTree(tree, p, '');
  }
  if (d.tmp && !tree.has('tmp')) tree.dir('tmp', 0o1777);
  if (d.users.length > 0) {
    const { passwd: pw, group } = passwd(d.users);
    tree.file('etc/passwd', pw);
    tree.file('etc/group', group);
  }
  if (d.caCertificates) {
    const st = await lstat(d.caCertificates);
    const target = st.isDirectory() ? `${d.caCertificates}/etc/ssl/certs/ca-bundle.crt` : d.caCertificates;
    await lstat(target).catch(() => {
      throw new StrataError('description', `caCertificates: ${target} does not exist`);
    });
    tree.link(CA_FILE, target, 'caCertificates');
  }
  return tree.sorted();
}

export const CA_CERT_PATH = `/${CA_FILE}`;
