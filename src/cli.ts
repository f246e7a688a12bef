// The command line: each command parses its flags, calls the library and leaves
// errors to the one handler in main(), which prints one line and picks the exit code.
import type { Digest } from '../base/digest.js';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { build, type BuildResult } from './build.js';
import { copyImage, repositoryOf, type CopyResult } from './copy.js';
import { signThenTag } from './publish.js';
import { createProgress } from './progress.js';
import { parseSystem } from '../oci/platform.js';
import { describeError, exitCodeFor, StrataError } from '../base/errors.js';
import { validateMaxLayers } from '../layers/plan.js';
import { isValidTag, parseDestination, parseSource, type Reference } from '../oci/reference.js';
import { writeFileAtomic } from '../base/fs.js';
import { positiveInt, registryFlags, registryOptions, type RegistryFlags } from './cli-access.js';
import { indexCommand } from './cli-index.js';
import { diffCommand } from './cli-diff.js';
import { STRATEGIES, type Strategy } from '../layers/strategy.js';
import { collectGarbage, serveUntilStopped } from './serve.js';
import { NixBridge, parseImageMappings } from './bridge.js';
import { jsonLogger, quietLogger } from '../registry/server/log.js';
import { defaultRoot } from '../registry/server/store.js';
import { sbomCommand } from './cli-sbom.js';
import { packageVersion } from './version.js';
import { defaults } from './defaults.js';
import { COMPRESSIONS, type Compression } from '../oci/layer-types.js';
import { checkSignFlags, keygenCommand, prepareSigning, signCommand, signingFlags, verifyCommand, type SigningFlags } from './cli-sign.js';
import { collect, imageOptions, request, sourceDateEpoch, type BuildFlags } from './cli-image.js';

function buildCommand(print: (s: string) => void): Command {
  return imageOptions(
    new Command('build')
      .description('build a flake output into the Nix store and write it as an OCI image')
      .argument('<installable>', 'flake reference (./examples/hello#default), store path, or result link')
      .requiredOption('-o, --output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://REF (pushed as it is made)'),
  ).action(async (installable: string, f: BuildFlags) => {
    const r = await build(request(installable, f));
    const size = r.layers.reduce((n, l) => n + l.size, 0);
    process.stderr.write(`strata: wrote ${r.output} (${r.name}:${r.tag}, ${r.layers.length} layers, ${size} bytes)\n`);
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
  });
}

type TransferFlags = Omit<BuildFlags, 'tag'> & RegistryFlags & SigningFlags & { tag?: string[]; sign?: boolean; byDigest?: boolean };

/**
 * Any source to any destination: a Nix installable is built (and pushed as it
 * is made); an image is copied byte for byte. With --sign, signing is checked
 * before anything is pushed, and the tags are written only once the pushed
 * digest is signed (publish.ts).
 */
async function transfer(source: Reference, sourceText: string, destination: string, f: TransferFlags, print: (s: string) => void): Promise<void> {
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

function pushCommand(print: (s: string) => void): Command {
  return signingFlags(
    registryFlags(
      imageOptions(
        new Command('push')
          .description('push a Nix installable (built and layered on the way) or an image (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker://REF) to a registry')
          .argument('<source>', 'flake reference, store path, result link, or an image reference')
          .argument('<destination>', 'REGISTRY/REPO[:TAG] (docker:// optional)'),
        true,
      ),
    ),
  )
    .option(
      '--sign',
      'sign the pushed image, then tag it (strata sign: with --key FILE, else keyless); checked before the first upload, and a failure writes no tag',
    )
    .option('--reuse-from <ref>', 'reuse matching layers of this image in the same registry (repeatable; the destination tag is always tried)', collect)
    .option('--by-digest', 'push the manifest by digest only and write no tag (for strata index to gather later)')
    .action(async (source: string, destination: string, f: TransferFlags) => {
      const dst = parseDestination(destination);
      if (dst.transport !== 'docker') throw new StrataError('usage', `push writes to a registry; for ${dst.transport}: use 'strata copy' or 'strata build -o'`);
      checkSignFlags(f);
      await transfer(parseSource(source), source, destination, f, print);
    });
}

function copyCommand(print: (s: string) => void): Command {
  return registryFlags(
    imageOptions(
      new Command('copy')
        .description(
          'copy an image from docker://REF (or a bare REGISTRY/REPO[:TAG|@DIGEST]), oci:DIR[:TAG] or oci-archive:FILE[:TAG] to any of those or docker-archive:FILE[:NAME:TAG] (a Nix installable as source is built)',
        )
        .argument('<source>', 'image reference or Nix installable')
        .argument('<destination>', 'image reference'),
      true,
    ),
  ).action(async (source: string, destination: string, f: TransferFlags) => transfer(parseSource(source), source, destination, f, print));
}

function pullCommand(print: (s: string) => void): Command {
  return registryFlags(
    new Command('pull')
      .description('pull an image from a registry into an OCI layout, an oci-archive or a docker-archive')
      .argument('<reference>', 'REGISTRY/REPO[:TAG|@DIGEST] (docker:// optional)')
      .requiredOption('-o, --output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]')
      .option('-t, --tag <tag>', "tag in the layout (default: the reference's, else latest)", collect)
      .option('--platform <platform>', 'only this platform of a multi-platform image (linux/amd64, x86_64-linux)')
      .option('--json', 'print a JSON summary (and JSON progress events on stderr)'),
    { uploads: false },
  ).action(async (reference: string, f: TransferFlags & { output: string }) => {
    const src = parseDestination(reference);
    if (src.transport !== 'docker') throw new StrataError('usage', `pull reads from a registry; for ${src.transport}: use 'strata copy'`);
    await transfer(src, reference, f.output, f, print);
  });
}

function digestCommand(print: (s: string) => void): Command {
  return imageOptions(
    new Command('digest')
      .description("print the manifest digest 'build -o oci:' would write, without writing an image (uses and fills the layer cache)")
      .argument('<installable>', 'flake reference, store path, or result link'),
  ).action(async (installable: string, f: BuildFlags) => {
    const r = await build(request(installable, { ...f, output: undefined }));
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
  });
}

interface ServeFlags {
  listen: string;
  root?: string;
  htpasswd?: string;
  accessFile?: string;
  readOnly?: boolean;
  allowAnonymousPush?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  image?: string[];
  imagesFile?: string;
  system?: string;
  compression?: Compression;
  maxLayers: string;
  layering: Strategy;
  sourceDateEpoch?: string;
  cache: boolean;
  buildWait: string;
  buildBackoff: string;
  layerCacheSize: string;
  layerJobs: string;
  log: 'json' | 'none';
}

/** A size in bytes, or with a KiB/MiB/GiB/TiB suffix (512MiB, 2GiB). */
function byteSize(flag: string, v: string): number {
  const m = v.match(/^(\d+)([KMGT]iB)?$/);
  if (!m) throw new StrataError('usage', `${flag} '${v}' is not a size (bytes, or with KiB, MiB, GiB or TiB: 2GiB)`);
  return Number(m[1]) * 1024 ** (m[2] ? 'KMGT'.indexOf(m[2][0]!) + 1 : 0);
}

/** --image NAME=INSTALLABLE and --images-file FILE ({"NAME": "INSTALLABLE", …}) as one map. */
function imageMappings(f: ServeFlags): Map<string, string> {
  const pairs = [...(f.image ?? [])];
  if (f.imagesFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(f.imagesFile, 'utf8'));
    } catch (e) {
      throw new StrataError('usage', `--images-file ${f.imagesFile}: ${(e as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
      throw new StrataError('usage', `--images-file ${f.imagesFile} must be a JSON object of repository names to installables`);
    }
    for (const [k, v] of Object.entries(parsed as Record<string, string>)) pairs.push(`${k}=${v}`);
  }
  return parseImageMappings(pairs);
}

function serveCommand(): Command {
  return new Command('serve')
    .description('run an OCI distribution registry (push and pull) over a directory')
    .option('--listen <host:port>', 'address to listen on (port 0: any free port)', defaults.serve.listen)
    .option('--root <dir>', 'storage directory (default $XDG_DATA_HOME/strata/registry, else ~/.local/share/strata/registry)')
    .option('--htpasswd <file>', 'users who may push and delete (bcrypt entries, as htpasswd -B writes); pulls stay anonymous')
    .option(
      '--access-file <file>',
      'with --htpasswd: who may pull, push and delete which repositories, as JSON {"anonymous": {"pull": ["*"]}, "users": {"alice": {"push": ["team-a/*"]}}}',
    )
    .option('--read-only', 'refuse every push and delete')
    .option('--allow-anonymous-push', 'let anyone push and delete (only with a loopback --listen)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (or chain); with --tls-key; both are read again on SIGHUP')
    .option('--tls-key <file>', "the PEM private key of --tls-cert's certificate (unencrypted)")
    .option('--image <name=installable>', 'serve repository NAME as the image of a flake output, built on the first pull (repeatable)', collect)
    .option('--images-file <file>', 'repositories to serve from Nix: a JSON object {"NAME": "INSTALLABLE", …}')
    .option('--system <system>', 'Nix system or OCI platform of the served images (default: this machine)')
    .addOption(new Option('--compression <kind>', 'layer compression of the served images').choices(COMPRESSIONS))
    .option('--max-layers <n>', 'at most this many layers per served image', String(defaults.maxLayers))
    .addOption(new Option('--layering <strategy>', 'how store paths share layers').choices([...STRATEGIES]).default(defaults.layering))
    .option('--source-date-epoch <seconds>', 'time for created and every mtime (default $SOURCE_DATE_EPOCH, else 0)')
    .option('--no-cache', 'make every layer from the store')
    .option(
      '--build-wait <seconds>',
      'how long a pull waits for a build before it gets 503 and Retry-After (the build goes on)',
      String(defaults.serve.buildWaitMs / 1000),
    )
    .option(
      '--build-backoff <seconds>',
      'how long a failed build is remembered (pulls get 503 at once, no build); doubles while it keeps failing, up to 15 minutes',
      String(defaults.serve.buildBackoffMs / 1000),
    )
    .option(
      '--layer-cache-size <size>',
      'disk kept for made layers, so range requests do not make a layer again (0: none)',
      `${defaults.serve.layerCacheBytes / 2 ** 30}GiB`,
    )
    .option('--layer-jobs <n>', 'at most this many layers of one image made at once (the rest wait)', String(defaults.serve.layerJobs))
    .addOption(
      new Option('--log <format>', 'the server log on stderr: a JSON line per request, build and layer made')
        .choices(['json', 'none'])
        .default(defaults.serve.log),
    )
    .action(async (f: ServeFlags) => {
      const images = imageMappings(f);
      const log = f.log === 'none' ? quietLogger : jsonLogger();
      // Checked whether or not an image is served: a bad value is refused, never ignored.
      const buildBackoffMs = positiveInt('--build-backoff', f.buildBackoff)! * 1000;
      const layerCacheBytes = byteSize('--layer-cache-size', f.layerCacheSize);
      const layerJobs = positiveInt('--layer-jobs', f.layerJobs)!;
      const bridge = images.size
        ? new NixBridge(
            images,
            {
              overrides: {},
              maxLayers: validateMaxLayers(Number(f.maxLayers)),
              strategy: f.layering,
              cache: f.cache,
              sourceDateEpoch: sourceDateEpoch(f.sourceDateEpoch, process.env),
              ...(f.compression ? { compression: f.compression } : {}),
              ...(f.system ? { system: f.system } : {}),
              buildWaitMs: positiveInt('--build-wait', f.buildWait)! * 1000,
              buildBackoffMs,
              layerCacheBytes,
              layerJobs,
              log,
            },
            () => {
              const progress = createProgress('plain');
              return { session: { progress }, push: { concurrency: defaults.concurrency, progress } };
            },
          )
        : undefined;
      try {
        await serveUntilStopped({
          listen: f.listen,
          root: f.root ?? defaultRoot(),
          ...(f.htpasswd ? { htpasswd: f.htpasswd } : {}),
          ...(f.accessFile ? { accessFile: f.accessFile } : {}),
          ...(f.readOnly ? { readOnly: true } : {}),
          ...(f.allowAnonymousPush ? { allowAnonymousPush: true } : {}),
          ...(f.tlsCert !== undefined ? { tlsCert: f.tlsCert } : {}),
          ...(f.tlsKey !== undefined ? { tlsKey: f.tlsKey } : {}),
          ...(bridge ? { bridge } : {}),
          log,
        });
      } finally {
        await bridge?.close();
      }
    });
}

function gcCommand(print: (s: string) => void): Command {
  return new Command('gc')
    .description("remove what no manifest of 'strata serve's storage uses: blobs, repository links, stale uploads")
    .option('--root <dir>', 'storage directory (default: the one strata serve uses)')
    .option('--grace <seconds>', 'keep whatever was written in the last SECONDS (pushes in progress)', String(defaults.gcGraceMs / 1000))
    .action(async (f: { root?: string; grace: string }) => {
      for (const line of await collectGarbage(f.root ?? defaultRoot(), positiveInt('--grace', f.grace, 0)! * 1000)) print(line);
    });
}

/** `exit` sets the code a command ends with when it succeeds in saying something other than yes (diff: 1, the images differ). */
export function program(print: (s: string) => void = (s) => process.stdout.write(`${s}\n`), exit: (code: number) => void = () => undefined): Command {
  const p = new Command('strata')
    .description('Nix flake outputs to byte-identical OCI images, with no container runtime')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  p.addCommand(buildCommand(print).exitOverride());
  p.addCommand(digestCommand(print).exitOverride());
  p.addCommand(diffCommand(print, exit).exitOverride());
  p.addCommand(pushCommand(print).exitOverride());
  p.addCommand(pullCommand(print).exitOverride());
  p.addCommand(copyCommand(print).exitOverride());
  p.addCommand(indexCommand(print).exitOverride());
  p.addCommand(serveCommand().exitOverride());
  p.addCommand(gcCommand(print).exitOverride());
  p.addCommand(sbomCommand(print).exitOverride());
  p.addCommand(keygenCommand(print).exitOverride());
  p.addCommand(signCommand(print).exitOverride());
  p.addCommand(verifyCommand(print).exitOverride());
  return p;
}

export async function main(args: string[]): Promise<number> {
  let code = 0;
  try {
    await program(undefined, (c) => (code = c)).parseAsync(args, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (help, version or a usage error).
      return e.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${describeError(e)}\n`);
    return exitCodeFor(e);
  }
}
