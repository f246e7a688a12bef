// What a flake installable was built from, for the SBOM and the provenance:
// its locked reference and the inputs its lock file pins, read from
// `nix flake metadata --json`; and the Nix that built it (`nix --version`).
//
// The JSON is the same in its parts Strata reads from Nix 2.8 to the newest
// (fixtures and sources in test/fixtures/nix/SOURCES.md):
//   - `locked` (attributes), `originalUrl`, `locks` (the flake.lock contents,
//     version 7: `{root, nodes: {<id>: {locked, original, inputs, flake}}}`,
//     where an input is a node id or, for `follows`, a path of input names
//     from the root);
//   - the locked URL is `url`, which the manual calls `lockedUrl`;
//   - optional: `description`, `revision`, `revCount`, `lastModified`; newer
//     Nix adds `dirtyRevision` (a dirty git tree) and `fingerprint`.
// A dirty tree has no `rev`, but its `narHash` still pins its content.
import { z } from 'zod';
import { StrataError } from '../base/errors.js';
import { normaliseHash } from './json.js';
import { runNix } from './run.js';

/** Fetcher attributes as Nix prints them: type, url or owner/repo, rev, narHash… */
export type FlakeAttrs = Record<string, string | number | boolean>;

export interface LockedSource {
  /** A flake reference to exactly this source (Nix's own for the flake itself). */
  url: string;
  attrs: FlakeAttrs;
  /** The commit, for git, GitHub, GitLab, SourceHut and Mercurial sources. */
  rev?: string;
  /** SRI sha256 of the source tree's NAR. */
  narHash?: string;
  lastModified?: number;
}

export interface FlakeInput extends LockedSource {
  /** The node's name in flake.lock. */
  id: string;
  /** The first input path from the flake that reaches it (e.g. "home-manager/nixpkgs"). */
  path: string;
  /** false for `flake = false` inputs: plain sources. */
  flake: boolean;
  /** Ids of the nodes this one takes as inputs (follows resolved), sorted. */
  inputs: string[];
}

export interface FlakeMetadata extends LockedSource {
  originalUrl: string;
  description?: string;
  /** A dirty git tree's revision with a "-dirty" suffix (newer Nix only). */
  dirtyRevision?: string;
  /** Ids of the flake's own inputs, sorted. */
  rootInputs: string[];
  /** Every locked node of the lock file but the root, sorted by id. */
  inputs: FlakeInput[];
}

/** The flake reference of an installable: everything before '#' ('.' when empty). */
export function flakeRefOf(installable: string): string {
  const hash = installable.indexOf('#');
  const ref = hash < 0 ? installable : installable.slice(0, hash);
  return ref === '' ? '.' : ref;
}

export async function flakeMetadata(flakeRef: string): Promise<FlakeMetadata> {
  const { stdout } = await runNix(['flake', 'metadata', '--json', flakeRef], { captureStderr: true, label: `nix flake metadata ${flakeRef}` });
  try {
    return parseFlakeMetadataJson(stdout);
  } catch (e) {
    throw new StrataError('nix-output', (e as Error).message, { cause: e });
  }
}

/** The first line of `nix --version`, as is: it names the implementation (Nix, Lix, Determinate) and its version. */
export async function nixVersion(): Promise<string> {
  const { stdout } = await runNix(['--version'], { captureStderr: true });
  const line = stdout.split('\n')[0]?.trim() ?? '';
  if (line === '') throw new StrataError('nix-output', 'nix --version printed nothing');
  return line;
}

const attrsSchema = z.record(z.string(), z.unknown());
const nodeSchema = z
  .object({
    locked: attrsSchema.optional(),
    inputs: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
    flake: z.boolean().optional(),
  })
  .passthrough();
const metadataSchema = z
  .object({
    description: z.string().optional(),
    originalUrl: z.string(),
    url: z.string().optional(),
    lockedUrl: z.string().optional(),
    locked: attrsSchema,
    dirtyRevision: z.string().optional(),
    locks: z.object({ root: z.string(), nodes: z.record(z.string(), nodeSchema) }).passthrough(),
  })
  .passthrough();

/** Parses `nix flake metadata --json`; throws a one-line Error on output it cannot read. */
export function parseFlakeMetadataJson(text: string): FlakeMetadata {
  const what = 'nix flake metadata --json';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not JSON (${(e as Error).message})`);
  }
  const parsed = metadataSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${what}: unexpected output: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const m = parsed.data;
  const { root, nodes } = m.locks;
  const rootNode = nodes[root];
  if (!rootNode) throw new Error(`${what}: lock file has no root node '${root}'`);
  const url = m.url ?? m.lockedUrl;
  if (url === undefined) throw new Error(`${what}: no locked URL (url)`);

  const resolve = followsResolver(nodes, root, what);
  // An input that follows "" is the flake itself, which is no input of anything here.
  const inputsOf = (id: string): string[] =>
    [...new Set(Object.values(nodes[id]?.inputs ?? {}).map((ref) => (typeof ref === 'string' ? ref : resolve(ref))))].filter((i) => i !== root).sort(compare);

  // Breadth-first from the root, input names in order: each node's shortest, first path.
  const paths = new Map<string, string>();
  const queue: [string, string][] = [[root, '']];
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [id, prefix] = next;
    for (const [name, ref] of Object.entries(nodes[id]?.inputs ?? {}).sort(([a], [b]) => compare(a, b))) {
      if (Array.isArray(ref)) continue; // a follows names a node reached by its own path
      const path = prefix === '' ? name : `${prefix}/${name}`;
      if (ref === root || paths.has(ref)) continue;
      paths.set(ref, path);
      queue.push([ref, path]);
    }
  }

  const inputs = Object.keys(nodes)
    .filter((id) => id !== root)
    .sort(compare)
    .map((id): FlakeInput => {
      const node = nodes[id]!;
      if (!node.locked) throw new Error(`${what}: lock node '${id}' is not locked`);
      return {
        id,
        path: paths.get(id) ?? id,
        flake: node.flake !== false,
        inputs: inputsOf(id),
        ...lockedSource(scalars(node.locked), undefined, `${what}: lock node '${id}'`),
      };
    });
  return {
    originalUrl: m.originalUrl,
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.dirtyRevision !== undefined ? { dirtyRevision: m.dirtyRevision } : {}),
    ...lockedSource(scalars(m.locked), url, `${what}: locked`),
    rootInputs: inputsOf(root),
    inputs,
  };
}

/** A follows path (input names from the root) → the node it ends at. */
function followsResolver(nodes: Record<string, z.infer<typeof nodeSchema>>, root: string, what: string): (path: string[]) => string {
  const resolve = (path: string[], depth: number): string => {
    if (depth > 64) throw new Error(`${what}: follows cycle at ${path.join('/')}`);
    let id = root;
    for (const name of path) {
      const ref = nodes[id]?.inputs?.[name];
      if (ref === undefined) throw new Error(`${what}: follows path ${path.join('/')} names no input`);
      id = typeof ref === 'string' ? ref : resolve(ref, depth + 1);
    }
    return id;
  };
  return (path) => resolve(path, 0);
}

function lockedSource(attrs: FlakeAttrs, url: string | undefined, where: string): LockedSource {
  let narHash: string | undefined;
  if (typeof attrs.narHash === 'string') {
    try {
      narHash = normaliseHash(attrs.narHash);
    } catch (e) {
      throw new Error(`${where}: narHash: ${(e as Error).message}`);
    }
  }
  return {
    url: url ?? lockedUrl(attrs),
    attrs,
    ...(typeof attrs.rev === 'string' ? { rev: attrs.rev } : {}),
    ...(narHash ? { narHash } : {}),
    ...(typeof attrs.lastModified === 'number' ? { lastModified: attrs.lastModified } : {}),
  };
}

/** Fetcher attributes are scalars; anything else a future Nix adds is left out. */
function scalars(attrs: Record<string, unknown>): FlakeAttrs {
  const out: FlakeAttrs = {};
  for (const key of Object.keys(attrs).sort(compare)) {
    const v = attrs[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = v;
  }
  return out;
}

/** Attributes that say when or how big, not which source. */
const NOT_IDENTIFYING = new Set(['type', 'lastModified', 'revCount', 'narHash']);

/**
 * A flake reference for a lock file node, in the forms `nix build` takes:
 * `github:owner/repo/rev`, `git+https://…?rev=…`, `path:/p?narHash=…`. Lock
 * nodes carry only attributes, and Nix's own rendering differs between
 * versions, so this is Strata's; a source without a commit keeps its narHash,
 * the only thing that pins it.
 */
export function lockedUrl(attrs: FlakeAttrs): string {
  const type = String(attrs.type ?? 'unknown');
  const query = (skip: string[]): string => {
    const keep = Object.keys(attrs)
      .filter((k) => !NOT_IDENTIFYING.has(k) && !skip.includes(k))
      .sort(compare)
      .map((k) => `${k}=${encodeURIComponent(String(attrs[k]))}`);
    if (attrs.rev === undefined && typeof attrs.narHash === 'string') keep.push(`narHash=${encodeURIComponent(attrs.narHash)}`);
    return keep.join('&');
  };
  const join = (base: string, q: string): string => (q === '' ? base : `${base}${base.includes('?') ? '&' : '?'}${q}`);
  if (['github', 'gitlab', 'sourcehut'].includes(type)) {
    return join(
      `${type}:${attrs.owner}/${attrs.repo}${attrs.rev ? `/${attrs.rev}` : attrs.ref ? `/${attrs.ref}` : ''}`,
      query(['owner', 'repo', 'rev', 'ref']),
    );
  }
  if (type === 'path') return join(`path:${attrs.path}`, query(['path']));
  if (typeof attrs.url === 'string') return join(`${type}+${attrs.url}`, query(['url']));
  return join(`${type}:`, query([]));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
