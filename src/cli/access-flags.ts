// The registry access flags every command that talks to a registry shares
// (push, pull, copy, index, sign, verify), the transfer flags of those that
// move images, and the session and push options they make.
import type { Command } from 'commander';
import type { RegistryOptions } from '../copy.js';
import type { Progress } from '../../base/events.js';
import { DEFAULT_RETRY } from '../../registry/retry.js';
import { defaults } from '../defaults.js';
import type { SessionOptions } from '../../registry/session.js';
import { StrataError } from '../../base/errors.js';
import { join } from 'node:path';

export interface AccessFlags {
  insecure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  authfile?: string;
  retries: string;
  requestTimeout: string;
}

export function accessFlags(cmd: Command): Command {
  return cmd
    .option('--insecure', 'allow plain HTTP and unverified TLS for a registry that is not on loopback')
    .option('--username <user>', 'registry user name (the password comes from --password-stdin)')
    .option('--password-stdin', 'read the registry password or token from stdin')
    .option('--authfile <file>', 'credentials file to use instead of the docker and containers ones')
    .option('--retries <n>', 'attempts per request on 408, 429, 5xx and dropped connections', String(defaults.retries))
    .option(
      '--request-timeout <seconds>',
      'total time for each request for a manifest, a token or an error body, retries included (blobs have idle timeouts only)',
      String(defaults.requestTimeoutMs / 1000),
    );
}

export function positiveInt(flag: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new StrataError('usage', `${flag} '${v}' is not a whole number of at least ${min}`);
  return Number(v);
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Session options from the access flags; the password is read from stdin here. */
export async function sessionOptions(f: AccessFlags, extra: Pick<SessionOptions, 'progress'> = {}): Promise<SessionOptions> {
  if (f.username && !f.passwordStdin)
    throw new StrataError('usage', '--username needs --password-stdin (a password on the command line would show in ps and shell history)');
  if (f.passwordStdin && !f.username) throw new StrataError('usage', '--password-stdin needs --username');
  const password = f.passwordStdin ? await readStdin() : undefined;
  return {
    ...extra,
    ...(f.insecure ? { insecure: true } : {}),
    retry: { ...DEFAULT_RETRY, attempts: positiveInt('--retries', f.retries)! },
    requestTimeoutMs: (positiveInt('--request-timeout', f.requestTimeout) ?? defaults.requestTimeoutMs / 1000) * 1000,
    credentials: { ...(f.username ? { username: f.username, password: password ?? '' } : {}), ...(f.authfile ? { authFile: f.authfile } : {}) },
  };
}

export interface RegistryFlags extends AccessFlags {
  concurrency: string;
  chunkSize?: string;
  quiet?: boolean;
  json?: boolean;
  digestFile?: string;
  reuseFrom?: string[];
}

/** The options of every command that transfers images. */
export function registryFlags(cmd: Command, opts: { uploads?: boolean } = {}): Command {
  const c = accessFlags(cmd).option('--concurrency <n>', 'blobs transferred at once', String(defaults.concurrency));
  // pull only downloads: an upload option in its help would be a promise it cannot keep.
  if (opts.uploads !== false) {
    c.option(
      '--chunk-size <bytes>',
      'upload blobs over 16 MiB (all blobs, when given) in chunks of this many bytes (default 8 MiB; 0: one streamed request per blob, which a cut connection restarts)',
    );
  }
  return c.option('-q, --quiet', 'no progress output').option('--digest-file <file>', 'also write the manifest digest to this file');
}

export async function registryOptions(f: RegistryFlags): Promise<{ reg: RegistryOptions; progress: Progress }> {
  const [{ createProgress }, { BlobLocations }, { defaultCacheDir }] = await Promise.all([
    import('../progress.js'),
    import('../../registry/blob-locations.js'),
    import('../../layers/cache.js'),
  ]);
  const progress = createProgress(f.quiet ? 'quiet' : f.json ? 'json' : 'auto');
  const session = await sessionOptions(f, { progress });
  const chunk = positiveInt('--chunk-size', f.chunkSize, 0);
  // Beside the layer cache: where each blob was pushed, so a push to another repository mounts it.
  const locations = new BlobLocations(join(defaultCacheDir(), 'locations'));
  return {
    reg: {
      session,
      push: { concurrency: positiveInt('--concurrency', f.concurrency)!, progress, locations, ...(chunk !== undefined ? { chunkSize: chunk } : {}) },
    },
    progress,
  };
}
