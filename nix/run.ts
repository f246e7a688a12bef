// Runs the user's own nix. Its build log goes straight to our stderr; its stdout
// (JSON) is captured. Flakes are turned on per call, so no nix.conf edit is needed.
import { spawn } from 'node:child_process';
import { StrataError } from '../base/errors.js';

export interface NixRunOptions {
  /** Keep nix's stderr instead of passing it through (for quiet probes). */
  captureStderr?: boolean;
  /** How the command is named in an error (default: the command line). */
  label?: string;
  /** Settings for a command that may build or substitute (default: the user's nix.conf alone). */
  settings?: NixSettings;
}

/** Nix settings Strata adds to the user's own, per call (`--option NAME VALUE`). */
export interface NixSettings {
  /** Binary caches to substitute from, besides the configured ones. */
  extraSubstituters?: string[];
  /** `NAME:BASE64` keys whose signatures those caches' paths are accepted with. */
  extraTrustedPublicKeys?: string[];
}

/** The settings as `--option` arguments; none for none. Appended with extra-, never replacing the user's (nor require-sigs). */
export function nixOptionArgs(s: NixSettings | undefined): string[] {
  const args: string[] = [];
  if (s?.extraSubstituters?.length) args.push('--option', 'extra-substituters', s.extraSubstituters.join(' '));
  if (s?.extraTrustedPublicKeys?.length) args.push('--option', 'extra-trusted-public-keys', s.extraTrustedPublicKeys.join(' '));
  return args;
}

export interface NixRunResult {
  stdout: string;
  stderr: string;
}

const FLAKE_FLAGS = ['--extra-experimental-features', 'nix-command flakes'];

/** Runs `nix ARGS…` (the new CLI, with flakes on); fails with the last line nix printed. */
export function runNix(args: string[], opts: NixRunOptions = {}): Promise<NixRunResult> {
  return run('nix', [...FLAKE_FLAGS, ...nixOptionArgs(opts.settings)], args, opts);
}

/** Runs a classic `nix-store` command (stable across every Nix version). */
export function runNixStore(args: string[], opts: NixRunOptions = {}): Promise<NixRunResult> {
  return run('nix-store', nixOptionArgs(opts.settings), args, opts);
}

/** `cmd FLAGS… ARGS…`; an error names the command by ARGS (not the flags Strata adds). */
function run(cmd: string, flags: string[], args: string[], opts: NixRunOptions): Promise<NixRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...flags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let errBytes = 0;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      if (!opts.captureStderr) process.stderr.write(b);
      // Keep the tail only: enough to name the error, bounded for long build logs.
      err.push(b);
      errBytes += b.length;
      while (errBytes > 1 << 20 && err.length > 1) errBytes -= err.shift()!.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        reject(
          new StrataError(
            'nix-missing',
            `'${cmd}' is not on PATH: install Nix (Debian: apt-get install nix-bin; elsewhere: https://nixos.org/download) and try again`,
          ),
        );
      } else reject(new StrataError('nix-failed', `cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr });
      const last = lastErrorLine(stderr);
      const what = opts.label ?? `${cmd} ${args.join(' ')}`;
      // The one line for the user; nix's last lines (the build log's tail) as the cause, for a server's log.
      reject(
        new StrataError('nix-failed', `${what} failed${signal ? ` (${signal})` : ` (exit ${code})`}${last ? `: ${last}` : ''}`, {
          cause: new Error(outputTail(stderr)),
        }),
      );
    });
  });
}

/** Nix's last 40 lines of output, without colour codes. */
function outputTail(stderr: string): string {
  return stderr
    .replace(/\x1b\[[0-9;]*m/g, '')
    .trimEnd()
    .split('\n')
    .slice(-40)
    .join('\n');
}

/** The most telling line of nix's error output: its 'error:' line, without colour codes. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const err = lines.find((l) => l.startsWith('error:'));
  return (err ?? lines[lines.length - 1] ?? '').replace(/^error:\s*/, '');
}
