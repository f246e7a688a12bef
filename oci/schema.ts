// The OCI JSON Strata reads from places it does not control (a registry, an
// OCI layout, an archive, its own cache), as zod schemas written from the OCI
// image spec v1.1 (descriptor.md, manifest.md, image-index.md, config.md) and
// Docker's image manifest v2 schema 2. The descriptor grammar is written once
// here: a digest, size or media type becomes a path, a URL or an allocation
// only after it has passed. Every reader, strata serve and the conformance
// suite check OCI JSON with these (through oci/parse.ts); none writes its own.
import { z } from 'zod';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, OciLayoutFile, Platform } from './types.js';

export type Sha256Digest = `sha256:${string}`;

/** descriptor.md's grammar: algorithm ":" encoded. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** The registered algorithms' encodings, exactly: lowercase hex of the hash's length. */
const REGISTERED: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };

/** A sha256 digest. Strata hashes with sha256 only, so another algorithm, even a registered one, is refused by name. */
export const digest = z
  .string()
  .superRefine((s, ctx) => {
    const colon = s.indexOf(':');
    const alg = s.slice(0, Math.max(colon, 0));
    const encoded = s.slice(colon + 1);
    const registered = REGISTERED[alg];
    if (alg === 'sha256' && registered!.test(encoded)) return;
    const wellFormed = colon > 0 && DIGEST_GRAMMAR.test(s) && (!registered || registered.test(encoded));
    ctx.addIssue({
      code: 'custom',
      message: wellFormed ? `is a ${alg} digest; Strata reads sha256 digests only` : `is not a ${registered ? alg : 'sha256'} digest`,
    });
  })
  .transform((s) => s as Sha256Digest);

/** A repository name, as the distribution spec's path grammar allows it (at most 255 characters with the host, checked by callers that know it). */
export const repositoryName = z
  .string()
  .max(255)
  .regex(/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/, 'is not a repository name');

/** RFC 6838 type/subtype, as the spec's JSON schema writes it. */
export const mediaType = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/, 'is not a media type (type/subtype)');

/** The largest size that is still a whole number to JavaScript: beyond it sizes cannot even be compared exactly. */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;
/** The largest manifest Strata reads, as distribution and the OCI spec's 4 MiB guidance. */
export const MAX_MANIFEST_BYTES = 4 * 2 ** 20;

/** A byte count: a non-negative whole number no larger than `max` (`what` says why the bound). */
export function sizeUpTo(max: number, what: string) {
  return z.number().int('is not a whole number').min(0, 'is negative').max(max, `is larger than ${what}`);
}
export const size = sizeUpTo(MAX_SIZE, `${MAX_SIZE}, the largest size Strata can count`);

export const annotations = z.record(z.string(), z.string());
export const urls = z.array(z.string().url('is not a URL'));
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'is not base64');

/** image-index.md's platform; Docker's manifest list adds `features`. */
export const platform = z
  .object({
    architecture: z.string(),
    os: z.string(),
    'os.version': z.string().optional(),
    'os.features': z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  })
  .passthrough();

/** descriptor.md. Unknown fields are kept (the spec says to ignore them, and a rewritten index must not drop them). */
export const descriptor = z
  .object({
    mediaType,
    digest,
    size,
    urls: urls.optional(),
    annotations: annotations.optional(),
    data: base64.optional(),
    artifactType: mediaType.optional(),
    platform: platform.optional(),
  })
  .passthrough();

/** A descriptor of a manifest, which is read whole: its size is bounded before anything is allocated. */
export const manifestDescriptor = descriptor.extend({ size: sizeUpTo(MAX_MANIFEST_BYTES, 'the 4 MiB a manifest may be') });

/** manifest.md; Docker's schema 2 manifest has the same shape without artifactType, subject and annotations. */
export const imageManifest = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: mediaType.optional(),
    artifactType: mediaType.optional(),
    config: descriptor,
    // May be empty: image-spec's JSON schema says minItems 1, but v1.1's artifact guidance and distribution take none.
    layers: z.array(descriptor),
    subject: manifestDescriptor.optional(),
    annotations: annotations.optional(),
  })
  .passthrough();

/** image-index.md; Docker's manifest list has the same shape. */
export const imageIndex = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: mediaType.optional(),
    artifactType: mediaType.optional(),
    manifests: z.array(manifestDescriptor),
    subject: manifestDescriptor.optional(),
    annotations: annotations.optional(),
  })
  .passthrough();

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Docker's image manifest v2 schema 2 and manifest list: their media type is required. */
export const dockerManifest = imageManifest.extend({ mediaType: z.literal(DOCKER_MANIFEST) });
export const dockerManifestList = imageIndex.extend({
  mediaType: z.literal(DOCKER_MANIFEST_LIST),
  manifests: z.array(manifestDescriptor.extend({ platform })),
});

/**
 * config.md, the parts that become digests and comparisons: rootfs's diff_ids,
 * and architecture and os when given (a config without them is refused where a
 * platform is needed, with its own message). The rest is kept as written
 * (Docker writes null for empty lists, which the spec does not allow and
 * Strata does not mind).
 */
export const imageConfig = z
  .object({
    architecture: z.string().optional(),
    os: z.string().optional(),
    // type is always "layers"; some hand-made configs leave it out, and nothing is read from it.
    rootfs: z.object({ type: z.literal('layers').optional(), diff_ids: z.array(digest) }).passthrough(),
  })
  .passthrough();

/** image-layout.md's index.json is an image index; oci-layout names its version. */
export const ociLayout = z.object({ imageLayoutVersion: z.string() }).passthrough();

/**
 * docker save's manifest.json (Docker's image/spec v1.2 "combined image"
 * format): per image its config file and layer tars, bottom first. The names
 * are looked up among the tar's members, never joined into a path.
 */
export const dockerArchiveManifest = z.array(
  z.object({ Config: z.string(), RepoTags: z.array(z.string()).nullish(), Layers: z.array(z.string()) }).passthrough(),
);

export type OciDescriptor = z.output<typeof descriptor>;
export type OciManifest = z.output<typeof imageManifest>;
export type OciIndex = z.output<typeof imageIndex>;
export type OciConfig = z.output<typeof imageConfig>;
export type DockerArchiveEntry = z.output<typeof dockerArchiveManifest>[number];

/**
 * The one source of truth, checked by the compiler: the interfaces of
 * oci/types.ts are what Strata WRITES (narrower: a media type always set, a
 * config's platform always named), and each must be something the schema
 * here READS, so Strata's own output passes its own readers and the tests'
 * validator. Where the two coincide (a descriptor, a platform) a value read is
 * also one Strata can write back unchanged. The interfaces are not inferred
 * from the schemas because readers keep unknown fields (passthrough) and
 * accept what the spec leaves optional, which a writer must not leave out.
 */
type Known<T> = T extends (infer U)[] ? Known<U>[] : T extends object ? { [K in keyof T as string extends K ? never : K]: Known<T[K]> } : T;
/** (passthrough's index signature dropped: an interface has none, and extra fields are the schema's to keep, not the writer's to add.) */
type Reads<S extends z.ZodTypeAny, Written extends Known<z.input<S>>> = Written;
type Writes<Type, Read extends Type> = Read;
export type WrittenIsRead = [
  Reads<typeof platform, Platform>,
  Reads<typeof descriptor, Descriptor>,
  Reads<typeof manifestDescriptor, Descriptor>,
  Reads<typeof imageManifest, ImageManifest>,
  Reads<typeof imageIndex, ImageIndex>,
  Reads<typeof imageConfig, ImageConfig>,
  Reads<typeof ociLayout, OciLayoutFile>,
  Writes<Descriptor, OciDescriptor>,
  Writes<Platform, z.output<typeof platform>>,
];
