// One parser for every source and destination a command takes.
//   oci:DIR[:TAG]  oci-archive:FILE[:TAG]  docker-archive:FILE[:NAME:TAG]  docker://REF
// A bare REGISTRY/REPO[:TAG|@DIGEST] is docker://, as a destination and as a
// source whose first component is a registry host; any other source is a Nix
// installable. Paths and the rest split at the first colon, as skopeo does.
import { existsSync } from 'node:fs';
import { StrataError } from '../base/errors.js';

export interface DockerReference {
  /** Registry host[:port], normalised: docker.io for Docker Hub. */
  registry: string;
  /** Repository path, e.g. library/alpine or org/app. */
  repository: string;
  tag?: string;
  digest?: string;
}

export type Reference =
  | { transport: 'oci'; path: string; tag?: string }
  | { transport: 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; name?: DockerReference }
  | { transport: 'docker'; ref: DockerReference }
  | { transport: 'nix'; installable: string };

const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive', 'docker'] as const;

// distribution/reference's grammar.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?';
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const REPO_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Parses NAME[:TAG][@DIGEST] the way docker does, normalising Docker Hub names. */
export function parseDockerReference(s: string): DockerReference {
  const bad = (why: string) => new StrataError('reference', `invalid image reference '${s}': ${why}`);
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`'${digest}' is not a digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw bad(`'${tag}' is not a valid tag`);
  }
  if (rest === '') throw bad('no repository name');
  let registry = 'docker.io';
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      if (!DOMAIN_RE.test(first)) throw bad(`'${first}' is not a registry host`);
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPO_RE.test(repository)) throw bad('repository names are lowercase letters, digits and separators');
  if (repository.length > 255) throw bad('repository name longer than 255 characters');
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

export function formatDockerReference(r: DockerReference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** A reference as a user writes it: docker://…, oci:DIR, or the installable. */
export function formatReference(r: Reference): string {
  switch (r.transport) {
    case 'docker':
      return `docker://${formatDockerReference(r.ref)}`;
    case 'nix':
      return r.installable;
    default:
      return `${r.transport}:${r.path}`;
  }
}

function splitFirstColon(s: string): [string, string | undefined] {
  const i = s.indexOf(':');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function parseTransport(s: string): Reference | undefined {
  const m = /^([a-z-]+):(.*)$/s.exec(s);
  if (!m) return undefined;
  const [, transport, rest] = m as unknown as [string, string, string];
  if (!(TRANSPORTS as readonly string[]).includes(transport)) return undefined;
  switch (transport as (typeof TRANSPORTS)[number]) {
    case 'docker': {
      if (!rest.startsWith('//')) throw new StrataError('reference', `invalid reference '${s}': docker transport is written docker://REGISTRY/REPO[:TAG]`);
      return { transport: 'docker', ref: parseDockerReference(rest.slice(2)) };
    }
    case 'oci':
    case 'oci-archive': {
      const [path, tag] = splitFirstColon(rest);
      if (path === '') throw new StrataError('reference', `invalid reference '${s}': no path`);
      if (tag !== undefined && !isValidTag(tag)) throw new StrataError('reference', `invalid reference '${s}': '${tag}' is not a valid tag`);
      return { transport: transport as 'oci' | 'oci-archive', path, ...(tag !== undefined && { tag }) };
    }
    case 'docker-archive': {
      const [path, name] = splitFirstColon(rest);
      if (path === '') throw new StrataError('reference', `invalid reference '${s}': no path`);
      return { transport: 'docker-archive', path, ...(name !== undefined && { name: parseDockerReference(name) }) };
    }
  }
}

/**
 * A source of any command (build, digest, push, copy, diff, index, sbom):
 * a transport reference is an image; a flake reference (with '#' or a scheme
 * such as github: or path:), a path (./x, /nix/store/…, or any that exists, such
 * as a result link) is an installable; so is anything else whose first
 * component is no registry host (has no '.' or ':' and is not localhost), as
 * Docker Hub short names would be: write those docker.io/library/alpine.
 */
export function parseSource(s: string, pathExists: (p: string) => boolean = existsSync): Reference {
  const t = parseTransport(s);
  if (t) return t;
  const installable: Reference = { transport: 'nix', installable: s };
  if (s.includes('#') || /^[./~]/.test(s) || pathExists(s)) return installable;
  // A scheme (github:owner/repo) is not a registry's host:port.
  if (/^[a-z][a-z0-9+.-]*:(?![0-9]+(\/|$))/i.test(s)) return installable;
  const first = s.split('/')[0]!;
  if (!s.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) return installable;
  return { transport: 'docker', ref: parseDockerReference(s) };
}

/** A destination: a transport reference, or a bare registry reference meaning docker://. */
export function parseDestination(s: string): Reference {
  const t = parseTransport(s);
  if (t) return t;
  if (/^(\/|\.\.?\/|~)/.test(s) || s === '.' || s === '..') {
    throw new StrataError(
      'reference',
      `'${s}' is a path with no transport: write oci:${s}, oci-archive:${s}, docker-archive:${s}, or docker://REGISTRY/REPO[:TAG] for a registry`,
    );
  }
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/s.exec(s);
  if (m) {
    // 'localhost:5000/app' has a port after the colon and 'app:v1' a tag; anything else is a transport Strata does not know.
    const after = m[2]!.replace(/@[^@]*$/, '');
    if (!/^[0-9]+\//.test(after) && !isValidTag(after)) {
      throw new StrataError('reference', `unknown transport '${m[1]}:' in '${s}': use oci:DIR, oci-archive:FILE, docker-archive:FILE or docker://REF`);
    }
  }
  return { transport: 'docker', ref: parseDockerReference(s) };
}

/** The tag a destination gets: --tag, then the reference's own, then the description's, then latest. */
export function resolveTag(flag: string | undefined, fromReference: string | undefined, fromDescription: string | undefined | null): string {
  const tag = flag ?? fromReference ?? fromDescription ?? 'latest';
  if (!isValidTag(tag)) throw new StrataError('reference', `'${tag}' is not a valid tag`);
  return tag;
}

export function referenceTag(r: Reference): string | undefined {
  switch (r.transport) {
    case 'oci':
    case 'oci-archive':
      return r.tag;
    case 'docker-archive':
      return r.name?.tag;
    case 'docker':
      return r.ref.tag;
    case 'nix':
      return undefined;
  }
}
