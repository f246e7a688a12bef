// `strata serve` as a subprocess for tests, on a free port of its own.
import { type ChildProcess } from 'node:child_process';
import { killChild, spawnTracked } from './registry.js';
import { nixEnv, strataBin } from './strata.js';

export interface Served {
  url: string;
  host: string;
  root: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** `strata serve --listen 127.0.0.1:0` on `root`; resolves once it printed where it listens. */
export async function startServe(root: string, args: string[] = ['--allow-anonymous-push'], env: NodeJS.ProcessEnv = nixEnv()): Promise<Served> {
  const child = spawnTracked(process.execPath, [strataBin, 'serve', '--listen', '127.0.0.1:0', '--root', root, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strata serve did not start: ${err}`)), 15_000);
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
