// Files of the layers that differ, grouped by the store path they belong to,
// so a difference is told as "this file of this store path". A store path on
// both sides is compared file by file; one whose hash differs but whose name
// (pname-version) is the only one of its kind on each side is compared with
// its counterpart, which is what a changed input or a rebuilt dependency
// looks like. Files outside /nix/store (the root layer, a base image's) are
// compared by path.
import { changedFacts, type FileFacts } from './layer-files.js';

/** The layer (1 = bottom) of each side where a thing was found. */
export interface LayerIndexes {
  a?: number;
  b?: number;
}

export interface FileChange {
  /** The path in the image (outside the store), or inside its store path ('' for a store path that is a single file). */
  path: string;
  change: 'added' | 'removed' | 'changed';
  /** What differs, for a change: type, mode, uid, gid, size, sha256, target, mtime. */
  facts: (keyof FileFacts)[];
  a?: FileFacts;
  b?: FileFacts;
  layer: LayerIndexes;
}

export interface StorePathChange {
  /** changed: its files differ (or, for a hash that differs, maybe only the hash); moved: same files, another layer. */
  change: 'changed' | 'added' | 'removed' | 'moved';
  /** The part after the hash: golden-data, hello-2.12. */
  name: string;
  /** /nix/store/<hash>-<name> on each side that has it. */
  a?: string;
  b?: string;
  layer: LayerIndexes;
  /** Files that differ; for an added or removed store path, none (see fileCount). */
  files: FileChange[];
  fileCount: { a?: number; b?: number };
}

interface StorePathFiles {
  path: string;
  name: string;
  layer: number;
  files: Map<string, FileFacts>;
}

/** The files of one side's layers that differ, split into store paths and the rest. */
export interface SideFiles {
  storePaths: Map<string, StorePathFiles>;
  other: Map<string, { layer: number; facts: FileFacts }>;
}

const STORE_ENTRY = /^nix\/store\/([0-9a-df-np-sv-z]{32})-([^/]+)(?:\/(.*))?$/;

/** Splits the layers' files (bottom first; a later layer's entry wins) by store path. */
export function sideFiles(layers: { layer: number; files: Map<string, FileFacts> }[]): SideFiles {
  const side: SideFiles = { storePaths: new Map(), other: new Map() };
  for (const { layer: index, files } of layers) {
    for (const [path, facts] of files) {
      const m = STORE_ENTRY.exec(path);
      if (!m) {
        side.other.set(path, { layer: index, facts });
        continue;
      }
      const storePath = `/nix/store/${m[1]}-${m[2]}`;
      let sp = side.storePaths.get(storePath);
      if (!sp) side.storePaths.set(storePath, (sp = { path: storePath, name: m[2]!, layer: index, files: new Map() }));
      sp.files.set(m[3] ?? '', facts);
    }
  }
  return side;
}

function diffFiles(a: Map<string, FileFacts>, b: Map<string, FileFacts>, layer: (side: 'a' | 'b', path: string) => number): FileChange[] {
  const out: FileChange[] = [];
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const fa = a.get(path);
    const fb = b.get(path);
    if (fa && fb) {
      const facts = changedFacts(fa, fb);
      if (facts.length) out.push({ path, change: 'changed', facts, a: fa, b: fb, layer: { a: layer('a', path), b: layer('b', path) } });
    } else if (fa) {
      out.push({ path, change: 'removed', facts: [], a: fa, layer: { a: layer('a', path) } });
    } else if (fb) {
      out.push({ path, change: 'added', facts: [], b: fb, layer: { b: layer('b', path) } });
    }
  }
  return out;
}

function compareStorePath(a: StorePathFiles, b: StorePathFiles): StorePathChange | undefined {
  const files = diffFiles(a.files, b.files, (s) => (s === 'a' ? a.layer : b.layer));
  const renamed = a.path !== b.path;
  if (!files.length && !renamed && a.layer === b.layer) return undefined;
  return {
    change: files.length || renamed ? 'changed' : 'moved',
    name: a.name,
    a: a.path,
    b: b.path,
    layer: { a: a.layer, b: b.layer },
    files,
    fileCount: { a: a.files.size, b: b.files.size },
  };
}

/** Counts how often each name occurs among store paths. */
function nameCounts(paths: StorePathFiles[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const p of paths) n.set(p.name, (n.get(p.name) ?? 0) + 1);
  return n;
}

export function diffStorePaths(a: SideFiles, b: SideFiles): { storePaths: StorePathChange[]; files: FileChange[] } {
  const changes: StorePathChange[] = [];
  const onlyA = [...a.storePaths.values()].filter((p) => !b.storePaths.has(p.path));
  const onlyB = [...b.storePaths.values()].filter((p) => !a.storePaths.has(p.path));
  for (const pa of a.storePaths.values()) {
    const pb = b.storePaths.get(pa.path);
    const c = pb && compareStorePath(pa, pb);
    if (c) changes.push(c);
  }
  // The same name once on each side: the same package with other inputs (or a rebuild with other bytes).
  const countA = nameCounts(onlyA);
  const countB = nameCounts(onlyB);
  const paired = new Set<StorePathFiles>();
  for (const pa of onlyA) {
    if (countA.get(pa.name) !== 1 || countB.get(pa.name) !== 1) continue;
    const pb = onlyB.find((p) => p.name === pa.name)!;
    paired.add(pa).add(pb);
    changes.push(compareStorePath(pa, pb)!);
  }
  for (const pa of onlyA.filter((p) => !paired.has(p)))
    changes.push({ change: 'removed', name: pa.name, a: pa.path, layer: { a: pa.layer }, files: [], fileCount: { a: pa.files.size } });
  for (const pb of onlyB.filter((p) => !paired.has(p)))
    changes.push({ change: 'added', name: pb.name, b: pb.path, layer: { b: pb.layer }, files: [], fileCount: { b: pb.files.size } });
  changes.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : (x.a ?? x.b ?? '') < (y.a ?? y.b ?? '') ? -1 : 1));

  const factsOf = (m: SideFiles['other']) => new Map([...m].map(([p, v]) => [p, v.facts]));
  const files = diffFiles(factsOf(a.other), factsOf(b.other), (s, p) => (s === 'a' ? a.other : b.other).get(p)!.layer);
  return { storePaths: changes, files };
}
