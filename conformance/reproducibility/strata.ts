// Strata's command line as a subprocess, the way users and CI run it, under a
// chosen Node binary, umask, environment and working directory: the knobs the
// reproducibility suite turns (and the integration tests' way to run Strata).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Loaded from its TypeScript source (the tests, under vitest) rather than from dist/ (the scripts). */
const fromSource = import.meta.url.endsWith('.ts');
/** The repository root: two levels above conformance/reproducibility/, three above dist/conformance/reproducibility/. */
export const repoRoot = fileURLToPath(new URL(fromSource ? '../../' : '../../../', import.meta.url));
/** The CLI: from the sources, test/helpers/strata-source.js runs src/ through tsx (no compile step first); from dist/, bin/strata.js as users run it. */
export const strataBin = join(repoRoot, ...(fromSource ? ['test', 'helpers', 'strata-source.js'] : ['bin', 'strata.js']));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Default: the repository root. */
  cwd?: string;
  /** Node binary to run Strata with (default: the one running this process). */
  node?: string;
  /** umask as an octal string, e.g. '077'. */
  umask?: string;
  /** A command Node runs under: an emulator (`qemu-aarch64-static -L …`, `qemu-x86_64-static -cpu qemu64`). */
  prefix?: string[];
  /** Written to stdin (for --password-stdin); stdin is empty otherwise. */
  input?: string;
}

export function runStrata(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = [...(opts.prefix ?? []), opts.node ?? process.execPath, strataBin, ...args];
  const [cmd, argv] = opts.umask ? ['/bin/sh', ['-c', `umask ${opts.umask} && exec "$@"`, 'sh', ...command]] : [command[0]!, command.slice(1)];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The last line of stdout: where Strata prints the digest. */
export function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** Nix without a binary cache (the examples need none, and CI has no network) and with flakes on. */
export function withNixConfig(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const extra = 'substituters =\nexperimental-features = nix-command flakes';
  return { ...env, NIX_CONFIG: env.NIX_CONFIG ? `${env.NIX_CONFIG}\n${extra}` : extra };
}

/** Runs a command to its end, throwing with its stderr when it fails. */
export function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}
