// The ustar and pax header bytes of Strata's layer format (LAYER_FORMAT_VERSION
// 1). Layers made before this module existed were written by tar-stream 3, so
// these are its bytes exactly — its choices, kept because every published
// digest depends on them (test/unit/tar-header.test.ts holds them to
// tar-stream's output, and the golden digests to the whole layer):
//   - a name that fits ustar goes there, split at a '/' into the 155-byte prefix
//     field when longer than 100 bytes; a directory's name has no trailing '/';
//   - a name with any non-ASCII character, one no split fits, or a link target
//     over 100 bytes goes into a pax 'x' header named "PaxHeader" (path= and,
//     when there is a target, linkpath=), and the entry's own ustar header is
//     then also named "PaxHeader" (its target too, for a symlink);
//   - numbers are octal, zero-padded, ending in a space; a size of 8 GiB or
//     more is base-256;
//   - uid, gid 0, no user or group names, device numbers 0.

export type TarType = 'file' | 'directory' | 'symlink';

export interface TarHeader {
  /** Archive path, no leading or trailing '/'. */
  name: string;
  type: TarType;
  mode: number;
  /** Content bytes that follow (0 for directories and symlinks). */
  size: number;
  /** Symlink target ('' for others). */
  linkname: string;
  /** Seconds since the epoch (32-bit: image-flags.ts bounds it). */
  mtime: number;
}

export const BLOCK = 512;
/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

const TYPEFLAG: Record<TarType | 'pax', number> = { file: 0x30, symlink: 0x32, directory: 0x35, pax: 0x78 };
/** tar-stream's defaults for a mode of 0. */
const DEFAULT_MODE = { directory: 0o755, other: 0o644 };

/** Zero bytes that pad `size` content bytes to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest ? END_OF_ARCHIVE.subarray(0, BLOCK - rest) : END_OF_ARCHIVE.subarray(0, 0);
}

/** The header block(s) of one entry: one ustar block, or a pax header, its records padded, and the ustar block. */
export function encodeHeader(h: TarHeader): Buffer {
  const mode = h.mode || (h.type === 'directory' ? DEFAULT_MODE.directory : DEFAULT_MODE.other);
  const size = h.type === 'symlink' ? 0 : h.size;
  const plain = ustar(h.name, h.type, mode, size, h.linkname, h.mtime);
  if (plain) return plain;
  const records = Buffer.from(paxRecord('path', h.name) + (h.linkname ? paxRecord('linkpath', h.linkname) : ''), 'utf8');
  const link = h.linkname ? 'PaxHeader' : '';
  return Buffer.concat([
    ustar('PaxHeader', 'pax', mode, records.length, link, h.mtime)!,
    records,
    padding(records.length),
    ustar('PaxHeader', h.type, mode, size, link, h.mtime)!,
  ]);
}

/** `"<length> key=value\n"`, where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(body);
  let digits = String(len).length;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${body}`;
}

/** One ustar block, or undefined when the name or target does not fit ustar. */
function ustar(fullName: string, type: TarType | 'pax', mode: number, size: number, linkname: string, mtime: number): Buffer | undefined {
  // Any non-ASCII character sends the name to pax.
  if (Buffer.byteLength(fullName) !== fullName.length) return undefined;
  let name = fullName;
  let prefix = '';
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return undefined;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (prefix.length > 155) return undefined;
  if (linkname && Buffer.byteLength(linkname) > 100) return undefined;

  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 'utf8');
  b.write(octal(mode & 0o7777, 6), 100, 'ascii');
  b.write(octal(0, 6), 108, 'ascii'); // uid
  b.write(octal(0, 6), 116, 'ascii'); // gid
  writeSize(b, size);
  b.write(octal(mtime | 0, 11), 136, 'ascii');
  b[156] = TYPEFLAG[type];
  if (linkname) b.write(linkname, 157, 'utf8');
  b.write('ustar\x0000', 257, 'ascii');
  b.write(octal(0, 6), 329, 'ascii'); // devmajor
  b.write(octal(0, 6), 337, 'ascii'); // devminor
  if (prefix) b.write(prefix, 345, 'utf8');
  b.write(octal(checksum(b), 6), 148, 'ascii');
  return b;
}

/** `width` octal digits and a space; all 7s when the value does not fit (only a 32-bit mtime could come near). */
function octal(n: number, width: number): string {
  const s = n.toString(8);
  return s.length > width ? `${'7'.repeat(width)} ` : `${s.padStart(width, '0')} `;
}

function writeSize(b: Buffer, size: number): void {
  if (size.toString(8).length <= 11) {
    b.write(octal(size, 11), 124, 'ascii');
    return;
  }
  // GNU base-256: 0x80, then the size big-endian in the field's other 11 bytes.
  b[124] = 0x80;
  let n = size;
  for (let i = 11; i > 0; i--) {
    b[124 + i] = n % 256;
    n = Math.floor(n / 256);
  }
}

/** Sum of the header's bytes with the checksum field counted as eight spaces. */
function checksum(b: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < BLOCK; i++) sum += b[i]!;
  return sum;
}
