#!/usr/bin/env node
// Start-up and warm-digest times, side by side in one run (issue 15's targets):
//   strata --version       ≤ node -e 0 + 0.05 s
//   warm strata digest     ≤ nix eval of the same output + node -e 0 + 0.25 s
// Each command runs ROUNDS times, interleaved, and the median is reported, so a
// busy moment of the machine touches every row alike.
// Usage (after `npx tsc -p tsconfig.json`, with flakes on and substituters off):
//   node_modules/.bin/node bench/start.mjs [INSTALLABLE] [ROUNDS]
// INSTALLABLE defaults to ./examples/golden#default; a store path works too.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const installable = process.argv[2] ?? './examples/golden#default';
const rounds = Number(process.argv[3] ?? 15);
const node = process.execPath;
const cache = mkdtempSync(join(tmpdir(), 'strata-start-'));
const env = { ...process.env, STRATA_CACHE_DIR: cache };
const noCompileCache = { ...env, STRATA_NO_COMPILE_CACHE: '1' };
// What Nix alone does for the same output: evaluate it (a store path needs no evaluation: path-info).
const nixEval = installable.startsWith('/nix/store/') ? ['nix', ['path-info', installable]] : ['nix', ['eval', '--raw', `${installable}.outPath`]];

const rows = [
  ['node -e 0', node, ['-e', '0'], env],
  ['strata --version', node, ['bin/strata.js', '--version'], env],
  ['strata --version, no compile cache', node, ['bin/strata.js', '--version'], noCompileCache],
  [`${nixEval[0]} ${nixEval[1][0]} (the same output)`, nixEval[0], nixEval[1], env],
  ['strata digest, warm', node, ['bin/strata.js', 'digest', installable], env],
  ['strata digest, warm, no compile cache', node, ['bin/strata.js', 'digest', installable], noCompileCache],
];

function run(cmd, args, e) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return s;
}

try {
  // Fill the layer cache, Nix's evaluation cache and the compile cache once.
  for (const [, cmd, args, e] of rows) run(cmd, args, e);
  const times = rows.map(() => []);
  for (let i = 0; i < rounds; i++) rows.forEach(([, cmd, args, e], j) => times[j].push(run(cmd, args, e)));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const m = times.map(median);
  console.log(`installable: ${installable}; ${rounds} rounds, interleaved; ${process.version}`);
  console.log('| command | median s | min s | max s |\n|---|---|---|---|');
  rows.forEach(([name], j) => console.log(`| ${name} | ${m[j].toFixed(3)} | ${Math.min(...times[j]).toFixed(3)} | ${Math.max(...times[j]).toFixed(3)} |`));
  const [nodeStart, version, , nix, digest] = m;
  console.log(`\nstrata --version − node -e 0 = ${(version - nodeStart).toFixed(3)} s (target ≤ 0.050)`);
  console.log(`strata digest − (nix + node -e 0) = ${(digest - nix - nodeStart).toFixed(3)} s (target ≤ 0.250)`);
} finally {
  rmSync(cache, { recursive: true, force: true });
}
