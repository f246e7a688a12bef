// The JSON bodies the distribution spec defines, as schemas: a check validates
// what a registry sends before it reads it, and gets typed values back. The
// OCI image JSON it sends (a manifest, the referrers API's index) is checked
// with Strata's own schemas in oci/schema.ts, not copies of them.
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
