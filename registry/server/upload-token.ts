// Upload session ids for registry storage: the upstream registry's own session
// (the path and query of its Location, which distribution rewrites with every
// chunk), the repository it belongs to and the bytes it holds, signed with the
// fleet's secret (HMAC-SHA256). Any replica holding the secret can continue a
// session another one started, and none keeps a table of them. The signature
// is what keeps a client from steering the replica elsewhere: a forged or
// altered id is BLOB_UPLOAD_UNKNOWN before anything is sent upstream, and the
// location is only ever a path on the upstream's own origin (upstream-store.ts).
// An id says when it was signed and is refused a day later (each chunk signs a
// new one, so only a session left idle that long is lost). Its payload is
// signed, not encrypted: the client can read the upstream's session path, as a
// client of the upstream itself would.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface UploadToken {
  /** The repository of serve the session belongs to. */
  repository: string;
  /** The upstream session: path and query below the upstream's origin. */
  location: string;
  /** Bytes the upstream holds, as last reported. */
  size: number;
}

/** Ids are URL path segments: base64url of the JSON, a dot, base64url of the MAC. Bounded so a path stays a path. */
const SHAPE = /^([A-Za-z0-9_-]{1,6000})\.([A-Za-z0-9_-]{43})$/;

/** Least secret a fleet may sign with: 32 bytes, as HMAC-SHA256's key length. */
export const MIN_SECRET_BYTES = 32;

/** How long an id stays good after it was signed; and how far ahead another replica's clock may be. */
export const MAX_AGE_SECONDS = 24 * 3600;
const CLOCK_SKEW_SECONDS = 300;

export class UploadTokens {
  constructor(
    private readonly secret: Buffer,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    if (secret.length < MIN_SECRET_BYTES) throw new Error(`the fleet secret has ${secret.length} bytes; it needs ${MIN_SECRET_BYTES} or more`);
  }

  /** A secret of this process only: sessions then stay with the replica that started them. */
  static ephemeral(): UploadTokens {
    return new UploadTokens(randomBytes(MIN_SECRET_BYTES));
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.secret).update('strata upload session\0').update(payload).digest();
  }

  sign(t: UploadToken): string {
    const payload = Buffer.from(JSON.stringify([t.repository, t.location, t.size, this.now()])).toString('base64url');
    if (!SHAPE.test(`${payload}.${'A'.repeat(43)}`))
      throw new Error(`the upstream's upload session path is too long to carry (${t.location.length} characters)`);
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** The session an id stands for, or undefined when it is not one this fleet signed. */
  verify(id: string): UploadToken | undefined {
    const m = SHAPE.exec(id);
    if (!m) return undefined;
    const mac = Buffer.from(m[2]!, 'base64url');
    const expected = this.mac(m[1]!);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    const parsed: unknown = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== 4) return undefined;
    const [repository, location, size, signed] = parsed as unknown[];
    const age = typeof signed === 'number' ? this.now() - signed : NaN;
    if (!(age <= MAX_AGE_SECONDS && age >= -CLOCK_SKEW_SECONDS)) return undefined;
    if (typeof repository !== 'string' || typeof location !== 'string' || !location.startsWith('/') || location.startsWith('//')) return undefined;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
    return { repository, location, size };
  }
}
