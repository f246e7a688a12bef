// Reads a store path through its NAR (Nix's "nix-archive-1" serialisation, as
// `nix-store --dump` prints it) as the same tree entries the filesystem walk
// yields, and checks the whole stream against the path's NAR hash on the way.
//
// The parser is streaming and holds at most one input chunk plus a few short
// strings: file contents are handed out as slices of the chunks they arrive in,
// never gathered. It accepts only the canonical serialisation (the one Nix
// hashes), so anything else is refused before the hash is even compared:
//
//   nar       = str("nix-archive-1") node
//   node      = "(" "type" ( "regular" ["executable" ""] "contents" u64 bytes pad
//                          | "symlink" "target" str
//                          | "directory" { "entry" "(" "name" str "node" node ")" } ) ")"
//   str       = u64(length) bytes, zero-padded to a multiple of 8
import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { lastErrorLine } from '../nix/run.js';
import { StrataError } from '../base/errors.js';
import type { StoreObject } from './store-walk.js';
import { StoreMode, type TreeEntry } from './tree.js';

/** Longest file name accepted (Linux allows 255 bytes; other systems a little more). */
const MAX_NAME = 4096;
/** Longest symlink target accepted (PATH_MAX is 4096 on Linux). */
const MAX_TARGET = 65536;
/** Longest keyword of the format ("nix-archive-1", "executable", "directory"…). */
const MAX_TOKEN = 16;

const EMPTY = Buffer.alloc(0);

/** A chunked byte source with a cursor; every chunk is hashed as it arrives. */
class NarInput {
  buf: Buffer = EMPTY;
  pos = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  private done = false;
  readonly hash: Hash = createHash('sha256');
  /** The error that stopped a content stream, so the parser does not go on after it. */
  failed: unknown;
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;

  constructor(
    source: AsyncIterable<Buffer | Uint8Array | string>,
    private readonly what: string,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  get offset(): number {
    return this.base + this.pos;
  }

  get avail(): number {
    return this.buf.length - this.pos;
  }

  corrupt(reason: string, at = this.offset): StrataError {
    return new StrataError('store-corrupt', `the NAR of ${this.what} is malformed: ${reason} (at byte ${at})`);
  }

  truncated(): StrataError {
    return this.corrupt('it ends early');
  }

  /** Replaces the (consumed) current chunk with the next non-empty one; false at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.done) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        this.base += this.buf.length;
        this.buf = EMPTY;
        this.pos = 0;
        return false;
      }
      const v = r.value;
      const chunk = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (chunk.length === 0) continue;
      this.hash.update(chunk);
      this.base += this.buf.length;
      this.buf = chunk;
      this.pos = 0;
      return true;
    }
  }

  /** Stops reading the source (lets a child process's pipe close). */
  async close(): Promise<void> {
    if (!this.done && this.it.return) {
      this.done = true;
      await this.it.return();
    }
  }

  async u64(): Promise<number> {
    let lo: number;
    let hi: number;
    if (this.avail >= 8) {
      lo = this.buf.readUInt32LE(this.pos);
      hi = this.buf.readUInt32LE(this.pos + 4);
      this.pos += 8;
    } else {
      const b = await this.bytes(8);
      lo = b.readUInt32LE(0);
      hi = b.readUInt32LE(4);
    }
    if (hi >= 0x200000) throw this.corrupt('a length does not fit in 53 bits', this.offset - 8);
    return hi * 0x100000000 + lo;
  }

  /** The next n bytes (n small): a slice of the current chunk when it holds them all. */
  async bytes(n: number): Promise<Buffer> {
    if (this.avail >= n) {
      const b = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      return b;
    }
    const parts: Buffer[] = [];
    let need = n;
    for (;;) {
      const take = Math.min(need, this.avail);
      if (take > 0) {
        parts.push(this.buf.subarray(this.pos, this.pos + take));
        this.pos += take;
        need -= take;
      }
      if (need === 0) return Buffer.concat(parts, n);
      if (!(await this.fill())) throw this.truncated();
    }
  }

  /** Skips the zero padding after n bytes of string or content. */
  async pad(n: number): Promise<void> {
    const p = (8 - (n % 8)) % 8;
    if (p === 0) return;
    const at = this.offset;
    const b = await this.bytes(p);
    for (let i = 0; i < p; i++) if (b[i] !== 0) throw this.corrupt('non-zero padding', at);
  }

  /** A length-prefixed, padded string of at most max bytes. */
  async str(max: number, what: string): Promise<Buffer> {
    const at = this.offset;
    const n = await this.u64();
    if (n > max) throw this.corrupt(`${what} is ${n} bytes long, more than ${max}`, at);
    const b = await this.bytes(n);
    await this.pad(n);
    return b;
  }

  /** A keyword of the format, as a string. */
  async token(): Promise<string> {
    // Fast path: length, keyword and padding all in the current chunk.
    if (this.avail >= 8) {
      const n = this.buf.readUInt32LE(this.pos);
      if (n <= MAX_TOKEN && this.buf.readUInt32LE(this.pos + 4) === 0) {
        const padded = (n + 7) & ~7;
        if (this.avail >= 8 + padded) {
          const start = this.pos + 8;
          for (let i = start + n; i < start + padded; i++) if (this.buf[i] !== 0) throw this.corrupt('non-zero padding', this.base + i);
          this.pos = start + padded;
          return this.buf.toString('latin1', start, start + n);
        }
      }
    }
    return (await this.str(MAX_TOKEN, 'a keyword')).toString('latin1');
  }

  async expect(want: string): Promise<void> {
    const at = this.offset;
    const got = await this.token();
    if (got !== want) throw this.corrupt(`expected '${want}', found '${printable(got)}'`, at);
  }

  /** Skips n bytes of file content. */
  async skip(n: number): Promise<void> {
    let left = n;
    for (;;) {
      const take = Math.min(left, this.avail);
      this.pos += take;
      left -= take;
      if (left === 0) return;
      if (!(await this.fill())) throw this.truncated();
    }
  }
}

function printable(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/**
 * One file's content as it comes out of the NAR: slices of the input chunks,
 * pulled from the input only as fast as the consumer reads.
 */
class ContentStream extends Readable {
  remaining: number;
  private filling = false;

  constructor(
    private readonly nar: NarInput,
    size: number,
  ) {
    super({ highWaterMark: 1 << 16 });
    this.remaining = size;
  }

  override _read(): void {
    if (this.filling) return;
    const nar = this.nar;
    for (;;) {
      if (this.remaining === 0) {
        this.push(null);
        return;
      }
      if (nar.avail === 0) {
        this.filling = true;
        nar.fill().then(
          (more) => {
            this.filling = false;
            if (more) this._read();
            else this.fail(nar.truncated());
          },
          (err: unknown) => {
            this.filling = false;
            this.fail(err);
          },
        );
        return;
      }
      const n = Math.min(nar.avail, this.remaining);
      const slice = nar.buf.subarray(nar.pos, nar.pos + n);
      nar.pos += n;
      this.remaining -= n;
      if (this.remaining === 0) {
        // The end goes out with the last slice: no further call needed.
        this.push(slice);
        this.push(null);
        return;
      }
      if (!this.push(slice)) return;
    }
  }

  private fail(err: unknown): void {
    this.nar.failed ??= err;
    this.destroy(err as Error);
  }
}

/**
 * Parses a NAR stream into the entries of the store path `obj`, in NAR order,
 * under `nix/store/<name>` with store modes, exactly as the filesystem walk
 * yields them. A file's `open()` streams its content straight from the NAR;
 * read it to the end before asking for the next entry (a file not opened is
 * skipped). Throws store-corrupt when the stream is not a canonical NAR, or
 * when it does not hash to `obj.narHash` (checked after the last entry).
 */
export async function* readNar(source: AsyncIterable<Buffer> | Readable, obj: StoreObject): AsyncGenerator<TreeEntry> {
  const nar = new NarInput(source as AsyncIterable<Buffer>, obj.path);
  try {
    yield* parse(nar, `nix/store/${obj.path.split('/').pop()!}`);
    if (nar.avail > 0 || (await nar.fill())) throw nar.corrupt('data after the end of the archive');
    const got = `sha256-${nar.hash.digest('base64')}`;
    if (got !== obj.narHash) {
      throw new StrataError('store-corrupt', `store path ${obj.path} does not match its NAR hash (registered ${obj.narHash}, read ${got}); run 'nix-store --verify --check-contents --repair'`);
    }
  } finally {
    await nar.close();
  }
}

interface Frame {
  path: string;
  /** The previous entry's name, for the order check. */
  prev: Buffer | undefined;
}

/** The parser proper: iterative, so a deep tree costs no chain of nested generators. */
async function* parse(nar: NarInput, rootPath: string): AsyncGenerator<TreeEntry> {
  let magic: string;
  try {
    magic = (await nar.str(MAX_TOKEN, 'the magic string')).toString('latin1');
  } catch (e) {
    if (e instanceof StrataError && e.code === 'store-corrupt') throw nar.corrupt(`not a NAR (it does not start with 'nix-archive-1')`, 0);
    throw e;
  }
  if (magic !== 'nix-archive-1') throw nar.corrupt(`not a NAR (magic '${printable(magic)}' instead of 'nix-archive-1')`, 0);

  const stack: Frame[] = [];
  let path = rootPath;
  for (;;) {
    // A node at `path`.
    await nar.expect('(');
    await nar.expect('type');
    const typeAt = nar.offset;
    const type = await nar.token();
    if (type === 'regular') {
      let tag = await nar.token();
      let executable = false;
      if (tag === 'executable') {
        const at = nar.offset;
        if ((await nar.str(MAX_TOKEN, 'the executable marker')).length !== 0) throw nar.corrupt('the executable marker is not empty', at);
        executable = true;
        tag = await nar.token();
      }
      if (tag !== 'contents') throw nar.corrupt(`expected 'contents', found '${printable(tag)}'`);
      const size = await nar.u64();
      let stream: ContentStream | undefined;
      const entry: TreeEntry = {
        type: 'file',
        path,
        mode: executable ? StoreMode.executable : StoreMode.file,
        size,
        open(): Readable {
          if (stream) throw new Error(`internal: ${path} opened twice in one NAR read`);
          stream = new ContentStream(nar, size);
          return stream;
        },
      };
      yield entry;
      if (nar.failed !== undefined) throw nar.failed;
      if (!stream) await nar.skip(size);
      else if (stream.remaining !== 0) throw new Error(`internal: the next entry was asked for before ${path} was read to the end`);
      await nar.pad(size);
      await nar.expect(')');
      if (stack.length > 0) await nar.expect(')'); // closes the parent's `entry (`
    } else if (type === 'symlink') {
      await nar.expect('target');
      const at = nar.offset;
      const raw = await nar.str(MAX_TARGET, 'a symlink target');
      if (raw.length === 0) throw nar.corrupt('a symlink with an empty target', at);
      if (raw.includes(0)) throw nar.corrupt('a symlink target with a NUL byte', at);
      yield { type: 'symlink', path, target: utf8(raw, `the symlink target of ${path}`) };
      await nar.expect(')');
      if (stack.length > 0) await nar.expect(')'); // closes the parent's `entry (`
    } else if (type === 'directory') {
      yield { type: 'directory', path, mode: StoreMode.directory };
      stack.push({ path, prev: undefined });
    } else {
      throw nar.corrupt(`unknown node type '${printable(type)}'`, typeAt);
    }

    // Close finished directories until one has another entry, or the root is done.
    let next: string | undefined;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const at = nar.offset;
      const tag = await nar.token();
      if (tag === 'entry') {
        await nar.expect('(');
        await nar.expect('name');
        const nameAt = nar.offset;
        const raw = await nar.str(MAX_NAME, 'a file name');
        checkName(nar, raw, nameAt);
        if (frame.prev !== undefined) {
          const c = Buffer.compare(frame.prev, raw);
          if (c === 0) throw nar.corrupt(`duplicate entry '${printable(raw.toString('utf8'))}' in ${frame.path}`, nameAt);
          if (c > 0) throw nar.corrupt(`entries of ${frame.path} are not sorted ('${printable(raw.toString('utf8'))}' after '${printable(frame.prev.toString('utf8'))}')`, nameAt);
        }
        frame.prev = Buffer.from(raw); // a copy: `raw` may be a view of a chunk
        await nar.expect('node');
        next = `${frame.path}/${utf8(raw, `a file name in ${frame.path}`)}`;
        break;
      }
      if (tag !== ')') throw nar.corrupt(`expected 'entry' or ')', found '${printable(tag)}'`, at);
      stack.pop();
      if (stack.length > 0) await nar.expect(')'); // closes the parent's `entry (`
    }
    // No next entry: the root node is complete.
    if (next === undefined) return;
    path = next;
  }
}

function checkName(nar: NarInput, raw: Buffer, at: number): void {
  if (raw.length === 0) throw nar.corrupt('an empty file name', at);
  if ((raw.length === 1 && raw[0] === 0x2e) || (raw.length === 2 && raw[0] === 0x2e && raw[1] === 0x2e)) throw nar.corrupt(`a file named '${raw.toString('latin1')}'`, at);
  if (raw.includes(0x2f)) throw nar.corrupt(`a file name with '/' ('${printable(raw.toString('utf8'))}')`, at);
  if (raw.includes(0)) throw nar.corrupt(`a file name with a NUL byte ('${printable(raw.toString('utf8'))}')`, at);
}

/** Decodes UTF-8, refusing bytes that would not come back the same (the tar would not name the same file). */
function utf8(raw: Buffer, what: string): string {
  const s = raw.toString('utf8');
  if (s.includes('\uFFFD') && !Buffer.from(s, 'utf8').equals(raw)) {
    throw new StrataError('unsupported', `${what} is not valid UTF-8 (${raw.toString('hex')}); Strata writes UTF-8 tar names only`);
  }
  return s;
}

export interface DumpOptions {
  /** A Nix store URL: read the NAR with `nix store dump-path --store URL` instead of the local `nix-store --dump`. */
  store?: string;
}

/**
 * Yields the entries of a store path read through `nix-store --dump` (or, with
 * `store`, `nix store dump-path --store URL`), checked against its NAR hash.
 * A failure of the dump itself is reported as such, naming the path.
 */
export async function* dumpStorePath(obj: StoreObject, opts: DumpOptions = {}): AsyncGenerator<TreeEntry> {
  const [cmd, args] =
    opts.store === undefined ? ['nix-store', ['--dump', obj.path]] : ['nix', ['--extra-experimental-features', 'nix-command', 'store', 'dump-path', '--store', opts.store, obj.path]];
  const label = `${cmd} ${args.filter((a) => a !== '--extra-experimental-features' && a !== 'nix-command').join(' ')}`;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-65536);
  });
  let ended = false;
  child.stdout.once('end', () => (ended = true));
  const exit = new Promise<StrataError | undefined>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      resolve(
        e.code === 'ENOENT'
          ? new StrataError('nix-missing', `'${cmd}' is not on PATH: install Nix (Debian: apt-get install nix-bin; elsewhere: https://nixos.org/download) and try again`)
          : new StrataError('nix-failed', `cannot run ${cmd} for ${obj.path}: ${e.message}`, { cause: e }),
      ),
    );
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const last = lastErrorLine(stderr);
      resolve(new StrataError('nix-failed', `${label} failed${signal ? ` (${signal})` : ` (exit ${code})`}, so ${obj.path} cannot be read${last ? `: ${last}` : ''}`));
    });
  });
  try {
    yield* readNar(child.stdout, obj);
    const failed = await exit;
    if (failed) throw failed;
  } catch (e) {
    // A dump that failed midway leaves a truncated NAR: its own error says more.
    if (ended || child.exitCode !== null || child.signalCode !== null) {
      const failed = await exit;
      if (failed) throw failed;
    }
    throw e;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdout.destroy();
      child.kill();
    }
  }
}
