// Runs the real CLI as a subprocess, the way users and CI do, with the real nix
// (the reproducibility suite's runner, with the tests' Nix settings and cache).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertValidOutput } from './validate.js';
import {
  lastLine,
  runStrata as runStrataProcess,
  sh as shProcess,
  withNixConfig,
  type RunOptions,
  type RunResult,
} from '../../conformance/reproducibility/strata.js';

export { copyGoldenExample as copyRepoExample, prepareHello } from '../../conformance/reproducibility/examples.js';
export { sha256File } from '../../conformance/reproducibility/hash.js';
export { lastLine, repoRoot, strataBin, type RunOptions, type RunResult } from '../../conformance/reproducibility/strata.js';

/** A layer cache of this test process's own: tests never read or fill the user's. */
const testCache = mkdtempSync(join(tmpdir(), 'strata-test-cache-'));

/** Nix without a binary cache (there is no network here), and Strata's cache in a directory of the tests' own. */
export function nixEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return withNixConfig({ STRATA_CACHE_DIR: testCache, ...base });
}

/** The local images a command names as its output: -o/--output's, and copy's destination (its second argument). */
function outputsOf(args: string[]): string[] {
  const out = args.flatMap((a, i) => (a === '-o' || a === '--output' ? [args[i + 1] ?? ''] : a.startsWith('--output=') ? [a.slice('--output='.length)] : []));
  if (args[0] === 'copy') out.push(args.slice(1).filter((a) => !a.startsWith('-'))[1] ?? '');
  return out;
}

/**
 * Strata under the tests' Node (the lockfile's), from the repository root, with nixEnv() unless told otherwise.
 * Every OCI layout or archive a successful run wrote is then validated against oci/schema.ts, blob by blob
 * (test/helpers/validate.ts), so every image the tests make is held to the spec, not only the ones a test inspects.
 */
export async function runStrata(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runStrataProcess(args, { ...opts, env: opts.env ?? nixEnv() });
  if (r.code === 0) for (const output of outputsOf(args)) await assertValidOutput(output);
  return r;
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

export function tempDir(prefix = 'strata-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs a command (with nixEnv() unless told otherwise), failing the test with its stderr when it fails. */
export function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return shProcess(cmd, args, { ...opts, env: opts.env ?? nixEnv() });
}
