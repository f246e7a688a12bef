// The distribution spec's error codes and the one error type handlers throw:
// the app's error handler turns it into the spec's body,
// {"errors":[{"code","message","detail"}]}, with its status.

/** The codes the spec allows (distribution-spec, "Error Codes"). */
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

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 413 | 416 | 429 | 500 | 502 | 503;

export class RegistryError extends Error {
  constructor(
    readonly status: ErrorStatus,
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
    /** Extra response headers (WWW-Authenticate on a 401, Range on a 416). */
    readonly headers: Record<string, string> = {},
    /** Further errors of the same answer (the spec wants one per unknown blob of a manifest). */
    readonly more: ErrorEntry[] = [],
  ) {
    super(message);
    this.name = 'RegistryError';
  }

  body(): { errors: ErrorEntry[] } {
    return { errors: [{ code: this.code, message: this.message, ...(this.detail !== undefined ? { detail: this.detail } : {}) }, ...this.more] };
  }
}

export interface ErrorEntry {
  code: ErrorCode;
  message: string;
  detail?: unknown;
}

export const blobUnknown = (digest: string) => new RegistryError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', { digest });
export const manifestUnknown = (reference: string) => new RegistryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown', { reference });
export const uploadUnknown = (id: string) => new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { id });
export const nameUnknown = (name: string) => new RegistryError(404, 'NAME_UNKNOWN', 'repository name not known to registry', { name });
export const digestInvalid = (message: string, digest?: string) =>
  new RegistryError(400, 'DIGEST_INVALID', message, digest !== undefined ? { digest } : undefined);
export const manifestInvalid = (message: string, status: 400 | 413 = 400) => new RegistryError(status, 'MANIFEST_INVALID', message);
