// SBOMs (SPDX 2.3, CycloneDX 1.6) and SLSA provenance v1 made from the exact
// closure Strata puts in an image, and the in-toto statements that carry them.
// Pure functions: the same facts give the same bytes. There is no clock (times
// come from SOURCE_DATE_EPOCH, as the image's do), no randomness (document ids
// are name-based UUIDs of a hash of the facts), and every list is in a fixed
// order: the closure bytewise by path, flake inputs by lock-file id.
// The mapping is explained in docs/sbom.md.
import { createHash } from 'node:crypto';
import type { Digest } from '../base/digest.js';
import type { FlakeAttrs, FlakeMetadata, LockedSource } from '../nix/flake-metadata.js';
import type { StorePathInfo } from '../nix/json.js';
import { parseStoreName } from '../nix/store-name.js';

export interface SbomFacts {
  /** The image the documents are about: its name, tag and manifest digest. */
  image: { name: string; tag: string; digest: Digest };
  installable: string;
  /** The Nix system the image was built for. */
  system: string;
  /** The store paths whose closure is the image (contents, root links, paths the config names). */
  roots: string[];
  /** Every store path in the image, sorted bytewise by path. */
  closure: StorePathInfo[];
  /** Absent for a store-path installable: nothing was evaluated. */
  flake?: FlakeMetadata;
  nixVersion: string;
  strataVersion: string;
  /** Seconds since the epoch: the documents' creation time, as the image's `created`. */
  sourceDateEpoch: number;
  builder: Builder;
}

/** Who ran the build, for the provenance only (the SBOMs leave it out, so they stay the same wherever they are made). */
export interface Builder {
  id: string;
  invocationId?: string;
}

export const SPDX_PREDICATE_TYPE = 'https://spdx.dev/Document/v2.3';
export const CYCLONEDX_PREDICATE_TYPE = 'https://cyclonedx.org/bom';
export const SLSA_PREDICATE_TYPE = 'https://slsa.dev/provenance/v1';
/** What a Strata build is; defined in docs/sbom.md. */
export const BUILD_TYPE = 'https://strata.dev/buildtypes/nix-flake/v1';
/** The builder of a build run outside GitHub Actions: whoever ran strata, unattested. */
export const LOCAL_BUILDER = 'https://strata.dev/local';

// ---------------------------------------------------------------------------
// Store names

const baseName = (storePath: string): string => storePath.slice(storePath.lastIndexOf('/') + 1);
const hashPart = (storePath: string): string => baseName(storePath).slice(0, 32);

/** The lowercase hex of an SRI sha256 (NAR hashes) or an OCI digest. */
function hex(hash: string): string {
  if (hash.startsWith('sha256:')) return hash.slice(7);
  if (!hash.startsWith('sha256-')) throw new Error(`'${hash}' is not a sha256 hash`);
  return Buffer.from(hash.slice(7), 'base64').toString('hex');
}

// ---------------------------------------------------------------------------
// Identity and time

/** RFC 4122 version 5 (SHA-1, name-based) UUID of `name` in the URL namespace. */
function uuidV5(name: string): string {
  const h = createHash('sha1').update(Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex')).update(name).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** A document's id: a UUID of the sha256 of what it describes, so the same image gets the same id. */
function documentUuid(kind: string, f: SbomFacts): string {
  const content = JSON.stringify({ image: f.image, roots: f.roots, closure: f.closure, flake: f.flake ?? null });
  return uuidV5(`https://strata.dev/sbom/${kind}/${createHash('sha256').update(content).digest('hex')}`);
}

/** ISO 8601 UTC to the second ('1970-01-01T00:00:00Z'): SPDX's form, valid everywhere else. */
function timestamp(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The image's package URL (purl type oci): its name is the repository's last part, lowercase. */
function imagePurl(image: SbomFacts['image']): string {
  const name = image.name.slice(image.name.lastIndexOf('/') + 1).toLowerCase();
  return `pkg:oci/${encodeURIComponent(name)}@sha256%3A${hex(image.digest)}?tag=${encodeURIComponent(image.tag)}`;
}

// ---------------------------------------------------------------------------
// Flake sources

const GIT_FORGES: Readonly<Record<string, string>> = { github: 'github.com', gitlab: 'gitlab.com', sourcehut: 'git.sr.ht' };

/**
 * Where a locked source can be fetched, as an SPDX VCS location
 * (`git+https://github.com/o/r@<rev>`) or a tarball URL; undefined for local
 * sources (path:, git+file:) and anything else no one else can fetch.
 */
function fetchLocation(attrs: FlakeAttrs): string | undefined {
  const { type, url, rev } = attrs;
  const at = typeof rev === 'string' ? `@${rev}` : '';
  const forge = GIT_FORGES[String(type)];
  if (forge && attrs.owner && attrs.repo) return `git+https://${attrs.host ?? forge}/${attrs.owner}/${attrs.repo}${at}`;
  if (typeof url !== 'string') return undefined;
  if ((type === 'git' || type === 'hg') && /^(https?|ssh):\/\//.test(url)) return `${type}+${url.split('?')[0]}${at}`;
  if ((type === 'tarball' || type === 'file') && /^https?:\/\//.test(url)) return url;
  return undefined;
}

/** Types whose `rev` is a git commit id. */
const GIT_TYPES = new Set(['git', 'github', 'gitlab', 'sourcehut']);

/** in-toto digests of a locked source: `gitCommit`, and `narSha256` (lowercase hex sha256 of its NAR, Nix's narHash). */
function sourceDigest(s: LockedSource): Record<string, string> {
  return {
    ...(s.rev && GIT_TYPES.has(String(s.attrs.type)) ? { gitCommit: s.rev } : {}),
    ...(s.narHash ? { narSha256: hex(s.narHash) } : {}),
  };
}

/** An SPDX id part from any string: characters SPDX ids may not hold become '.' and their hex code. */
function spdxIdPart(s: string): string {
  return s.replace(/[^A-Za-z0-9-]/g, (c) => `.${c.codePointAt(0)!.toString(16)}`);
}

// ---------------------------------------------------------------------------
// SPDX 2.3

const SPDX_DOCUMENT = 'SPDXRef-DOCUMENT';
const SPDX_IMAGE = 'SPDXRef-image';
const SPDX_FLAKE = 'SPDXRef-flake';
const spdxStoreId = (p: string): string => `SPDXRef-${hashPart(p)}`;
const spdxInputId = (id: string): string => `SPDXRef-flake-input-${spdxIdPart(id)}`;

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  packageFileName?: string;
  downloadLocation: string;
  filesAnalyzed: false;
  checksums?: { algorithm: 'SHA256'; checksumValue: string }[];
  sourceInfo?: string;
  primaryPackagePurpose?: 'CONTAINER' | 'SOURCE';
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: typeof SPDX_DOCUMENT;
  name: string;
  documentNamespace: string;
  comment: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  relationships: { spdxElementId: string; relationshipType: 'DESCRIBES' | 'CONTAINS' | 'DEPENDS_ON' | 'BUILD_DEPENDENCY_OF'; relatedSpdxElement: string }[];
}

function spdxSource(SPDXID: string, name: string, s: LockedSource): SpdxPackage {
  return {
    SPDXID,
    name,
    ...(s.rev ? { versionInfo: s.rev } : {}),
    downloadLocation: fetchLocation(s.attrs) ?? 'NOASSERTION',
    filesAnalyzed: false,
    ...(s.narHash ? { checksums: [{ algorithm: 'SHA256' as const, checksumValue: hex(s.narHash) }] } : {}),
    sourceInfo: `Nix flake source, locked as ${s.url}`,
    primaryPackagePurpose: 'SOURCE',
  };
}

/**
 * The image is a CONTAINER package, described by the document (as are the
 * closure's roots) and CONTAINing every store path; store paths DEPEND_ON
 * their references; the flake and its locked inputs are SOURCE packages, each
 * a BUILD_DEPENDENCY_OF what takes it as input (the flake: of the image).
 */
export function spdxDocument(f: SbomFacts): SpdxDocument {
  const packages: SpdxPackage[] = [
    {
      SPDXID: SPDX_IMAGE,
      name: f.image.name,
      versionInfo: f.image.tag,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: hex(f.image.digest) }],
      primaryPackagePurpose: 'CONTAINER',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: imagePurl(f.image) }],
    },
    ...f.closure.map((p): SpdxPackage => {
      const { name, version } = parseStoreName(baseName(p.path));
      return {
        SPDXID: spdxStoreId(p.path),
        name,
        ...(version !== undefined ? { versionInfo: version } : {}),
        packageFileName: p.path,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        checksums: [{ algorithm: 'SHA256', checksumValue: hex(p.narHash) }],
      };
    }),
  ];
  const rel = (a: string, type: SpdxDocument['relationships'][number]['relationshipType'], b: string) => ({
    spdxElementId: a,
    relationshipType: type,
    relatedSpdxElement: b,
  });
  const relationships = [
    rel(SPDX_DOCUMENT, 'DESCRIBES', SPDX_IMAGE),
    ...f.roots.map((r) => rel(SPDX_DOCUMENT, 'DESCRIBES', spdxStoreId(r))),
    ...f.closure.map((p) => rel(SPDX_IMAGE, 'CONTAINS', spdxStoreId(p.path))),
    ...f.closure.flatMap((p) => p.references.filter((r) => r !== p.path).map((r) => rel(spdxStoreId(p.path), 'DEPENDS_ON', spdxStoreId(r)))),
  ];
  if (f.flake) {
    packages.push(spdxSource(SPDX_FLAKE, f.flake.originalUrl, f.flake), ...f.flake.inputs.map((i) => spdxSource(spdxInputId(i.id), i.path, i)));
    relationships.push(
      rel(SPDX_FLAKE, 'BUILD_DEPENDENCY_OF', SPDX_IMAGE),
      ...f.flake.rootInputs.map((id) => rel(spdxInputId(id), 'BUILD_DEPENDENCY_OF', SPDX_FLAKE)),
      ...f.flake.inputs.flatMap((i) => i.inputs.map((id) => rel(spdxInputId(id), 'BUILD_DEPENDENCY_OF', spdxInputId(i.id)))),
    );
  }
  const name = `${f.image.name}:${f.image.tag}`;
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: SPDX_DOCUMENT,
    name,
    documentNamespace: `https://strata.dev/spdx/${encodeURIComponent(name)}-${documentUuid('spdx', f)}`,
    comment: 'Each store path of the image is a package; its checksum is the SHA-256 of its NAR serialisation (Nix narHash).',
    creationInfo: { created: timestamp(f.sourceDateEpoch), creators: [`Tool: strata-${f.strataVersion}`] },
    packages,
    relationships,
  };
}

// ---------------------------------------------------------------------------
// CycloneDX 1.6

interface CdxComponent {
  type: 'container' | 'library';
  'bom-ref': string;
  name: string;
  version?: string;
  scope?: 'excluded';
  hashes?: { alg: 'SHA-256'; content: string }[];
  purl?: string;
  externalReferences?: { type: 'vcs' | 'distribution'; url: string }[];
  properties?: { name: string; value: string }[];
}

export interface CycloneDxBom {
  bomFormat: 'CycloneDX';
  specVersion: '1.6';
  serialNumber: string;
  version: 1;
  metadata: { timestamp: string; tools: { components: { type: 'application'; name: string; version: string }[] }; component: CdxComponent };
  components: CdxComponent[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

const CDX_FLAKE = 'nix-flake';
const cdxInputRef = (id: string): string => `nix-flake-input:${id}`;

function cdxSource(ref: string, name: string, s: LockedSource): CdxComponent {
  const location = fetchLocation(s.attrs);
  return {
    type: 'library',
    'bom-ref': ref,
    name,
    ...(s.rev ? { version: s.rev } : {}),
    // Sources the image was built from, not parts of it.
    scope: 'excluded',
    ...(s.narHash ? { hashes: [{ alg: 'SHA-256' as const, content: hex(s.narHash) }] } : {}),
    ...(location ? { externalReferences: [{ type: location.startsWith('http') ? ('distribution' as const) : ('vcs' as const), url: location }] } : {}),
    properties: [{ name: 'nix:flake_url', value: s.url }],
  };
}

/**
 * The image is metadata.component; every store path is a library component
 * whose bom-ref is its path; the flake and its inputs are components with
 * scope "excluded" (built from, not shipped). Dependencies: the image on the
 * closure's roots and the flake, each path on its references, each flake
 * source on its inputs.
 */
export function cycloneDx(f: SbomFacts): CycloneDxBom {
  const purl = imagePurl(f.image);
  const components = f.closure.map((p): CdxComponent => {
    const { name, version, output } = parseStoreName(baseName(p.path));
    return {
      type: 'library',
      'bom-ref': p.path,
      name,
      ...(version !== undefined ? { version } : {}),
      hashes: [{ alg: 'SHA-256', content: hex(p.narHash) }],
      properties: [
        { name: 'nix:store_path', value: p.path },
        { name: 'nix:nar_size', value: String(p.narSize) },
        ...(output ? [{ name: 'nix:output', value: output }] : []),
      ],
    };
  });
  const dependencies = [
    { ref: purl, dependsOn: [...f.roots, ...(f.flake ? [CDX_FLAKE] : [])] },
    ...f.closure.map((p) => ({ ref: p.path, dependsOn: p.references.filter((r) => r !== p.path) })),
  ];
  if (f.flake) {
    components.push(cdxSource(CDX_FLAKE, f.flake.originalUrl, f.flake), ...f.flake.inputs.map((i) => cdxSource(cdxInputRef(i.id), i.path, i)));
    dependencies.push(
      { ref: CDX_FLAKE, dependsOn: f.flake.rootInputs.map(cdxInputRef) },
      ...f.flake.inputs.map((i) => ({ ref: cdxInputRef(i.id), dependsOn: i.inputs.map(cdxInputRef) })),
    );
  }
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${documentUuid('cyclonedx', f)}`,
    version: 1,
    metadata: {
      timestamp: timestamp(f.sourceDateEpoch),
      tools: { components: [{ type: 'application', name: 'strata', version: f.strataVersion }] },
      component: {
        type: 'container',
        'bom-ref': purl,
        name: f.image.name,
        version: f.image.tag,
        hashes: [{ alg: 'SHA-256', content: hex(f.image.digest) }],
        purl,
      },
    },
    components,
    dependencies,
  };
}

// ---------------------------------------------------------------------------
// SLSA provenance v1

interface ResourceDescriptor {
  name: string;
  uri: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: typeof BUILD_TYPE;
    externalParameters: { installable: string; flake?: string; system: string };
    internalParameters: { strataVersion: string; nixVersion: string };
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: { builder: { id: string }; metadata?: { invocationId: string } };
}

function resolved(name: string, s: LockedSource): ResourceDescriptor {
  const digest = sourceDigest(s);
  return {
    name,
    uri: s.url,
    ...(Object.keys(digest).length ? { digest } : {}),
    ...(s.lastModified !== undefined ? { annotations: { lastModified: s.lastModified } } : {}),
  };
}

/** The build's inputs are the flake (as locked) and every input of its lock file; a store path has none to resolve. */
export function slsaProvenance(f: SbomFacts): SlsaProvenance {
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: { installable: f.installable, ...(f.flake ? { flake: f.flake.url } : {}), system: f.system },
      internalParameters: { strataVersion: f.strataVersion, nixVersion: f.nixVersion },
      resolvedDependencies: f.flake ? [resolved('flake', f.flake), ...f.flake.inputs.map((i) => resolved(i.path, i))] : [],
    },
    runDetails: { builder: { id: f.builder.id }, ...(f.builder.invocationId ? { metadata: { invocationId: f.builder.invocationId } } : {}) },
  };
}

/**
 * The builder: in GitHub Actions the workflow that ran (GITHUB_WORKFLOW_REF
 * is `owner/repo/.github/workflows/file.yml@ref`) and the run attempt as the
 * invocation; anywhere else LOCAL_BUILDER, which vouches for nothing.
 */
export function builderFromEnv(env: NodeJS.ProcessEnv): Builder {
  const workflow = env.GITHUB_WORKFLOW_REF;
  if (env.GITHUB_ACTIONS !== 'true' || !workflow) return { id: LOCAL_BUILDER };
  const server = env.GITHUB_SERVER_URL || 'https://github.com';
  const run =
    env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT || '1'}`
      : undefined;
  return { id: `${server}/${workflow}`, ...(run ? { invocationId: run } : {}) };
}

// ---------------------------------------------------------------------------
// in-toto

export interface Subject {
  name: string;
  digest: Record<string, string>;
}

export interface Statement<P = unknown> {
  _type: 'https://in-toto.io/Statement/v1';
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

export function inTotoStatement<P>(subject: Subject[], predicateType: string, predicate: P): Statement<P> {
  return { _type: 'https://in-toto.io/Statement/v1', subject, predicateType, predicate };
}

/** The statement subject for an image: its name and manifest digest. */
export function imageSubject(name: string, digest: Digest): Subject {
  return { name, digest: { sha256: hex(digest) } };
}
