// `strata serve`: a registry over a directory, and flake outputs served on demand.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { StrataError } from '../../base/errors.js';
import { shownCacheUrl, type NixCache } from '../../nix/binary-cache.js';
import { readSecretKey } from '../../nix/cache-key.js';
import { validateMaxLayers } from '../../layers/plan.js';
import { STRATEGIES, type Strategy } from '../../layers/strategy.js';
import { COMPRESSIONS, type Compression } from '../../oci/layer-types.js';
import { defaultRoot } from '../../registry/server/layout.js';
import type { UpstreamImages } from '../bridge.js';
import { defaults } from '../defaults.js';
import { positiveInt } from './access-flags.js';
import { collect, sourceDateEpoch } from './image-flags.js';

interface ServeFlags {
  listen: string;
  root?: string;
  storage?: string;
  redirectBlobs?: boolean;
  fleetSecretFile?: string;
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
  nixCache?: string;
  nixCacheKey?: string;
}

/** A size in bytes, or with a KiB/MiB/GiB/TiB suffix (512MiB, 2GiB). */
function byteSize(flag: string, v: string): number {
  const m = v.match(/^(\d+)([KMGT]iB)?$/);
  if (!m) throw new StrataError('usage', `${flag} '${v}' is not a size (bytes, or with KiB, MiB, GiB or TiB: 2GiB)`);
  return Number(m[1]) * 1024 ** (m[2] ? 'KMGT'.indexOf(m[2][0]!) + 1 : 0);
}

/** --nix-cache URL and --nix-cache-key FILE: both or neither, the key read and checked now. */
function nixCacheOf(f: ServeFlags): NixCache | undefined {
  if (f.nixCache === undefined && f.nixCacheKey === undefined) return undefined;
  if (f.nixCache === undefined) throw new StrataError('usage', '--nix-cache-key goes with --nix-cache URL (the binary cache it signs for)');
  if (f.nixCacheKey === undefined) throw new StrataError('usage', '--nix-cache goes with --nix-cache-key FILE (the secret key its paths are signed with)');
  // A store URL: a bare path would be a local store, which nix copies to without signatures.
  if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(f.nixCache))
    throw new StrataError('usage', `--nix-cache '${f.nixCache}' is not a binary cache URL (file:///srv/nix-cache, https://…, s3://…)`);
  return { url: f.nixCache, keyFile: resolve(f.nixCacheKey), key: readSecretKey('--nix-cache-key', f.nixCacheKey) };
}

/** --image NAME=INSTALLABLE and --images-file FILE ({"NAME": "INSTALLABLE", …}) as one list of NAME=INSTALLABLE. */
function imagePairs(f: ServeFlags): string[] {
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
  return pairs;
}

/** With registry storage, the bridge's images are shared through the same upstream (and session as the store's): each bridged name under PREFIX. */
async function upstreamImages(storage: string): Promise<UpstreamImages> {
  const { parseStorageUrl, upstreamRepository } = await import('../../registry/server/upstream-store.js');
  const target = parseStorageUrl(storage);
  return { repository: (name) => upstreamRepository(target, name) };
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run an OCI distribution registry (push and pull) over a directory, or over an upstream registry (--storage)')
    .option('--listen <host:port>', 'address to listen on (port 0: any free port)', defaults.serve.listen)
    .option('--root <dir>', 'storage directory (default $XDG_DATA_HOME/strata/registry, else ~/.local/share/strata/registry)')
    .option(
      '--storage <docker://registry/prefix>',
      'keep everything in an upstream OCI registry under PREFIX instead of --root (replicas over one registry share it)',
    )
    .option('--redirect-blobs', 'with --storage: answer blob downloads with a redirect to the upstream (clients must be able to read it anonymously)')
    .option('--fleet-secret-file <file>', 'with --storage: a secret (32+ bytes) shared by every replica, so any of them continues an upload another started')
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
    .option(
      '--nix-cache <url>',
      'a Nix binary cache shared by replicas: builds substitute from it (accepting paths signed by the key of --nix-cache-key), and each built closure is signed and copied there',
    )
    .option('--nix-cache-key <file>', "with --nix-cache: the secret signing key (as 'nix key generate-secret' writes); its public half is trusted")
    .addOption(
      new Option('--log <format>', 'the server log on stderr: a JSON line per request, build and layer made')
        .choices(['json', 'none'])
        .default(defaults.serve.log),
    )
    .action(async (f: ServeFlags) => {
      const [{ NixBridge, parseImageMappings }, { createProgress }, { serveUntilStopped }, { jsonLogger, quietLogger }] = await Promise.all([
        import('../bridge.js'),
        import('../progress.js'),
        import('../serve.js'),
        import('../../registry/server/log.js'),
      ]);
      if (f.storage !== undefined && f.root !== undefined) throw new StrataError('usage', '--storage and --root are two places to keep the registry; give one');
      const images = parseImageMappings(imagePairs(f));
      const log = f.log === 'none' ? quietLogger : jsonLogger();
      // Checked whether or not an image is served: a bad value is refused, never ignored.
      const buildBackoffMs = positiveInt('--build-backoff', f.buildBackoff)! * 1000;
      const layerCacheBytes = byteSize('--layer-cache-size', f.layerCacheSize);
      const layerJobs = positiveInt('--layer-jobs', f.layerJobs)!;
      const nixCache = nixCacheOf(f);
      const upstream = f.storage !== undefined && images.size ? await upstreamImages(f.storage) : undefined;
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
              ...(nixCache ? { nixCache } : {}),
              ...(upstream ? { upstream } : {}),
            },
            () => {
              const progress = createProgress('plain');
              return { session: { progress }, push: { concurrency: defaults.concurrency, progress } };
            },
          )
        : undefined;
      // The key's name and public half only: the secret stays in its file, read by nix when it signs.
      if (bridge && nixCache)
        process.stderr.write(`strata: substituting from ${shownCacheUrl(nixCache)} (trusting ${nixCache.key.name}), built closures signed and copied there\n`);
      try {
        await serveUntilStopped({
          listen: f.listen,
          root: f.root ?? defaultRoot(),
          ...(f.storage !== undefined ? { storage: f.storage } : {}),
          ...(f.redirectBlobs ? { redirectBlobs: true } : {}),
          ...(f.fleetSecretFile !== undefined ? { fleetSecretFile: f.fleetSecretFile } : {}),
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
