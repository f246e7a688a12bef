// The JSON bodies the spec defines, as schemas: a check validates what a
// registry sends before it reads it, and gets typed values back.
import { z } from 'zod';

/** The spec's error codes ("The code field MUST be one of the following"). */
export const ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;

export const ErrorBody = z.object({
  errors: z.array(z.object({ code: z.string(), message: z.string().optional(), detail: z.unknown().optional() })),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const TagList = z.object({
  name: z.string(),
  // Registries send null or leave it out for a repository without tags.
  tags: z.array(z.string()).nullish(),
});
export type TagList = z.infer<typeof TagList>;

export const Descriptor = z
  .object({
    mediaType: z.string(),
    digest: z.string(),
    size: z.number().int().nonnegative(),
    artifactType: z.string().optional(),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();
export type Descriptor = z.infer<typeof Descriptor>;

export const ImageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor),
});
export type ImageIndex = z.infer<typeof ImageIndex>;
