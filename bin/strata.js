#!/usr/bin/env node
// Strata needs Node 22.22.2 or newer on 22, 24.15 or newer on 24, or 26 and later:
// undici (its HTTP client) needs 22.19, and the Sigstore libraries (sign, verify)
// declare ^22.22.2 || ^24.15.0 || >=26. The image bytes are the same on each.
const [major, minor, patch] = process.versions.node.split('.').map(Number);
const supported = (major === 22 && (minor > 22 || (minor === 22 && patch >= 2))) || (major === 24 && minor >= 15) || major >= 26;
if (!supported) {
  process.stderr.write(
    `strata: Node ${process.versions.node} is not supported; Strata needs Node 22.22.2+ (22.x), 24.15+ (24.x) or 26+ (install one, e.g. from nodejs.org or nvm; in a checkout, 'npx --no-install strata' uses the pinned Node 24)\n`,
  );
  process.exit(2);
}
// V8's compiled code for Strata's modules is kept between runs (in the OS temp
// directory, keyed by Node version and file content). Measured here it saves
// 0.002-0.02 s a start, within the noise (docs/benchmarks/start.md); it costs nothing.
// STRATA_NO_COMPILE_CACHE=1 (or Node's NODE_DISABLE_COMPILE_CACHE=1) turns it off.
if (!process.env.STRATA_NO_COMPILE_CACHE) (await import('node:module')).enableCompileCache?.();
const { main } = await import('../dist/src/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
