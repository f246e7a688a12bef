// An image in a registry as a SourceImage (image/source.ts): the manifest is
// fetched and checked now, blobs are streamed when a sink opens them (from an
// offset with a Range request, so an upload of a copied blob can resume).
import { PassThrough, type Readable } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { cutAt, imageFrom, readChecked, tooLongError, type SourceBlob, type SourceImage } from '../image/source.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { DockerReference } from '../oci/reference.js';
import { pullScope, shortDigest, type Repository } from './blobs.js';
import { getManifest } from './manifests.js';

/**
 * The blob's bytes from `offset` on, as a stream that exists before the request
 * is made; cut one byte past the size its descriptor declares.
 */
function openRemote(repo: Repository, d: Descriptor, offset: number, where: string): Readable {
  const out = new PassThrough();
  void (async () => {
    const res = await repo.session.request({
      method: 'GET',
      path: `/v2/${repo.name}/blobs/${d.digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [pullScope(repo.name)],
      step: `download of blob ${shortDigest(d.digest)} from ${repo.session.registry}/${repo.name}`,
      expect: offset > 0 ? [206] : [200],
    });
    const body = cutAt(res.body, d.size - offset, () => tooLongError(d, where, 'registry'));
    body.on('error', (e) => out.destroy(e));
    out.on('close', () => body.destroy());
    body.pipe(out);
  })().catch((e: unknown) => out.destroy(e as Error));
  return out;
}

export async function readRegistryImage(repo: Repository, ref: DockerReference, platform?: Platform): Promise<SourceImage> {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const where = `${repo.session.registry}/${repo.name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  const top = await getManifest(repo, reference);
  if (!top) throw new StrataError('reference', `${where}: no such image in the registry`);
  const blob = (d: Descriptor): SourceBlob => ({ descriptor: d, open: (offset) => openRemote(repo, d, offset, where), mountFrom: { registry: repo.session.registry, repository: repo.name } });
  const readBlob = async (d: Descriptor): Promise<Buffer> => {
    // Child manifests of an index are manifests, not blobs.
    if (d.mediaType.includes('manifest') || d.mediaType.includes('index')) {
      const m = await getManifest(repo, d.digest);
      if (!m) throw new StrataError('reference', `${where}: the index names ${d.digest}, which the registry does not have`);
      return m.bytes;
    }
    return readChecked(openRemote(repo, d, 0, where), d, where, 'registry');
  };
  return imageFrom(top, readBlob, blob, { where: `${repo.session.registry}/${repo.name}`, code: 'registry' }, platform);
}
