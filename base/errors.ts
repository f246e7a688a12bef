// One error type with stable codes; the CLI turns any of them into one line on
// stderr and an exit code, so commands never call process.exit themselves.

export type StrataErrorCode =
  | 'usage' // bad flags or arguments
  | 'reference' // a reference that cannot be parsed, an unknown transport
  | 'nix-missing' // no nix on PATH
  | 'nix-failed' // evaluation or build failure, unknown attribute
  | 'nix-output' // nix printed something Strata cannot read
  | 'platform' // a system Strata cannot make an image for
  | 'description' // an invalid image description
  | 'store-corrupt' // store content does not match its NAR hash
  | 'output' // the destination cannot be written
  | 'registry' // a registry is unreachable, refused a request or sent bad content
  | 'auth' // credentials are missing, unreadable or refused
  | 'unsupported' // a valid request this version does not do
  | 'unverified' // no signature of the image verifies
  | 'sigstore'; // Fulcio, Rekor or the OIDC token service is unreachable or refused

export class StrataError extends Error {
  constructor(
    readonly code: StrataErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StrataError';
  }
}

const exitCodes: Record<StrataErrorCode, number> = {
  usage: 2,
  reference: 2,
  'nix-missing': 3,
  'nix-failed': 4,
  'nix-output': 4,
  platform: 2,
  description: 2,
  'store-corrupt': 5,
  output: 6,
  registry: 7,
  auth: 8,
  unsupported: 2,
  unverified: 1,
  sigstore: 9,
};

export function exitCodeFor(e: unknown): number {
  return e instanceof StrataError ? exitCodes[e.code] : 1;
}

/** One line for stderr: the cause, without a stack trace. */
export function describeError(e: unknown): string {
  if (e instanceof StrataError) return `strata: ${e.message}`;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    const first = e.message.split('\n')[0] ?? '';
    return `strata: ${code && !first.startsWith(code) ? `${code}: ` : ''}${first}`;
  }
  return `strata: ${String(e)}`;
}
