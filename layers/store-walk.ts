// Reads a store path from the filesystem as tree entries, and checks on the way
// that the bytes read are the ones Nix registered: the walk serialises what it
// reads as a NAR and compares its sha256 with the path's NAR hash.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
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
export async function* walkStorePath(obj: StoreObject): AsyncGenerator<TreeEntry> {
  const name = obj.path.split('/').pop()!;
  const nar = new NarHasher();
  yield* walk(obj.path, `nix/store/${name}`, nar);
  const got = `sha256-${nar.hash.digest('base64')}`;
  if (got !== obj.narHash) {
    throw new StrataError(
      'store-corrupt',
      `store path ${obj.path} does not match its NAR hash (registered ${obj.narHash}, read ${got}); run 'nix-store --verify --check-contents --repair'`,
    );
  }
}

async function* walk(fsPath: string, archivePath: string, nar: NarHasher, stat?: Stats, content?: Promise<Buffer>): AsyncGenerator<TreeEntry> {
  const st = stat ?? (await lstat(fsPath));
  if (st.isSymbolicLink()) {
    const target = await readlink(fsPath);
    nar.strs('(', 'type', 'symlink', 'target', target, ')');
    yield { type: 'symlink', path: archivePath, target };
  } else if (st.isFile()) {
    const executable = (st.mode & 0o100) !== 0;
    const size = st.size;
    nar.fileStart(executable, size);
    let opened = false;
    const entry: TreeEntry = {
      type: 'file',
      path: archivePath,
      mode: executable ? StoreMode.executable : StoreMode.file,
      size,
      open(): Readable {
        if (opened) throw new Error(`internal: ${fsPath} opened twice in one walk`);
        opened = true;
        return hashedRead(fsPath, size, nar, content);
      },
    };
    yield entry;
    if (!opened) {
      // The consumer skipped the content; hash it anyway so the check stays whole.
      for await (const chunk of hashedRead(fsPath, size, nar, content)) void chunk;
    }
    nar.fileEnd(size);
  } else if (st.isDirectory()) {
    nar.strs('(', 'type', 'directory');
    yield { type: 'directory', path: archivePath, mode: StoreMode.directory };
    const names = (await readdir(fsPath)).sort(compareBytes);
    // One lstat per child, issued together: sequential round trips to the
    // thread pool dominated the walk of directories of small files.
    const stats = await Promise.all(names.map((n) => lstat(`${fsPath}/${n}`)));
    const ahead = new ReadAhead(names.map((n, i) => (stats[i]!.isFile() && stats[i]!.size <= SMALL_FILE ? `${fsPath}/${n}` : undefined)));
    for (const [i, n] of names.entries()) {
      nar.strs('entry', '(', 'name', n, 'node');
      yield* walk(`${fsPath}/${n}`, `${archivePath}/${n}`, nar, stats[i], ahead.take(i));
      nar.str(')');
    }
    nar.str(')');
  } else {
    throw new StrataError('store-corrupt', `${fsPath} is neither a file, a directory nor a symlink, which a Nix store path cannot hold`);
  }
}

/** Files up to this size are read in one call: most store files are small, and a stream per file costs more than the read. */
const SMALL_FILE = 1 << 20;

/**
 * Reads the small files of one directory a few at a time ahead of the walk, so
 * the thread pool's round trips overlap instead of adding up. At most
 * READ_AHEAD files (each at most SMALL_FILE bytes) are held at once.
 */
const READ_AHEAD = 16;
class ReadAhead {
  private readonly pending = new Map<number, Promise<Buffer>>();
  private next = 0;
  constructor(private readonly files: (string | undefined)[]) {}
  take(i: number): Promise<Buffer> | undefined {
    while (this.next < this.files.length && this.pending.size < READ_AHEAD) {
      const f = this.files[this.next];
      if (f !== undefined) {
        const p = readFile(f);
        p.catch(() => undefined); // surfaced when taken; never an unhandled rejection
        this.pending.set(this.next, p);
      }
      this.next++;
    }
    const p = this.pending.get(i);
    this.pending.delete(i);
    return p;
  }
}

/** Reads a file, feeding the NAR hash; fails if its size changed since lstat. */
function hashedRead(fsPath: string, size: number, nar: NarHasher, content?: Promise<Buffer>): Readable {
  if (size <= SMALL_FILE) {
    return Readable.from(
      (async function* () {
        const b = await (content ?? readFile(fsPath));
        if (b.length !== size) throw new StrataError('store-corrupt', `${fsPath} changed size while being read (${size} → ${b.length} bytes)`);
        nar.fileData(b);
        yield b;
      })(),
      { objectMode: false },
    );
  }
  const out = new PassThrough({ highWaterMark: 1 << 16 });
  let seen = 0;
  const src = createReadStream(fsPath, { highWaterMark: 1 << 16 });
  src.on('data', (chunk) => {
    const b = chunk as Buffer;
    seen += b.length;
    nar.fileData(b);
    if (!out.write(b)) src.pause();
  });
  out.on('drain', () => src.resume());
  src.on('error', (e) => out.destroy(e));
  src.on('end', () => {
    if (seen !== size) out.destroy(new StrataError('store-corrupt', `${fsPath} changed size while being read (${size} → ${seen} bytes)`));
    else out.end();
  });
  return out;
}
