// The flags of every command that makes an image from a Nix installable (build,
// digest, push, copy, diff) and their translation into a BuildRequest, in one place.
import { Command, Option } from 'commander';
import type { BuildRequest } from '../build.js';
import { StrataError } from '../../base/errors.js';
import { parseDestination } from '../../oci/reference.js';
import { validateMaxLayers } from '../../layers/plan.js';
import { STRATEGIES, type Strategy } from '../../layers/strategy.js';
import { COMPRESSIONS, MANIFEST_FORMATS, type Compression, type ManifestFormat } from '../../oci/layer-types.js';
import { defaults } from '../defaults.js';

export const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `--entrypoint '["a","b"]'` is a list; any other value is a one-element list. */
function argv(flag: string) {
  return (v: string): string[] => {
    if (!v.trimStart().startsWith('[')) return [v];
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new StrataError('usage', `${flag} '${v}' starts with '[' but is not a JSON list`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new StrataError('usage', `${flag} must be a JSON list of strings`);
    return parsed;
  };
}

export function sourceDateEpoch(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const v = flag ?? env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return 0;
  if (!/^\d+$/.test(v)) throw new StrataError('usage', `SOURCE_DATE_EPOCH '${v}' is not a whole number of seconds`);
  // tar headers here hold 32-bit signed seconds (tar-stream), so later times would wrap.
  if (Number(v) > 2 ** 31 - 1) throw new StrataError('usage', `SOURCE_DATE_EPOCH ${v} is after 2038-01-19, which the tar headers cannot hold`);
  return Number(v);
}

export interface BuildFlags {
  output?: string;
  tag?: string;
  system?: string;
  platform?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  label?: string[];
  annotation?: string[];
  port?: string[];
  from?: string;
  maxLayers: string;
  layering: Strategy;
  cache: boolean;
  compression?: Compression;
  format: ManifestFormat;
  sourceDateEpoch?: string;
  json?: boolean;
}

/** The options every image-making command shares (build, digest, push, copy). */
export function imageOptions(cmd: Command, multiTag = false, jsonHelp = 'print a JSON summary instead of the digest'): Command {
  return (
    multiTag
      ? cmd.option('-t, --tag <tag>', "tag to write (repeatable; default: the reference's, the description's, else latest)", collect)
      : cmd.option('-t, --tag <tag>', "tag (over the reference's, the description's, and latest)")
  )
    .option('--system <system>', 'Nix system to build for (x86_64-linux, aarch64-linux)')
    .option('--platform <platform>', 'OCI platform to build for (linux/amd64, linux/arm64)')
    .option('--entrypoint <cmd>', 'entrypoint: a path, or a JSON list', argv('--entrypoint'))
    .option('--cmd <cmd>', 'default arguments: one, or a JSON list', argv('--cmd'))
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'user[:group] or uid[:gid]')
    .option('-l, --label <KEY=VALUE>', 'config label (repeatable)', collect)
    .option('--annotation <KEY=VALUE>', 'manifest annotation (repeatable)', collect)
    .option('-p, --port <port>', 'exposed port, PORT[/tcp|udp] (repeatable)', collect)
    .option(
      '--from <image>',
      "base image whose layers go under the image's: docker://REF (docker:// optional), oci:DIR[:TAG] or oci-archive:FILE[:TAG] (over the description's fromImage)",
    )
    .option('--max-layers <n>', 'at most this many layers (up to 127)', String(defaults.maxLayers))
    .addOption(new Option('--layering <strategy>', 'how store paths share layers').choices([...STRATEGIES]).default(defaults.layering))
    .addOption(
      new Option(
        '--compression <kind>',
        `layer compression (default ${defaults.compression}; ${defaults.dockerArchiveCompression} for docker-archive)`,
      ).choices(COMPRESSIONS),
    )
    .addOption(new Option('--format <format>', 'manifest format').choices(MANIFEST_FORMATS).default(defaults.format))
    .option('--source-date-epoch <seconds>', 'time for created and every mtime (default $SOURCE_DATE_EPOCH, else 0)')
    .option('--no-cache', 'make every layer from the store (the cache is $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata)')
    .option('--json', jsonHelp);
}

export function request(installable: string, f: BuildFlags): BuildRequest {
  if (f.system && f.platform) throw new StrataError('usage', 'give --system or --platform, not both');
  const system = f.system ?? f.platform;
  return {
    installable,
    ...(f.output !== undefined ? { output: parseDestination(f.output) } : {}),
    ...(system ? { system } : {}),
    ...(f.tag ? { tag: f.tag } : {}),
    overrides: {
      ...(f.entrypoint && { entrypoint: f.entrypoint }),
      ...(f.cmd && { cmd: f.cmd }),
      ...(f.env && { env: f.env }),
      ...(f.workdir && { workdir: f.workdir }),
      ...(f.user && { user: f.user }),
      ...(f.label && { labels: f.label }),
      ...(f.annotation && { annotations: f.annotation }),
      ...(f.port && { ports: f.port }),
      ...(f.from && { fromImage: f.from }),
    },
    maxLayers: validateMaxLayers(Number(f.maxLayers)),
    strategy: f.layering,
    cache: f.cache,
    ...(f.compression ? { compression: f.compression } : {}),
    format: f.format,
    sourceDateEpoch: sourceDateEpoch(f.sourceDateEpoch, process.env),
  };
}
