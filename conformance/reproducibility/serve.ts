// `strata serve` as a subprocess on a free loopback port of its own: the
// suite's registry for pushes and its bridge from flake outputs.
import { type ChildProcess } from 'node:child_process';
import { killChild, spawnTracked } from './children.js';
import { strataBin } from './strata.js';

export interface Served {
  url: string;
  host: string;
  root: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** The storage directory; '' for none (registry storage, --storage). */
  root: string;
  /** After `--listen 127.0.0.1:0 --root ROOT`. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Default: the Node running this process. */
  node?: string;
  cwd?: string;
}

/** Resolves once the server printed where it listens. */
export async function startServe(opts: ServeOptions): Promise<Served> {
  const argv = [strataBin, 'serve', '--listen', '127.0.0.1:0', ...(opts.root ? ['--root', opts.root] : []), ...opts.args];
  const child = spawnTracked(opts.node ?? process.execPath, argv, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: opts.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  return servedBy(child, opts.root);
}

/** A `strata serve` child however it was started (its stderr a pipe): resolves once it printed where it listens, else kills it. */
export async function servedBy(child: ChildProcess, root: string): Promise<Served> {
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void killChild(child);
      reject(new Error(`strata serve did not start: ${err}`));
    }, 15_000);
    child.stderr!.on('data', () => {
      const m = err.match(/strata: serving on (http:\/\/\S+)\n/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`strata serve exited (${code}): ${err}`)));
  });
  return { url, host: url.replace('http://', ''), root, child, stderr: () => err, stop: () => killChild(child) };
}
