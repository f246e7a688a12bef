// Runs the real CLI as a subprocess, the way users and CI do, with the real nix.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const strataBin = join(repoRoot, 'bin', 'strata.js');

/** A layer cache of this test process's own: tests never read or fill the user's. */
const testCache = mkdtempSync(join(tmpdir(), 'strata-test-cache-'));

/** Nix without a binary cache (there is no network here), and Strata's cache in a directory of the tests' own. */
export function nixEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const extra = 'substituters =\nexperimental-features = nix-command flakes';
  return { STRATA_CACHE_DIR: testCache, ...base, NIX_CONFIG: base.NIX_CONFIG ? `${base.NIX_CONFIG}\n${extra}` : extra };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Node binary to run Strata with (default: the one running the tests). */
  node?: string;
  /** umask as an octal string, e.g. '077'. */
  umask?: string;
  /** Written to stdin (for --password-stdin); stdin is empty otherwise. */
  input?: string;
}

export function runStrata(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const node = opts.node ?? process.execPath;
  const [cmd, argv] = opts.umask ? ['/bin/sh', ['-c', `umask ${opts.umask} && exec "$@"`, 'sh', node, strataBin, ...args]] : [node, [strataBin, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], { cwd: opts.cwd ?? repoRoot, env: opts.env ?? nixEnv(), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Asserts a run succeeded and returns the last line of stdout (the digest). */
export function expectOk(r: RunResult): string {
  assert.equal(r.code, 0, `strata failed (${r.code}): ${r.stderr}`);
  return lastLine(r.stdout);
}

/** Asserts exit `code` and exactly one error line on stderr (progress lines aside), matching `pattern`. */
export function expectFailure(r: RunResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('strata: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, pattern);
}

/** The last line of stdout: where Strata prints the digest. */
export function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

export function tempDir(prefix = 'strata-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

/** Runs a command, failing the test with its stderr when it fails. */
export function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? nixEnv(), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** A self-contained copy of examples/hello with Debian's static busybox (see its prepare.sh). */
export function prepareHello(dir: string): string {
  return sh(join(repoRoot, 'examples', 'hello', 'prepare.sh'), [dir]).trim();
}

/** A copy of the repository's golden example in another place, to show the location does not matter. */
export function copyRepoExample(dest: string): string {
  cpSync(join(repoRoot, 'nix'), join(dest, 'nix'), { recursive: true });
  cpSync(join(repoRoot, 'examples', 'golden'), join(dest, 'examples', 'golden'), { recursive: true, verbatimSymlinks: true });
  sh('git', ['init', '-q', '.'], { cwd: dest });
  sh('git', ['add', '-A'], { cwd: dest });
  return join(dest, 'examples', 'golden');
}
