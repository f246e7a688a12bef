// Validators for what `strata sbom` writes, used by the unit and integration tests.
//   - CycloneDX 1.6: the official JSON schema (bom-1.6, strict variant) as the
//     npm package @cyclonedx/cyclonedx-library ships it, run by ajv.
//   - SPDX 2.3: no npm package ships its JSON schema, so this is zod written from
//     spdx/spdx-spec schemas/spdx-schema.json (SPDX 2.3.1): the required fields,
//     the patterns and enums of the fields Strata writes, and no unknown fields
//     (the schema's additionalProperties: false), plus the spec's rules the
//     schema cannot say: unique SPDX ids, relationships between known ids, a
//     DESCRIBES, no '#' in the namespace.
//   - in-toto Statement v1 and SLSA provenance v1: zod from the field tables of
//     in-toto/attestation spec/v1 (statement.md, resource_descriptor.md,
//     digest_set.md) and slsa.dev/spec/v1.0/provenance.
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { z } from 'zod';

const cdx16 = new Validation.JsonStrictValidator(Spec.Version.v1dot6);

/** The schema's complaints about a CycloneDX 1.6 BOM, or null when it is valid. */
export async function cycloneDxErrors(bom: unknown): Promise<unknown> {
  return cdx16.validate(JSON.stringify(bom));
}

const spdxDate = z.string().regex(/^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]|23:59:60)Z$/);
const spdxId = z.string().regex(/^SPDXRef-[a-zA-Z0-9.-]+$/);
const checksum = z
  .object({
    algorithm: z.enum([
      'SHA1',
      'BLAKE3',
      'SHA3-384',
      'SHA256',
      'SHA384',
      'BLAKE2b-512',
      'BLAKE2b-256',
      'SHA3-512',
      'MD2',
      'ADLER32',
      'MD4',
      'SHA3-256',
      'BLAKE2b-384',
      'SHA512',
      'MD6',
      'MD5',
      'SHA224',
    ]),
    checksumValue: z.string().regex(/^[0-9a-fA-F]+$/),
  })
  .strict();
/** Spec 2.3 §7.7: NONE, NOASSERTION, or a URL, optionally a VCS one (`git+https://host/path@rev`). */
const downloadLocation = z.string().regex(/^(NONE|NOASSERTION|((git|hg|svn|bzr)\+)?(https?|ssh|svn|sftp|ftp|git):\/\/\S+)$/);
const spdxPackage = z
  .object({
    SPDXID: spdxId,
    name: z.string().min(1),
    downloadLocation,
    versionInfo: z.string().optional(),
    packageFileName: z.string().optional(),
    filesAnalyzed: z.boolean().optional(),
    checksums: z.array(checksum).optional(),
    sourceInfo: z.string().optional(),
    primaryPackagePurpose: z
      .enum(['OTHER', 'INSTALL', 'ARCHIVE', 'FIRMWARE', 'APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'SOURCE', 'DEVICE', 'OPERATING-SYSTEM', 'FILE'])
      .optional(),
    externalRefs: z
      .array(
        z
          .object({
            referenceCategory: z.enum(['OTHER', 'PERSISTENT-ID', 'PERSISTENT_ID', 'SECURITY', 'PACKAGE-MANAGER', 'PACKAGE_MANAGER']),
            referenceType: z.string(),
            referenceLocator: z.string().regex(/^\S+$/),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();
const spdxDocumentSchema = z
  .object({
    spdxVersion: z.literal('SPDX-2.3'),
    dataLicense: z.literal('CC0-1.0'),
    SPDXID: z.literal('SPDXRef-DOCUMENT'),
    name: z.string().min(1),
    documentNamespace: z
      .string()
      .url()
      .refine((u) => !u.includes('#'), 'the namespace must not contain #'),
    comment: z.string().optional(),
    creationInfo: z.object({ created: spdxDate, creators: z.array(z.string().regex(/^(Tool|Organization|Person): \S/)).min(1) }).strict(),
    packages: z.array(spdxPackage),
    relationships: z.array(
      z
        .object({
          spdxElementId: z.string(),
          relationshipType: z.enum([
            'DESCRIBES',
            'CONTAINS',
            'DEPENDS_ON',
            'BUILD_DEPENDENCY_OF',
            'DEPENDENCY_OF',
            'RUNTIME_DEPENDENCY_OF',
            'GENERATED_FROM',
            'OTHER',
          ]),
          relatedSpdxElement: z.string(),
        })
        .strict(),
    ),
  })
  .strict()
  .superRefine((d, ctx) => {
    const ids = d.packages.map((p) => p.SPDXID);
    const known = new Set([d.SPDXID, ...ids]);
    if (known.size !== ids.length + 1) ctx.addIssue({ code: 'custom', message: 'SPDX ids are not unique' });
    for (const r of d.relationships) {
      for (const id of [r.spdxElementId, r.relatedSpdxElement])
        if (!known.has(id)) ctx.addIssue({ code: 'custom', message: `relationship names unknown element ${id}` });
    }
    if (!d.relationships.some((r) => r.spdxElementId === d.SPDXID && r.relationshipType === 'DESCRIBES'))
      ctx.addIssue({ code: 'custom', message: 'the document DESCRIBES nothing' });
  });

/** Where an SPDX 2.3 document breaks the spec's JSON schema or its rules, or null. */
export function spdxErrors(doc: unknown): string | null {
  const r = spdxDocumentSchema.safeParse(doc);
  return r.success ? null : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

const hex = z.string().regex(/^[0-9a-f]+$/);
/** digest_set.md: the standard algorithms are lowercase hex; at least one entry. */
const digestSet = z.record(z.string(), hex).refine((d) => Object.keys(d).length > 0, 'empty digest set');
/** resource_descriptor.md: at least one of uri, digest, content. */
const resourceDescriptor = z
  .object({
    name: z.string().optional(),
    uri: z.string().optional(),
    digest: digestSet.optional(),
    content: z.string().optional(),
    downloadLocation: z.string().optional(),
    mediaType: z.string().optional(),
    annotations: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((r) => r.uri !== undefined || r.digest !== undefined || r.content !== undefined, 'a resource descriptor needs uri, digest or content');
const typeUri = z.string().url();

const statementSchema = z
  .object({
    _type: z.literal('https://in-toto.io/Statement/v1'),
    subject: z.array(z.object({ name: z.string(), digest: digestSet }).strict()).min(1),
    predicateType: typeUri,
    predicate: z.record(z.string(), z.unknown()),
  })
  .strict();

const slsaSchema = z
  .object({
    buildDefinition: z
      .object({
        buildType: typeUri,
        externalParameters: z.record(z.string(), z.unknown()),
        internalParameters: z.record(z.string(), z.unknown()).optional(),
        resolvedDependencies: z.array(resourceDescriptor).optional(),
      })
      .strict(),
    runDetails: z
      .object({
        builder: z
          .object({ id: typeUri, version: z.record(z.string(), z.string()).optional(), builderDependencies: z.array(resourceDescriptor).optional() })
          .strict(),
        metadata: z
          .object({ invocationId: z.string().optional(), startedOn: z.string().datetime().optional(), finishedOn: z.string().datetime().optional() })
          .strict()
          .optional(),
        byproducts: z.array(resourceDescriptor).optional(),
      })
      .strict(),
  })
  .strict();

function issues(r: z.SafeParseReturnType<unknown, unknown>): string | null {
  return r.success ? null : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

export function statementErrors(s: unknown): string | null {
  return issues(statementSchema.safeParse(s));
}

export function slsaErrors(p: unknown): string | null {
  return issues(slsaSchema.safeParse(p));
}
