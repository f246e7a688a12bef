// Layering strategies: which store paths share a layer. Both are pure functions
// of the closure graph (paths, references, NAR sizes, the image's roots); every
// tie is broken by path.
//
// popularity — nixpkgs' buildLayeredImage and nix2container: the most depended-on
//   paths get a layer each, everything else lands in one catch-all layer.
// stable (default) — re-push only what changed:
//   * up to the budget, every path is its own layer;
//   * otherwise paths below a size threshold T are merged, never large ones:
//     a small path used by exactly one other (non-root) path joins that path's
//     layer (it can only change when that path changes too, since it is in its
//     closure), and the other small paths share one layer per (volatile?,
//     height) tier, so a changed path drags along only small neighbours;
//   * the image's roots are always alone, and volatile paths (used only by the
//     roots directly) never share with the base, so an app change re-pushes the app;
//   * layers to spare go to the most depended-on small base paths, which other
//     images on the same base hold too;
//   * T starts small and doubles until the layers fit, so boundaries depend on
//     sizes only through a coarse power of two and stay put when other paths
//     change; if even then too many remain, adjacent layers are merged.
// Layers come out in dependency order: a path's layer is never above a layer of
// a path that refers to it.
import type { StorePathInfo } from '../nix/json.js';
import { compareBytes } from './tree.js';

export type Strategy = 'popularity' | 'stable';
export const STRATEGIES: readonly Strategy[] = ['stable', 'popularity'];

export interface ClosureGraph {
  paths: StorePathInfo[];
  /** The image's own roots (its contents): volatile by definition. */
  roots: string[];
}

/** Paths of one layer, in dependency order. */
export type Group = StorePathInfo[];

interface Graph {
  byPath: Map<string, StorePathInfo>;
  refs: Map<string, string[]>;
  referrers: Map<string, string[]>;
  height: Map<string, number>;
  order: string[];
}

function analyse(paths: StorePathInfo[]): Graph {
  const byPath = new Map(paths.map((p) => [p.path, p]));
  const refs = new Map<string, string[]>();
  const referrers = new Map<string, string[]>(paths.map((p) => [p.path, []]));
  for (const p of paths) {
    const r = [...new Set(p.references)].filter((x) => x !== p.path && byPath.has(x)).sort(compareBytes);
    refs.set(p.path, r);
    for (const x of r) referrers.get(x)!.push(p.path);
  }
  for (const list of referrers.values()) list.sort(compareBytes);
  // Heights: 0 for paths that refer to nothing, else 1 + the highest reference.
  const height = new Map<string, number>();
  const order: string[] = [];
  const visit = (p: string, stack: Set<string>): number => {
    const h = height.get(p);
    if (h !== undefined) return h;
    if (stack.has(p)) throw new Error(`reference cycle through ${p}`);
    stack.add(p);
    let max = -1;
    for (const r of refs.get(p)!) max = Math.max(max, visit(r, stack));
    stack.delete(p);
    height.set(p, max + 1);
    order.push(p);
    return max + 1;
  };
  for (const p of [...byPath.keys()].sort(compareBytes)) visit(p, new Set());
  return { byPath, refs, referrers, height, order };
}

const groupSize = (g: Group) => g.reduce((n, p) => n + p.narSize, 0);

/** Sorts groups so that dependencies come first: by the height of their highest path, then by path. */
function sortGroups(groups: Group[], g: Graph): Group[] {
  const key = (grp: Group) => {
    const top = grp.reduce((a, b) =>
      g.height.get(b.path)! > g.height.get(a.path)! || (g.height.get(b.path) === g.height.get(a.path) && compareBytes(b.path, a.path) < 0) ? b : a,
    );
    return { h: g.height.get(top.path)!, p: top.path };
  };
  const inner = (grp: Group) => [...grp].sort((a, b) => g.height.get(a.path)! - g.height.get(b.path)! || compareBytes(a.path, b.path));
  return groups
    .map((grp) => ({ grp: inner(grp), k: key(grp) }))
    .sort((a, b) => a.k.h - b.k.h || compareBytes(a.k.p, b.k.p))
    .map((x) => x.grp);
}

/** nixpkgs' popularity contest: how many paths of the closure have this one in their closure. */
export function popularity(paths: StorePathInfo[], maxLayers: number): Group[] {
  const score = popularityScores(analyse(paths));
  const ranked = [...paths].sort((a, b) => score.get(b.path)! - score.get(a.path)! || compareBytes(a.path, b.path));
  if (ranked.length <= maxLayers) return ranked.map((p) => [p]);
  const own = ranked.slice(0, maxLayers - 1).map((p) => [p]);
  return [...own, ranked.slice(maxLayers - 1)];
}

/** Smallest threshold tried, and the layer size below which paths are "tiny". */
const FIRST_THRESHOLD = 64 * 1024;

export function stable(graph: ClosureGraph, maxLayers: number): Group[] {
  const g = analyse(graph.paths);
  const all = [...g.byPath.values()];
  if (all.length <= maxLayers)
    return sortGroups(
      all.map((p) => [p]),
      g,
    );
  const roots = new Set(graph.roots.filter((r) => g.byPath.has(r)));
  // Volatile: the roots and what only they use directly. (Not transitively: in
  // an image with one root, every path is used only through it.)
  const volatile = new Set<string>(roots);
  for (const p of g.order) {
    const rs = g.referrers.get(p)!;
    if (rs.length > 0 && rs.every((r) => roots.has(r))) volatile.add(p);
  }
  const total = all.reduce((n, p) => n + p.narSize, 0);
  for (let t = FIRST_THRESHOLD; ; t *= 2) {
    const groups = mergeBelow(t, g, roots, volatile, new Set());
    if (groups.length > maxLayers) {
      if (t > total) return mergeAdjacent(groups, maxLayers);
      continue;
    }
    // Layers to spare go to the most depended-on small paths of the base: the
    // ones other images on the same base hold too, so sharing is byte for byte.
    const spare = maxLayers - groups.length;
    if (spare === 0) return groups;
    const popular = popularityScores(g);
    const candidates = g.order
      .filter((p) => !volatile.has(p) && !roots.has(p) && g.byPath.get(p)!.narSize < t && g.referrers.get(p)!.length !== 1)
      .sort((a, b) => popular.get(b)! - popular.get(a)! || compareBytes(a, b))
      .slice(0, spare);
    return mergeBelow(t, g, roots, volatile, new Set(candidates));
  }
}

/** For each path, how many paths of the closure have it in their closure. */
function popularityScores(g: Graph): Map<string, number> {
  const closureOf = new Map<string, Set<string>>();
  for (const p of g.order) {
    const s = new Set<string>([p]);
    for (const r of g.refs.get(p)!) for (const x of closureOf.get(r)!) s.add(x);
    closureOf.set(p, s);
  }
  const score = new Map<string, number>([...g.byPath.keys()].map((p) => [p, 0]));
  for (const s of closureOf.values()) for (const x of s) score.set(x, score.get(x)! + 1);
  return score;
}

function mergeBelow(t: number, g: Graph, roots: Set<string>, volatile: Set<string>, promoted: Set<string>): Group[] {
  const small = (p: string) => !roots.has(p) && !promoted.has(p) && g.byPath.get(p)!.narSize < t;
  // Each path's head: itself, or, for a small path with one non-root referrer,
  // that referrer's head (dependents come first in the reversed order).
  const head = new Map<string, string>();
  for (const p of [...g.order].reverse()) {
    const rs = g.referrers.get(p)!;
    head.set(p, small(p) && rs.length === 1 && !roots.has(rs[0]!) ? head.get(rs[0]!)! : p);
  }
  // Small heads share their tier's layer; other heads have one of their own.
  const key = (h: string) => (small(h) ? `tier ${volatile.has(h) ? 'volatile' : 'base'} ${g.height.get(h)}` : `own ${h}`);
  const groups = new Map<string, Group>();
  for (const p of g.order) {
    const k = key(head.get(p)!);
    let grp = groups.get(k);
    if (!grp) groups.set(k, (grp = []));
    grp.push(g.byPath.get(p)!);
  }
  return sortGroups([...groups.values()], g);
}

/** Last resort: merge the adjacent pair with the smallest total until the layers fit. Keeps dependency order. */
function mergeAdjacent(groups: Group[], maxLayers: number): Group[] {
  const gs = [...groups];
  while (gs.length > maxLayers) {
    let best = 0;
    for (let i = 1; i < gs.length - 1; i++) if (groupSize(gs[i]!) + groupSize(gs[i + 1]!) < groupSize(gs[best]!) + groupSize(gs[best + 1]!)) best = i;
    gs.splice(best, 2, [...gs[best]!, ...gs[best + 1]!]);
  }
  return gs;
}
