#!/usr/bin/env node
// Strata needs Node >= 22 (and gives the same bytes on every version from there).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`strata: Node ${process.versions.node} is too old; Strata needs Node 22 or newer (in a checkout, 'npx --no-install strata' uses the pinned Node 24)\n`);
  process.exit(2);
}
const { main } = await import('../dist/src/cli.js');
process.exitCode = await main(process.argv.slice(2));
