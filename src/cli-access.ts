// The registry access flags every command that talks to a registry shares
// (push, pull, copy, sign, verify), and the session options they make.
import type { Command } from 'commander';
import { DEFAULT_RETRY } from '../registry/retry.js';
import type { SessionOptions } from '../registry/session.js';
import { StrataError } from './errors.js';

export interface AccessFlags {
  insecure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  authfile?: string;
  retries: string;
}

export function accessFlags(cmd: Command): Command {
  return cmd
    .option('--insecure', 'allow plain HTTP and unverified TLS for a registry that is not on loopback')
    .option('--username <user>', 'registry user name (the password comes from --password-stdin)')
    .option('--password-stdin', 'read the registry password or token from stdin')
    .option('--authfile <file>', 'credentials file to use instead of the docker and containers ones')
    .option('--retries <n>', 'attempts per request on 408, 429, 5xx and dropped connections', String(DEFAULT_RETRY.attempts));
}

export function positiveInt(flag: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new StrataError('usage', `${flag} '${v}' is not a whole number of at least ${min}`);
  return Number(v);
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/** Session options from the access flags; the password is read from stdin here. */
export async function sessionOptions(f: AccessFlags, extra: Pick<SessionOptions, 'progress'> = {}): Promise<SessionOptions> {
  if (f.username && !f.passwordStdin) throw new StrataError('usage', '--username needs --password-stdin (a password on the command line would show in ps and shell history)');
  if (f.passwordStdin && !f.username) throw new StrataError('usage', '--password-stdin needs --username');
  const password = f.passwordStdin ? await readStdin() : undefined;
  return {
    ...extra,
    ...(f.insecure ? { insecure: true } : {}),
    retry: { ...DEFAULT_RETRY, attempts: positiveInt('--retries', f.retries)! },
    credentials: { ...(f.username ? { username: f.username, password: password ?? '' } : {}), ...(f.authfile ? { authFile: f.authfile } : {}) },
  };
}
