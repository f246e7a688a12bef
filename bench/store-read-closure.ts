// The filesystem walk over a whole realistic closure, one layer per path as the
// stable strategy makes them, uncompressed, sequential: what a build pays to
// read its store paths. (It once ran beside a NAR reader, one `nix-store --dump`
// process per path, which lost here: docs/benchmarks/store-read.md.)
//   node dist/bench/store-read-closure.js STORE_PATH   (e.g. appA or appB of bench/debian-closure)
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { writeLayer } from '../layers/layer.js';
import { parsePathInfoJson } from '../nix/json.js';

const root = process.argv[2];
if (!root) throw new Error('usage: store-read-closure.js STORE_PATH');
const infos = parsePathInfoJson(
  spawnSync('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '-r', '--json', root], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout,
);
const bytes = infos.reduce((n, i) => n + i.narSize, 0);
const discard = () => new Writable({ write: (_c, _e, cb) => cb() });

async function run(): Promise<number> {
  const t = process.hrtime.bigint();
  for (const i of infos) await writeLayer({ storeObjects: [i] }, { compression: 'none', mtime: 0 }, discard());
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const times: number[] = [];
for (let round = 0; round < 3; round++) times.push(await run());
const median = [...times].sort((a, b) => a - b)[1]!;
console.log(`closure of ${root.slice(44)}: ${infos.length} paths, ${(bytes / 1e6).toFixed(0)} MB`);
console.log('| reader | seconds (median of 3) | MB/s |');
console.log('|---|---|---|');
console.log(`| fs | ${median.toFixed(2)} | ${(bytes / 1e6 / median).toFixed(0)} |`);
