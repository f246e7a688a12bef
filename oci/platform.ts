// Nix systems ↔ OCI platforms.
import { StrataError } from '../base/errors.js';
import type { Descriptor, Platform } from './types.js';

const SYSTEMS: Record<string, Platform> = {
  'x86_64-linux': { os: 'linux', architecture: 'amd64' },
  'aarch64-linux': { os: 'linux', architecture: 'arm64' },
  'i686-linux': { os: 'linux', architecture: '386' },
  'armv7l-linux': { os: 'linux', architecture: 'arm', variant: 'v7' },
  'armv6l-linux': { os: 'linux', architecture: 'arm', variant: 'v6' },
  'riscv64-linux': { os: 'linux', architecture: 'riscv64' },
  'powerpc64le-linux': { os: 'linux', architecture: 'ppc64le' },
  's390x-linux': { os: 'linux', architecture: 's390x' },
};

/** Accepts a Nix system (x86_64-linux) or an OCI platform (linux/amd64, linux/arm/v7). */
export function parseSystem(s: string): { system: string; platform: Platform } {
  if (s.includes('/')) {
    const parts = s.split('/');
    const [os, architecture] = parts;
    // Docker writes linux/arm64/v8 for plain arm64; arm without a variant means v7.
    const variant = architecture === 'arm64' && parts[2] === 'v8' ? undefined : parts[2];
    const hit =
      parts.length > 3
        ? undefined
        : Object.entries(SYSTEMS).find(
            ([, p]) => p.os === os && p.architecture === architecture && (p.variant ?? undefined) === (variant || (architecture === 'arm' ? 'v7' : undefined)),
          );
    if (!hit)
      throw new StrataError('platform', `platform '${s}' has no Nix system Strata knows; known: ${Object.values(SYSTEMS).map(formatPlatform).join(', ')}`);
    return { system: hit[0], platform: hit[1] };
  }
  const platform = SYSTEMS[s];
  if (!platform) {
    const why = /-(darwin|freebsd|netbsd|openbsd|windows|cygwin)$/.test(s)
      ? 'container images run Linux; build for a -linux system'
      : `known: ${Object.keys(SYSTEMS).join(', ')}`;
    throw new StrataError('platform', `cannot make an image for system '${s}': ${why}`);
  }
  return { system: s, platform };
}

/**
 * A platform to look for in images: a Nix system Strata knows, or any OCI
 * os/architecture[/variant] (an index may hold platforms Nix cannot build).
 */
export function parsePlatform(s: string): Platform {
  if (!s.includes('/')) return parseSystem(s).platform;
  const [os, architecture, variant, ...rest] = s.split('/');
  if (!os || !architecture || variant === '' || rest.length)
    throw new StrataError('platform', `platform '${s}' is not OS/ARCHITECTURE[/VARIANT] (linux/amd64, linux/arm/v7) or a Nix system (x86_64-linux)`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The Nix system of this machine, from Node's own view of it. */
export function hostSystem(): string {
  const arch = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686', riscv64: 'riscv64', ppc64: 'powerpc64le', s390x: 's390x', arm: 'armv7l' }[
    process.arch as string
  ];
  return `${arch ?? process.arch}-${process.platform}`;
}

/** arm64's only variant is v8 and arm's default is v7 (as containerd reads them): two spellings of one platform. */
export function normalizePlatform(p: Platform): Platform {
  const { variant, ...rest } = p;
  const v = p.architecture === 'arm64' && variant === 'v8' ? undefined : p.architecture === 'arm' && !variant ? 'v7' : variant;
  return { ...rest, ...(v ? { variant: v } : {}) };
}

/** Whether an image of `platform` is what `asked` names; a variant not asked for matches any, as do os.version and os.features. */
export function platformMatches(platform: Platform, asked: Platform): boolean {
  const [p, a] = [normalizePlatform(platform), normalizePlatform(asked)];
  return p.os === a.os && p.architecture === a.architecture && (!a.variant || p.variant === a.variant);
}

/** The manifest of an index that is `asked`'s image: the one rule for copy, pull, diff, a base image and push's look-up of known layers. */
export function choosePlatform<D extends Pick<Descriptor, 'platform'>>(manifests: D[], asked: Platform): D | undefined {
  return manifests.find((m) => m.platform !== undefined && platformMatches(m.platform, asked));
}
