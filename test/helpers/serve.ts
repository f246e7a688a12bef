// `strata serve` as a subprocess for tests, on a free port of its own, with the tests' Nix settings and cache.
import { startServe as startStrataServe, type Served } from '../../conformance/reproducibility/serve.js';
import { nixEnv } from './strata.js';

export type { Served };

/** `strata serve --listen 127.0.0.1:0` on `root`; resolves once it printed where it listens. */
export function startServe(root: string, args: string[] = ['--allow-anonymous-push'], env: NodeJS.ProcessEnv = nixEnv()): Promise<Served> {
  return startStrataServe({ root, args, env });
}
