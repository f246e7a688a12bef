#!/usr/bin/env node
// Strata needs Node >= 22.19 (undici, its HTTP client, does; the image bytes are the same on every version from there).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`strata: Node ${process.versions.node} is too old; Strata needs Node 22.19 or newer (in a checkout, 'npx --no-install strata' uses the pinned Node 24)\n`);
  process.exit(2);
}
const { main } = await import('../dist/src/cli.js');
process.exitCode = await main(process.argv.slice(2));
