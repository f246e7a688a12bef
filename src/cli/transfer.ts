// push, copy and pull share one path: any source to any destination (transfer).
import type { Digest } from '../../base/digest.js';
import { StrataError } from '../../base/errors.js';
import { writeFileAtomic } from '../../base/fs.js';
import { parseSystem } from '../../oci/platform.js';
import { isValidTag, parseDestination, type Reference } from '../../oci/reference.js';
import { build, type BuildResult } from '../build.js';
import { copyImage, repositoryOf, type CopyResult } from '../copy.js';
import { signThenTag } from '../publish.js';
import { registryOptions, type RegistryFlags } from './access-flags.js';
import { request, type BuildFlags } from './image-flags.js';
import { prepareSigning, type SigningFlags } from './sign.js';

export type TransferFlags = Omit<BuildFlags, 'tag'> & RegistryFlags & SigningFlags & { tag?: string[]; sign?: boolean; byDigest?: boolean };

/**
 * Any source to any destination: a Nix installable is built (and pushed as it
 * is made); an image is copied byte for byte. With --sign, signing is checked
 * before anything is pushed, and the tags are written only once the pushed
 * digest is signed (publish.ts).
 */
export async function transfer(source: Reference, sourceText: string, destination: string, f: TransferFlags, print: (s: string) => void): Promise<void> {
  // Every reference is checked before any work: a bad --tag must not surface after the uploads.
  for (const t of f.tag ?? [])
    if (!isValidTag(t))
      throw new StrataError('reference', `--tag '${t}' is not a valid tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')`);
  const signPushed = f.sign ? await prepareSigning(f) : undefined;
  const holdTags = signPushed ? { holdTags: true } : {};
  const { reg, progress } = await registryOptions(f);
  let result: BuildResult | CopyResult;
  // What the summary line reports: the manifest's digest and the blobs moved.
  let digest: Digest;
  let pushed: { bytes: number; blobs: { digest: Digest; size: number; action: string }[] } | undefined;
  const dst = parseDestination(destination);
  // To a registry, the reference's own tag and every --tag (push app:1.2 --tag latest writes both, as index does).
  const own = dst.transport === 'docker' ? dst.ref.tag : undefined;
  const tags = own && f.tag?.length ? [...new Set([own, ...f.tag])] : (f.tag ?? []);
  try {
    if (source.transport === 'nix') {
      result = await build({
        ...request(sourceText, { ...f, tag: tags[0], output: destination }),
        extraTags: tags.slice(1),
        ...(f.byDigest ? { byDigest: true } : {}),
        ...holdTags,
        registry: reg,
        ...(f.reuseFrom ? { reuseFrom: f.reuseFrom } : {}),
      });
      // A docker-archive's result is named by its config digest (the image ID); a registry's by the manifest.
      digest = dst.transport === 'docker' ? result.manifestDigest : result.digest;
      pushed = result.pushed;
    } else {
      if (f.from) throw new StrataError('usage', `--from is for building a Nix installable; ${sourceText} is an image, copied as it is`);
      const platform = f.platform ?? f.system;
      result = await copyImage({
        source,
        destination: dst,
        tags,
        ...(platform ? { platform: parseSystem(platform).platform } : {}),
        ...(f.byDigest ? { byDigest: true } : {}),
        ...holdTags,
        registry: reg,
      });
      digest = result.digest;
      pushed = { bytes: result.bytes, blobs: result.blobs };
    }
  } finally {
    progress.close();
  }
  if (pushed && !f.quiet) {
    const count = (a: string) => pushed.blobs.filter((b) => b.action === a).length;
    const mountedBytes = pushed.blobs.filter((b) => b.action === 'mounted' && b.size > 0).reduce((n, b) => n + b.size, 0);
    const parts = ['uploaded', 'downloaded', 'copied', 'mounted', 'exists']
      .filter((a) => count(a) > 0)
      .map((a) => `${count(a)} ${a === 'exists' ? 'already there' : a === 'mounted' ? `mounted (${mountedBytes} bytes)` : a}`);
    process.stderr.write(
      `strata: ${result.output} ${digest} (${pushed.blobs.length} blobs: ${parts.join(', ') || 'none'}; ${pushed.bytes} bytes transferred)\n`,
    );
  }
  if (signPushed && dst.transport === 'docker') {
    await signThenTag(repositoryOf(dst.ref, reg.session), digest, result.tags ?? [], (d) => signPushed(dst.ref, d, reg.session));
  }
  // Last, as the tags: a digest file names only what the command finished (signed, with --sign).
  if (f.digestFile) await writeFileAtomic(f.digestFile, digest);
  print(f.json ? JSON.stringify(result, null, 2) : digest);
}
