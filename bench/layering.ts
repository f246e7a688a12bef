// Re-push and sharing for each layering strategy on realistic closures
// (bench/debian-closure: Debian packages mirrored into the Nix store with their
// real dependency graph). A layer is identified as Strata identifies it: by its
// store paths and their NAR hashes (the layer key). Bytes are NAR bytes (the
// uncompressed layer size, within a few KiB of tar overhead).
//   node dist/bench/layering.js [/var/tmp/strata-bench] [--max-layers 100]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planLayers, type LayerGroup } from '../layers/plan.js';
import { STRATEGIES, type Strategy } from '../layers/strategy.js';
import { parsePathInfoJson, type StorePathInfo } from '../nix/json.js';

const dir = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : '/var/tmp/strata-bench';
const maxIdx = process.argv.indexOf('--max-layers');
// One layer of --max-layers goes to the image root (/tmp), as in strata build.
const maxLayers = (maxIdx > 0 ? Number(process.argv[maxIdx + 1]) : 100) - 1;

const closures = JSON.parse(readFileSync(join(dir, 'closures.json'), 'utf8')) as Record<string, { outPath: string }>;
function closureOf(name: string): StorePathInfo[] {
  const r = spawnSync('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--recursive', closures[name]!.outPath], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return parsePathInfoJson(r.stdout);
}

const key = (g: LayerGroup) =>
  g.paths
    .map((p) => `${p.path}:${p.narHash}`)
    .sort()
    .join(',');
const size = (g: LayerGroup) => g.paths.reduce((n, p) => n + p.narSize, 0);
const MB = (n: number) => (n / 1e6).toFixed(1);

function plan(c: StorePathInfo[], root: string, strategy: Strategy): LayerGroup[] {
  return planLayers(c, { maxLayers, strategy, roots: [root] });
}

/** Bytes of the layers of `next` that `prev` does not have: what a push re-uploads. */
function repush(prev: LayerGroup[], next: LayerGroup[]): number {
  const have = new Set(prev.map(key));
  return next.filter((g) => !have.has(key(g))).reduce((n, g) => n + size(g), 0);
}

const A = closureOf('appA');
const changed = closureOf('appA-changed');
const bumped = closureOf('appA-bumped');
const B = closureOf('appB');
const inA = new Set(A.map((p) => p.path));
const changedBytes = (c: StorePathInfo[]) => c.filter((p) => !inA.has(p.path)).reduce((n, p) => n + p.narSize, 0);
const appSize = changedBytes(changed);
const bumpBytes = changedBytes(bumped);
const sharedIdeal = B.filter((p) => inA.has(p.path)).reduce((n, p) => n + p.narSize, 0);

console.log(`closures: appA ${A.length} paths ${MB(A.reduce((n, p) => n + p.narSize, 0))} MB; appB ${B.length} paths; layers for store paths: ${maxLayers}`);
console.log(
  `(a) app change: ${changed.filter((p) => !inA.has(p.path)).length} path, ${MB(appSize)} MB; (b) library bump: ${bumped.filter((p) => !inA.has(p.path)).length} paths, ${MB(bumpBytes)} MB; (c) appA and appB share ${MB(sharedIdeal)} MB of paths\n`,
);
console.log('| strategy | layers | largest layer MB | (a) re-push MB | (a) vs app | (b) re-push MB | (b) vs changed | (c) shared MB | (c) vs ideal |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const s of STRATEGIES) {
  const pa = plan(A, closures.appA!.outPath, s);
  const a = repush(pa, plan(changed, closures['appA-changed']!.outPath, s));
  const b = repush(pa, plan(bumped, closures['appA-bumped']!.outPath, s));
  const pb = plan(B, closures.appB!.outPath, s);
  const shared = pb.filter((g) => new Set(pa.map(key)).has(key(g))).reduce((n, g) => n + size(g), 0);
  console.log(
    `| ${s} | ${pa.length} | ${MB(Math.max(...pa.map(size)))} | ${MB(a)} | ${(a / appSize).toFixed(2)}× | ${MB(b)} | ${(b / bumpBytes).toFixed(2)}× | ${MB(shared)} | ${(shared / sharedIdeal).toFixed(2)} |`,
  );
}
