// Making bundles with @sigstore/sign: a key of the user's (no Fulcio, no Rekor,
// as `cosign sign --key --tlog-upload=false`), or keyless: an ephemeral key, a
// certificate from Fulcio for the OIDC identity, and the signature entered in
// Rekor (the witness), whose inclusion verify requires.
import { sign as cryptoSign, createPublicKey, type KeyObject } from 'node:crypto';
import { DSSEBundleBuilder, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, type Bundle, type Signer, type Witness } from '@sigstore/sign';
import { StrataError } from '../base/errors.js';
import { keyHint } from './keys.js';
import { IN_TOTO_PAYLOAD } from './media.js';

export type SigningIdentity = { kind: 'key'; key: KeyObject } | { kind: 'keyless'; token: string; fulcioURL: string; rekorURL: string };

/** @sigstore/sign's Signer over a private key in memory. */
class KeySigner implements Signer {
  private readonly publicKey: KeyObject;
  constructor(private readonly key: KeyObject) {
    this.publicKey = createPublicKey(key);
  }
  async sign(data: Buffer) {
    return {
      signature: cryptoSign('sha256', data, this.key),
      key: { $case: 'publicKey' as const, publicKey: this.publicKey.export({ type: 'spki', format: 'pem' }).toString(), hint: keyHint(this.publicKey) },
    };
  }
}

/** One per signing run: keyless, its ephemeral key signs every bundle of the run. */
export class BundleMaker {
  private readonly signer: Signer;
  private readonly witnesses: Witness[];
  constructor(private readonly identity: SigningIdentity) {
    if (identity.kind === 'key') {
      this.signer = new KeySigner(identity.key);
      this.witnesses = [];
    } else {
      this.signer = new FulcioSigner({ identityProvider: { getToken: async () => identity.token }, fulcioBaseURL: identity.fulcioURL });
      this.witnesses = [new RekorWitness({ rekorBaseURL: identity.rekorURL })];
    }
  }

  /** A bundle with a DSSE envelope of an in-toto statement. */
  statement(statement: Buffer): Promise<Bundle> {
    return this.run(() => new DSSEBundleBuilder({ signer: this.signer, witnesses: this.witnesses }).create({ data: statement, type: IN_TOTO_PAYLOAD }));
  }

  /** A bundle with a signature over `payload` itself (the legacy tag's form). */
  message(payload: Buffer): Promise<Bundle> {
    return this.run(() => new MessageSignatureBundleBuilder({ signer: this.signer, witnesses: this.witnesses }).create({ data: payload }));
  }

  /** @sigstore/sign's errors may quote the token (an unparsable one, whole): the message is scrubbed of it. */
  private async run(make: () => Promise<Bundle>): Promise<Bundle> {
    try {
      return await make();
    } catch (e) {
      const parts: string[] = [];
      for (let c: unknown = e; c instanceof Error && parts.length < 4; c = c.cause) parts.push(c.message);
      let why = parts.join(': ');
      if (this.identity.kind === 'keyless') why = why.split(this.identity.token).join('<token>');
      throw new StrataError(this.identity.kind === 'keyless' ? 'sigstore' : 'usage', `signing failed: ${why}`, { cause: e });
    }
  }
}
