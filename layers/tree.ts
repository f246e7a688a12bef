// The file tree a layer is made of: entries in NAR order (a directory before its
// children, children in bytewise order of their names), every field explicit.
import type { FileReader } from '../base/fs.js';

export interface DirectoryEntry {
  type: 'directory';
  /** Archive path relative to the image root, no leading or trailing slash. */
  path: string;
  mode: number;
}

export interface FileEntry {
  type: 'file';
  path: string;
  mode: number;
  size: number;
  /**
   * Opens the file's bytes, read synchronously into the tar's own buffers
   * (tar.ts): no allocation per file. Read to the end (or close) before asking
   * for the next entry.
   */
  open(): FileReader;
  /** sha256 of the content, for entries Strata makes in memory (so a layer key can name them). */
  contentDigest?: string;
}

export interface SymlinkEntry {
  type: 'symlink';
  path: string;
  target: string;
}

export type TreeEntry = DirectoryEntry | FileEntry | SymlinkEntry;

/** Modes as the Nix store has them: NAR keeps only the executable bit. */
export const StoreMode = { directory: 0o555, file: 0o444, executable: 0o555, symlink: 0o777 } as const;

/** Bytewise (UTF-8) order, which is NAR's order; JS's default sort compares UTF-16 units. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorts full archive paths into depth-first, bytewise-by-component order. */
export function compareTreePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = compareBytes(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}
