// Closure → ordered layer groups: explicit groups from the description first,
// then a layering strategy (strategy.ts) for the rest, within --max-layers.
import type { StorePathInfo } from '../nix/json.js';
import { StrataError } from '../base/errors.js';
import { compareBytes } from './tree.js';
import { popularity, stable, type Strategy } from './strategy.js';

/** containerd refuses images with more layers than this (overlayfs' lowerdir limit). */
export const MAX_LAYERS_LIMIT = 127;
export const DEFAULT_MAX_LAYERS = 100;

export interface LayerGroup {
  paths: StorePathInfo[];
}

/** Dependencies before dependents; ties broken by path, so the order is a pure function of the graph. */
export function topologicalOrder(infos: StorePathInfo[]): StorePathInfo[] {
  const byPath = new Map(infos.map((i) => [i.path, i]));
  const pending = new Map(infos.map((i) => [i.path, new Set(i.references.filter((r) => r !== i.path && byPath.has(r)))]));
  const dependents = new Map<string, string[]>();
  for (const [p, refs] of pending) for (const r of refs) dependents.set(r, [...(dependents.get(r) ?? []), p]);
  const ready = [...pending]
    .filter(([, refs]) => refs.size === 0)
    .map(([p]) => p)
    .sort(compareBytes);
  const out: StorePathInfo[] = [];
  while (ready.length > 0) {
    const p = ready.shift()!;
    out.push(byPath.get(p)!);
    const next: string[] = [];
    for (const d of dependents.get(p) ?? []) {
      const refs = pending.get(d)!;
      refs.delete(p);
      if (refs.size === 0) next.push(d);
    }
    // Keep `ready` sorted: every newly ready path goes in its place.
    for (const n of next) {
      const i = ready.findIndex((x) => compareBytes(n, x) < 0);
      ready.splice(i < 0 ? ready.length : i, 0, n);
    }
  }
  if (out.length !== infos.length) throw new StrataError('nix-output', 'the closure has a reference cycle between store paths');
  return out;
}

export interface PlanOptions {
  /** Layers available to store paths (--max-layers less Strata's own root layer). */
  maxLayers: number;
  strategy: Strategy;
  /** The image's own roots (its contents), volatile for the stable strategy. */
  roots: string[];
  /** Explicit groups of store paths from the description, bottom first. */
  explicit?: string[][];
}

export function validateMaxLayers(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new StrataError('usage', `--max-layers must be a whole number of at least 1, not ${n}`);
  if (n > MAX_LAYERS_LIMIT) throw new StrataError('usage', `--max-layers ${n} is above ${MAX_LAYERS_LIMIT}, the most layers containerd can mount`);
  return n;
}

/**
 * Explicit groups first, bottom up (each holds its paths' closures less what
 * lower groups hold, so images that name the same base share those layers byte
 * for byte), then the strategy's groups for the rest of the closure.
 */
export function planLayers(closure: StorePathInfo[], opts: PlanOptions): LayerGroup[] {
  if (opts.maxLayers < 1) throw new StrataError('usage', 'no layer is left for the store paths under --max-layers');
  const ordered = topologicalOrder(closure);
  const byPath = new Map(closure.map((i) => [i.path, i]));
  const placed = new Set<string>();
  const groups: LayerGroup[] = [];
  for (const g of opts.explicit ?? []) {
    const want = new Set<string>();
    const stack = [...g];
    while (stack.length) {
      const p = stack.pop()!;
      if (want.has(p) || placed.has(p)) continue;
      const info = byPath.get(p);
      if (!info) throw new StrataError('description', `layer group path ${p} is not in the image's closure`);
      want.add(p);
      stack.push(...info.references);
    }
    const paths = ordered.filter((i) => want.has(i.path));
    for (const i of paths) placed.add(i.path);
    if (paths.length) groups.push({ paths });
  }
  const rest = ordered.filter((i) => !placed.has(i.path));
  if (rest.length === 0) return groups;
  const budget = opts.maxLayers - groups.length;
  if (budget < 1)
    throw new StrataError(
      'description',
      `the description's ${groups.length} explicit layer groups leave no layer for the other store paths under --max-layers ${opts.maxLayers}`,
    );
  const planned = opts.strategy === 'popularity' ? popularity(rest, budget) : stable({ paths: rest, roots: opts.roots }, budget);
  return [...groups, ...planned.map((paths) => ({ paths }))];
}
