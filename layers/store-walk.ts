// Reads a store path from the filesystem as tree entries, and checks on the way
// that the bytes read are the ones Nix registered: the walk serialises what it
// reads as a NAR and compares its sha256 with the path's NAR hash.
//
// The walk is synchronous: a worker thread (where layers are made) may block,
// and one thread-pool round trip per lstat, open, read and close of thousands
// of small files was most of a layer's time.
import { createHash, type Hash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { openFileReader, type FileReader } from '../base/fs.js';
import { StrataError } from '../base/errors.js';
import { compareBytes, StoreMode, type TreeEntry } from './tree.js';

export interface StoreObject {
  /** Absolute store path, e.g. /nix/store/<hash>-<name>. */
  path: string;
  /** 'sha256-<base64>' (SRI), as parsed from Nix. */
  narHash: string;
}

/** Writes the NAR serialisation (Nix's "nix-archive-1") into a hash. */
class NarHasher {
  readonly hash: Hash = createHash('sha256');
  constructor() {
    this.str('nix-archive-1');
  }
  private u64(n: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.hash.update(b);
  }
  private pad(n: number): void {
    const p = (8 - (n % 8)) % 8;
    if (p) this.hash.update(Buffer.alloc(p));
  }
  str(s: string | Buffer): void {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    this.u64(b.length);
    this.hash.update(b);
    this.pad(b.length);
  }
  strs(...ss: string[]): void {
    for (const s of ss) this.str(s);
  }
  fileStart(executable: boolean, size: number): void {
    this.strs('(', 'type', 'regular');
    if (executable) this.strs('executable', '');
    this.str('contents');
    this.u64(size);
  }
  fileData(chunk: Buffer): void {
    this.hash.update(chunk);
  }
  fileEnd(size: number): void {
    this.pad(size);
    this.str(')');
  }
}

/**
 * Yields the entries of one store path under `nix/store/<name>`, in NAR order.
 * Throws when the content read does not match `narHash` (the store was modified,
 * or the path was garbage-collected and rebuilt with other bytes).
 */
export function* walkStorePath(obj: StoreObject): Generator<TreeEntry> {
  const name = obj.path.split('/').pop()!;
  const nar = new NarHasher();
  yield* walk(obj.path, `nix/store/${name}`, nar, lstatSync(obj.path));
  const got = `sha256-${nar.hash.digest('base64')}`;
  if (got !== obj.narHash) {
    throw new StrataError(
      'store-corrupt',
      `store path ${obj.path} does not match its NAR hash (registered ${obj.narHash}, read ${got}); run 'nix-store --verify --check-contents --repair'`,
    );
  }
}

function* walk(fsPath: string, archivePath: string, nar: NarHasher, st: Stats): Generator<TreeEntry> {
  if (st.isSymbolicLink()) {
    const target = readlinkSync(fsPath);
    nar.strs('(', 'type', 'symlink', 'target', target, ')');
    yield { type: 'symlink', path: archivePath, target };
  } else if (st.isFile()) {
    const executable = (st.mode & 0o100) !== 0;
    const size = st.size;
    nar.fileStart(executable, size);
    let opened = false;
    const open = (): FileReader => {
      if (opened) throw new Error(`internal: ${fsPath} opened twice in one walk`);
      opened = true;
      return hashedReader(fsPath, size, nar);
    };
    yield { type: 'file', path: archivePath, mode: executable ? StoreMode.executable : StoreMode.file, size, open };
    if (!opened) {
      // The consumer skipped the content; hash it anyway so the check stays whole.
      const r = open();
      try {
        const scratch = Buffer.allocUnsafe(Math.min(size + 1, 1 << 16));
        while (r.read(scratch) > 0);
      } finally {
        r.close();
      }
    }
    nar.fileEnd(size);
  } else if (st.isDirectory()) {
    nar.strs('(', 'type', 'directory');
    yield { type: 'directory', path: archivePath, mode: StoreMode.directory };
    for (const n of readdirSync(fsPath).sort(compareBytes)) {
      nar.strs('entry', '(', 'name', n, 'node');
      const child = `${fsPath}/${n}`;
      yield* walk(child, `${archivePath}/${n}`, nar, lstatSync(child));
      nar.str(')');
    }
    nar.str(')');
  } else {
    throw new StrataError('store-corrupt', `${fsPath} is neither a file, a directory nor a symlink, which a Nix store path cannot hold`);
  }
}

/** Reads a file, feeding the NAR hash; fails if its size changed since lstat (the reader is asked once past the end). */
function hashedReader(fsPath: string, size: number, nar: NarHasher): FileReader {
  const file = openFileReader(fsPath);
  let seen = 0;
  const changed = (): StrataError =>
    new StrataError('store-corrupt', `${fsPath} changed size while being read (${size} → ${seen}${seen > size ? '+' : ''} bytes)`);
  return {
    read(into) {
      const n = file.read(into);
      if (n === 0 && seen !== size) throw changed();
      seen += n;
      if (seen > size) throw changed();
      nar.fileData(into.subarray(0, n));
      return n;
    },
    close: () => file.close(),
  };
}
