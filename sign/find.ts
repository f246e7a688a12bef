// Finding an image's signatures: the bundle referrers (referrers API, else the
// sha256-<hex> tag index) and the layers of cosign's legacy sha256-<hex>.sig
// image. A signature that cannot be read is kept with the reason, so that
// verify can say why nothing verified.
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import type { Digest } from '../base/digest.js';
import type { OciManifest } from '../oci/schema.js';
import { sha256 } from '../base/hash-tap.js';
import { getBlob, type Repository } from '../registry/blobs.js';
import { shortDigest } from '../base/digest.js';
import { getManifest } from '../registry/manifests.js';
import { listReferrers } from '../registry/referrers.js';
import { bundleOfLegacy } from './legacy.js';
import { BUNDLE_ANY, legacyTag, SIMPLE_SIGNING } from './media.js';

export interface FoundSignature {
  /** Where it was found, for messages: "referrer 1a2b3c4d5e6f" or "sha256-….sig layer 1". */
  where: string;
  bundle?: Bundle;
  /** The signed bytes, when the bundle holds only their digest (the legacy form). */
  artifact?: Buffer;
  /** Why it could not be read. */
  error?: string;
}

/** Bundles and payloads are a few KiB; anything much larger is not one. */
const MAX_BLOB = 4 * 2 ** 20;

async function readBlob(repo: Repository, digest: Digest): Promise<Buffer> {
  const body = await getBlob(repo, digest);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BLOB) {
      body.destroy();
      throw new Error(`blob ${shortDigest(digest)} is larger than 4 MiB`);
    }
    parts.push(c);
  }
  const bytes = Buffer.concat(parts);
  if (sha256(bytes) !== digest) throw new Error(`blob ${shortDigest(digest)} does not match its digest`);
  return bytes;
}

/** The manifest under `reference`, checked by getManifest against the spec's grammar (its digests are asked for next). */
async function manifestAt(repo: Repository, reference: string): Promise<OciManifest | undefined> {
  return (await getManifest(repo, reference))?.manifest;
}

async function readReferrer(repo: Repository, digest: Digest): Promise<FoundSignature> {
  const where = `referrer ${shortDigest(digest)}`;
  try {
    const layer = (await manifestAt(repo, digest))?.layers?.find((l) => BUNDLE_ANY.test(l.mediaType));
    if (!layer) return { where, error: 'the referrer has no bundle layer' };
    return { where, bundle: bundleFromJSON(JSON.parse((await readBlob(repo, layer.digest)).toString('utf8'))) };
  } catch (e) {
    return { where, error: `unreadable bundle: ${(e as Error).message}` };
  }
}

async function readLegacy(repo: Repository, subject: Digest): Promise<FoundSignature[]> {
  const tag = legacyTag(subject);
  const manifest = await manifestAt(repo, tag);
  const layers = (manifest?.layers ?? []).filter((l) => l.mediaType === SIMPLE_SIGNING);
  return Promise.all(
    layers.map(async (l, i) => {
      const where = `${tag} layer ${i + 1}`;
      try {
        const payload = await readBlob(repo, l.digest);
        return { where, bundle: bundleOfLegacy(payload, l.annotations ?? {}), artifact: payload };
      } catch (e) {
        return { where, error: `unreadable signature: ${(e as Error).message}` };
      }
    }),
  );
}

export async function findSignatures(repo: Repository, subject: Digest): Promise<FoundSignature[]> {
  const { manifests } = await listReferrers(repo, subject);
  const bundles = manifests.filter((d) => d.artifactType !== undefined && BUNDLE_ANY.test(d.artifactType));
  return [...(await Promise.all(bundles.map((d) => readReferrer(repo, d.digest)))), ...(await readLegacy(repo, subject))];
}
