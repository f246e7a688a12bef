// From an installable to realised store paths: build it with the user's nix,
// hold GC roots on what will be read, and read the closure with NAR hashes.
import { mkdtemp, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StrataError } from '../base/errors.js';
import { parseBuildJson, parsePathInfoJson, type StorePathInfo } from './json.js';
import { runNix, runNixStore, type NixSettings } from './run.js';

export const STORE_DIR = '/nix/store';

/** What the installable's own Nix value says about itself (flakes only). */
export interface PackageMeta {
  mainProgram?: string;
  pname?: string;
  name?: string;
}

export interface Realised {
  /** The store paths nix built for the installable (all its default outputs). */
  outputs: string[];
  meta: PackageMeta;
  /** The JSON written by the flake's lib.image, when the installable is an image description. */
  description?: unknown;
}

/** GC roots held while an image is written; release() drops them all. */
export class GcRoots {
  private constructor(readonly dir: string) {}
  private n = 0;
  static async create(): Promise<GcRoots> {
    return new GcRoots(await mkdtemp(join(tmpdir(), 'strata-gcroots-')));
  }
  next(): string {
    return join(this.dir, `root-${++this.n}`);
  }
  /** Registers indirect roots on already-valid paths (a collected one is realised again, perhaps substituted with `settings`). */
  async hold(paths: string[], settings?: NixSettings): Promise<void> {
    if (paths.length === 0) return;
    await runNixStore(['--realise', '--add-root', this.next(), ...paths], { captureStderr: true, ...(settings ? { settings } : {}) });
  }
  async release(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A store path or a symlink to one (such as ./result): built already, nothing to evaluate. */
export async function asStorePath(installable: string): Promise<string | undefined> {
  if (installable.includes('#') || /^[a-z][a-z0-9+.-]*:/.test(installable)) return undefined;
  try {
    const p = await realpath(installable);
    if (!p.startsWith(`${STORE_DIR}/`)) return undefined;
    return p.split('/').slice(0, 4).join('/');
  } catch {
    return installable.startsWith(`${STORE_DIR}/`) ? installable : undefined;
  }
}

/**
 * Points a flake installable at packages.<system> when the image is for another
 * system than this machine's: nix's own --system would also make it try to run
 * that system's builders locally instead of on a remote builder.
 */
export function installableForSystem(installable: string, system: string, host: string): string {
  const hash = installable.indexOf('#');
  const flake = hash < 0 ? installable : installable.slice(0, hash);
  const fragment = hash < 0 ? 'default' : installable.slice(hash + 1);
  const named = /^(?:packages|legacyPackages)\.([^.]+)\./.exec(fragment)?.[1];
  if (named !== undefined) {
    if (named !== system)
      throw new StrataError(
        'platform',
        `${installable} names system ${named}, but the image is for ${system}; drop --system/--platform or name packages.${system}`,
      );
    return installable;
  }
  if (system === host) return installable;
  return `${flake}#packages.${system}.${fragment}`;
}

const META_EXPR = `p: if builtins.isAttrs p && p ? strataImage then { strataImage = true; } else {
  mainProgram = if builtins.isAttrs p && p ? meta && p.meta ? mainProgram then p.meta.mainProgram else null;
  pname = if builtins.isAttrs p && p ? pname then p.pname else null;
  name = if builtins.isAttrs p && p ? name then p.name else null;
}`;

/** Builds the installable (or substitutes it, with `settings`' caches) and holds GC roots on its outputs. */
export async function realise(given: string, roots: GcRoots, systems: { system: string; host: string }, settings?: NixSettings): Promise<Realised> {
  const withSettings = settings ? { settings } : {};
  const storePath = await asStorePath(given);
  // A store path is what it is; a flake installable is pointed at the image's system.
  const installable = storePath ? given : installableForSystem(given, systems.system, systems.host);
  let meta: PackageMeta = {};
  let isDescription = false;
  // One after the other, not side by side: on a local flake whose git tree is
  // dirty, two nix processes run git on the same repository at once, and one of
  // them fails (exit 128) — seen in test/integration/package.test.ts.
  if (!storePath) {
    const { stdout } = await runNix(['eval', '--json', installable, '--apply', META_EXPR], {
      captureStderr: true,
      label: `nix eval ${installable}`,
      ...withSettings,
    });
    const v = JSON.parse(stdout) as Record<string, unknown>;
    isDescription = v.strataImage === true;
    for (const k of ['mainProgram', 'pname', 'name'] as const) if (typeof v[k] === 'string') meta[k] = v[k];
  }
  const { stdout } = await runNix(['build', '--json', '--out-link', roots.next(), storePath ?? installable], withSettings);
  // The main output first ('out', else the first by name), as nix's own result link does.
  const outputs = nixOutput(() => parseBuildJson(stdout)).flatMap((r) =>
    Object.entries(r.outputs)
      .sort(([a], [b]) => (a === 'out' ? -1 : b === 'out' ? 1 : a < b ? -1 : a > b ? 1 : 0))
      .map(([, p]) => p),
  );
  if (outputs.length === 0) throw new StrataError('nix-output', `nix build ${installable} reported no outputs`);
  if (storePath && outputs.length === 1) isDescription = await looksLikeDescription(outputs[0]!);
  if (isDescription) return { outputs, meta, description: await readDescription(outputs[0]!) };
  return { outputs, meta };
}

/**
 * lib.image's output: manifest.nix is a symlink whose target names the
 * description JSON, then (after ':') the chain that holds its references.
 */
async function readDescription(out: string): Promise<unknown> {
  const target = await readlink(join(out, 'manifest.nix'));
  return JSON.parse(await readFile(target.split(':')[0]!, 'utf8')) as unknown;
}

async function looksLikeDescription(out: string): Promise<boolean> {
  try {
    const v = (await readDescription(out)) as Record<string, unknown>;
    return typeof v === 'object' && v !== null && 'strataImage' in v;
  } catch {
    return false;
  }
}

/** The closure of `roots`: every path with its references, NAR hash and size. */
export async function closure(roots: string[]): Promise<StorePathInfo[]> {
  if (roots.length === 0) return [];
  const { stdout } = await runNix(['path-info', '--json', '--recursive', ...roots], { captureStderr: true });
  return nixOutput(() => parsePathInfoJson(stdout, STORE_DIR));
}

/** Nix printed something Strata cannot read: a nix-output error (exit 4), not a crash. */
function nixOutput<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new StrataError('nix-output', (e as Error).message, { cause: e });
  }
}
