// The seam between the registry server and images made on demand (from Nix,
// by another module): for the repositories a bridge handles, manifests, blobs
// and tags come from it instead of the store, and pushes are refused.
import type { Blob } from '../../image/model.js';
import { RegistryError, type ErrorCode, type ErrorStatus } from './errors.js';

export interface BridgedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface Bridge {
  handles(name: string): boolean;
  /** The manifest for a tag or digest, in a media type the client accepts (accept = parsed Accept header, empty = any); undefined: unknown. Throws BridgeError(status, code, message) for build failures. */
  manifest(name: string, reference: string, accept: string[]): Promise<BridgedManifest | undefined>;
  /** A blob of a served image, in the one image model (image/model.ts); undefined: unknown. */
  blob(name: string, digest: string): Promise<Blob | undefined>;
  tags(name: string): Promise<string[]>;
}

/**
 * A failure the bridge reports to the client as a registry error (a build that
 * failed: 503 UNKNOWN and Retry-After, say). The spec's codes are for 4xx
 * answers; for a 5xx, UNKNOWN, as distribution and the app's own 500 say.
 */
export class BridgeError extends RegistryError {
  constructor(status: ErrorStatus, code: ErrorCode | 'UNKNOWN', message: string, headers: Record<string, string> = {}) {
    super(status, code as ErrorCode, message, undefined, headers);
    this.name = 'BridgeError';
  }
}
