// An image in a registry in the one model (image/model.ts): the manifest is
// fetched and checked now, blobs are streamed when a sink opens them (a range
// with a Range request, so an upload of a copied blob can resume).
import { Readable } from 'node:stream';
import { deferredStream } from '../base/deferred-stream.js';
import { StrataError } from '../base/errors.js';
import { cutAt, imageFrom, readChecked, tooLongError } from '../image/source.js';
import { rangeOf, type Blob, type ByteRange, type ImageOrIndex } from '../image/model.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { DockerReference } from '../oci/reference.js';
import { pullScope, type Repository } from './blobs.js';
import { shortDigest } from '../base/digest.js';
import { getManifest } from './manifests.js';

/**
 * A range of the blob's bytes, as a stream that exists before the request is
 * made; cut one byte past the size its descriptor declares.
 */
function openRemote(repo: Repository, d: Descriptor, range: ByteRange | undefined, where: string): Readable {
  const { start, length, toEnd } = rangeOf(range, d.size);
  const partial = start > 0 || !toEnd;
  if (length === 0 && !toEnd) return Readable.from([]);
  return deferredStream(async () => {
    const res = await repo.session.request({
      method: 'GET',
      path: `/v2/${repo.name}/blobs/${d.digest}`,
      headers: partial ? { range: `bytes=${start}-${toEnd ? '' : start + length - 1}` } : {},
      scopes: [pullScope(repo.name)],
      step: `download of blob ${shortDigest(d.digest)} from ${repo.session.registry}/${repo.name}`,
      expect: partial ? [206] : [200],
    });
    return cutAt(res.body, length, () => tooLongError(d, where, 'registry'));
  });
}

/** A blob of a repository, streamed when opened. */
export function registryBlob(repo: Repository, d: Descriptor, where = `${repo.session.registry}/${repo.name}`): Blob {
  return { descriptor: d, open: (range) => openRemote(repo, d, range, where), mountFrom: { registry: repo.session.registry, repository: repo.name } };
}

export async function readRegistryImage(repo: Repository, ref: DockerReference, platform?: Platform): Promise<ImageOrIndex> {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const where = `${repo.session.registry}/${repo.name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  const top = await getManifest(repo, reference);
  if (!top) throw new StrataError('reference', `${where}: no such image in the registry`);
  const blob = (d: Descriptor): Blob => registryBlob(repo, d, where);
  const readBlob = async (d: Descriptor): Promise<Buffer> => {
    // Child manifests of an index are manifests, not blobs.
    if (d.mediaType.includes('manifest') || d.mediaType.includes('index')) {
      const m = await getManifest(repo, d.digest);
      if (!m) throw new StrataError('reference', `${where}: the index names ${d.digest}, which the registry does not have`);
      return m.bytes;
    }
    return readChecked(openRemote(repo, d, undefined, where), d, where, 'registry');
  };
  return imageFrom(top, readBlob, blob, { where: `${repo.session.registry}/${repo.name}`, code: 'registry' }, platform);
}
