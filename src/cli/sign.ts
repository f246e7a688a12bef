// The signing commands (keygen, sign, verify), `push --sign` and `index --sign`: flags to
// requests for sign/, one line of outcome each. Listed in main.ts's COMMANDS.
// The Sigstore libraries take ~0.5 s to load, the registry client ~0.2 s: they are
// imported when a command signs or verifies, not by every command.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Digest } from '../../base/digest.js';
import type { SessionOptions } from '../../registry/session.js';
import type { Attestation } from '../../sign/sign-image.js';
import type { SigningIdentity } from '../../sign/signers.js';
import type { VerifyPolicy } from '../../sign/trust.js';
import { accessFlags, sessionOptions, type AccessFlags } from './access-flags.js';
import { StrataError } from '../../base/errors.js';
import { formatDockerReference, parseDestination, type DockerReference } from '../../oci/reference.js';
import { defaults } from '../defaults.js';

export interface SigningFlags {
  key?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  legacyTag?: boolean;
}

/** The flags that choose how to sign: shared by sign and push --sign. */
export function signingFlags(cmd: Command): Command {
  return cmd
    .option(
      '--key <file>',
      "sign with this ECDSA P-256 private key (PKCS#8 PEM, as strata keygen writes, or cosign's encrypted key with COSIGN_PASSWORD); without it, sign keyless with Fulcio and Rekor",
    )
    .option('--fulcio-url <url>', `keyless: the Fulcio certificate authority (default ${defaults.fulcioURL})`)
    .option('--rekor-url <url>', `keyless: the Rekor transparency log (default ${defaults.rekorURL})`)
    .option('--legacy-tag', "also write cosign's legacy signature image under the tag sha256-<hex>.sig");
}

function serviceURL(flag: string, v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new StrataError('usage', `${flag} '${v}' is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new StrataError('usage', `${flag} '${v}' is not an http(s) URL`);
  return v.replace(/\/+$/, '');
}

/** cosign's rule: COSIGN_PASSWORD when set (empty for none), else asked on the terminal without echo. */
async function keyPassword(path: string): Promise<string | undefined> {
  const text = (() => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return ''; // loadPrivateKey says what is wrong with the file
    }
  })();
  const { isCosignEncrypted } = await import('../../sign/cosign-key.js');
  if (process.env.COSIGN_PASSWORD !== undefined || !process.stdin.isTTY || !isCosignEncrypted(text)) return process.env.COSIGN_PASSWORD;
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  process.stderr.write(`Enter password for private key ${path}: `);
  // Echo nothing the user types; the prompt itself was written above.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

async function signingIdentity(f: SigningFlags): Promise<SigningIdentity> {
  if (f.key) {
    if (f.fulcioUrl || f.rekorUrl) throw new StrataError('usage', '--fulcio-url and --rekor-url are for keyless signing; with --key neither is used');
    const { loadPrivateKey } = await import('../../sign/keys.js');
    return { kind: 'key', key: loadPrivateKey(f.key, await keyPassword(f.key)) };
  }
  return {
    kind: 'keyless',
    fulcioURL: serviceURL('--fulcio-url', f.fulcioUrl ?? defaults.fulcioURL),
    rekorURL: serviceURL('--rekor-url', f.rekorUrl ?? defaults.rekorURL),
    token: await (await import('../../sign/oidc.js')).identityToken(process.env),
  };
}

function registryReference(s: string, command: string): DockerReference {
  const r = parseDestination(s);
  if (r.transport !== 'docker') throw new StrataError('usage', `${command} works on images in a registry (REGISTRY/REPO[:TAG|@DIGEST]), not ${r.transport}:`);
  return r.ref;
}

/** Signs `digest` in `ref`'s repository (and attaches `attestations`) and says where the signatures went. */
async function signAndReport(
  ref: DockerReference,
  digest: Digest,
  identity: SigningIdentity,
  f: SigningFlags,
  session: SessionOptions,
  attestations: Attestation[] = [],
): Promise<Digest> {
  const [{ signImage }, { repositoryOf }, { referrersTag }] = await Promise.all([
    import('../../sign/sign-image.js'),
    import('../copy.js'),
    import('../../registry/referrers.js'),
  ]);
  const r = await signImage(repositoryOf(ref, session), digest, { identity, attestations, ...(f.legacyTag ? { legacyTag: true } : {}) });
  const where = r.referrer.via === 'api' ? 'the referrers API' : `the tag ${referrersTag(digest)}`;
  process.stderr.write(
    `strata: signed ${ref.registry}/${ref.repository}@${digest} (${identity.kind}): bundle ${r.referrer.digest}, listed by ${where}${r.legacy ? `; legacy signature under ${r.legacy.tag}` : ''}\n`,
  );
  for (const [i, a] of attestations.entries()) process.stderr.write(`strata: attested ${a.predicateType}: bundle ${r.attestations[i]!.digest}\n`);
  return r.referrer.digest;
}

/** push and index: the signing flags say how to sign, so they need --sign. */
export function checkSignFlags(f: SigningFlags & { sign?: boolean }): void {
  if (!f.sign && (f.key || f.fulcioUrl || f.rekorUrl || f.legacyTag))
    throw new StrataError('usage', '--key, --fulcio-url, --rekor-url and --legacy-tag are for --sign');
}

/** Signs a pushed digest in `ref`'s repository, with the push's registry session. */
export type PushSigner = (ref: DockerReference, digest: Digest, session: SessionOptions) => Promise<void>;

/**
 * `push --sign` and `index --sign`, before the first upload: everything signing
 * needs is checked now, so a job that cannot sign pushes nothing (the key is
 * read; keyless, a token is got and checked and Fulcio and Rekor must answer).
 * That token is not the one used: a CI token lives minutes and a push can take
 * longer, so a fresh one is got just before signing.
 */
export async function prepareSigning(f: SigningFlags): Promise<PushSigner> {
  const checked = await signingIdentity(f);
  if (checked.kind === 'keyless') {
    const { checkKeylessServices } = await import('../../sign/preflight.js');
    await checkKeylessServices(checked.fulcioURL, checked.rekorURL);
  }
  return async (ref, digest, session) => {
    await signAndReport(ref, digest, checked.kind === 'key' ? checked : await signingIdentity(f), f, session);
  };
}

export function keygenCommand(print: (s: string) => void): Command {
  return new Command('keygen')
    .description('write an ECDSA P-256 key pair for strata sign --key: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM)')
    .option('-o, --output <prefix>', 'path prefix of the two files', 'strata')
    .action(async (f: { output: string }) => {
      const { generateKeyFiles } = await import('../../sign/keys.js');
      const files = generateKeyFiles(f.output);
      process.stderr.write(`strata: wrote ${files.privateKey} (private, keep it secret) and ${files.publicKey}\n`);
      print(files.publicKey);
    });
}

export function signCommand(print: (s: string) => void): Command {
  return accessFlags(
    signingFlags(
      new Command('sign')
        .description('sign an image in a registry: a Sigstore bundle stored as an OCI referrer of its manifest (cosign v2.6+/v3 find it)')
        .argument('<reference>', 'REGISTRY/REPO[:TAG|@DIGEST] (docker:// optional); a tag is resolved to the digest it has now'),
    ),
  )
    .option(
      '--attest <installable>',
      'also attach signed SPDX, CycloneDX and SLSA provenance attestations of this Nix installable, whose image must be the one signed',
    )
    .action(async (reference: string, f: SigningFlags & AccessFlags & { attest?: string }) => {
      const ref = registryReference(reference, 'sign');
      // The key or token first: a usage error costs no registry round trip.
      const identity = await signingIdentity(f);
      const session = await sessionOptions(f);
      const [{ repositoryOf }, { getManifest }] = await Promise.all([import('../copy.js'), import('../../registry/manifests.js')]);
      const repo = repositoryOf(ref, session);
      const image = await getManifest(repo, ref.digest ?? ref.tag ?? 'latest');
      if (!image) throw new StrataError('registry', `${formatDockerReference(ref)}: no such manifest in the registry`);
      const attestations = f.attest ? await attestationsOf(f.attest, image.digest, `${ref.registry}/${ref.repository}`) : [];
      print(await signAndReport(ref, image.digest, identity, f, session, attestations));
    });
}

/**
 * The SBOMs and provenance of `installable`, about `digest`: the installable's
 * image (at default options) must be that digest, or the attestations would
 * describe another image.
 */
async function attestationsOf(installable: string, digest: Digest, name: string): Promise<Attestation[]> {
  const { attestationsFor } = await import('../attestations.js');
  const a = await attestationsFor(installable, { subjectName: name });
  const made = `sha256:${a.provenance.subject[0]!.digest.sha256}`;
  if (made !== digest)
    throw new StrataError('usage', `--attest ${installable} makes the image ${made}, not ${digest}; attest the installable (and options) that made this image`);
  return [a.spdx, a.cyclonedx, a.provenance].map((s) => ({ predicateType: s.predicateType, statement: Buffer.from(JSON.stringify(s)) }));
}

interface VerifyFlags extends AccessFlags {
  key?: string;
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  tufMirror?: string;
  tufRoot?: string;
  json?: boolean;
}

async function verifyPolicy(f: VerifyFlags): Promise<VerifyPolicy> {
  const { loadTrustedRoot } = await import('../../sign/trust.js');
  const trustedRoot = f.trustedRoot ? loadTrustedRoot(f.trustedRoot) : undefined;
  if (f.key) {
    if (f.certificateIdentity || f.certificateOidcIssuer)
      throw new StrataError('usage', 'give --key, or --certificate-identity with --certificate-oidc-issuer, not both');
    const { loadPublicKey } = await import('../../sign/keys.js');
    return { kind: 'key', key: loadPublicKey(f.key), ...(trustedRoot ? { trustedRoot } : {}) };
  }
  if (!f.certificateIdentity || !f.certificateOidcIssuer)
    throw new StrataError('usage', 'verify needs --key PUB, or --certificate-identity and --certificate-oidc-issuer (keyless)');
  if (trustedRoot) {
    if (f.tufMirror || f.tufRoot) throw new StrataError('usage', 'give --trusted-root, or --tuf-mirror with --tuf-root, not both');
    return { kind: 'keyless', identity: f.certificateIdentity, issuer: f.certificateOidcIssuer, trustedRoot };
  }
  if (f.tufRoot && !f.tufMirror) throw new StrataError('usage', '--tuf-root is the initial root.json of the mirror --tuf-mirror names; give both');
  // Without a file: Sigstore's public-good root (or a private deployment's) through TUF, as cosign gets it.
  const { trustedRootViaTuf } = await import('../../sign/tuf.js');
  const viaTuf = await trustedRootViaTuf({ ...(f.tufMirror ? { mirrorURL: f.tufMirror } : {}), ...(f.tufRoot ? { rootPath: f.tufRoot } : {}) });
  return { kind: 'keyless', identity: f.certificateIdentity, issuer: f.certificateOidcIssuer, trustedRoot: viaTuf };
}

export function verifyCommand(print: (s: string) => void): Command {
  return accessFlags(
    new Command('verify')
      .description('verify the signatures of an image in a registry against a public key, or keyless against an identity; exit 0 verified, 1 not')
      .argument('<reference>', 'REGISTRY/REPO[:TAG|@DIGEST] (docker:// optional)')
      .option('--key <file>', 'public key (SPKI PEM) the signature must verify with')
      .option('--certificate-identity <id>', "keyless: the signer's identity in the Fulcio certificate (an email or URI), exactly")
      .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer that vouched for it, exactly')
      .option(
        '--trusted-root <file>',
        "Sigstore trusted root JSON (Fulcio CAs, Rekor and CT log keys); keyless without it, Sigstore's public-good root through TUF; with --key, it lets log entries be checked",
      )
      .option('--tuf-mirror <url>', "keyless: a private Sigstore deployment's TUF mirror to get the trusted root from (with --tuf-root)")
      .option('--tuf-root <file>', "keyless: that mirror's initial root.json")
      .option('--json', 'print one JSON document: verified, reference, digest, signatures or the reason'),
  ).action(async (reference: string, f: VerifyFlags) => {
    const ref = registryReference(reference, 'verify');
    const name = formatDockerReference(ref);
    const policy = await verifyPolicy(f);
    const [{ verifyImage }, { repositoryOf }] = await Promise.all([import('../../sign/verify-image.js'), import('../copy.js')]);
    let v: Awaited<ReturnType<typeof verifyImage>>;
    try {
      v = await verifyImage(repositoryOf(ref, await sessionOptions(f)), ref.digest ?? ref.tag ?? 'latest', policy);
    } catch (e) {
      // Not verified is an answer, for CI as JSON too; the exit code and stderr line stay the handler's.
      if (f.json && e instanceof StrataError && e.code === 'unverified')
        print(JSON.stringify({ verified: false, reference: name, policy: policy.kind, reason: e.message }, null, 2));
      throw e;
    }
    if (f.json) {
      print(JSON.stringify({ verified: true, reference: name, digest: v.digest, policy: policy.kind, signatures: v.verified }, null, 2));
      return;
    }
    for (const s of v.verified)
      print(`strata: verified ${ref.registry}/${ref.repository}@${v.digest}: ${s.signer} (${s.where}${s.logIndex ? `, Rekor log index ${s.logIndex}` : ''})`);
  });
}
