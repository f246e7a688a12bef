// The command line: each command parses its flags, calls the library and leaves
// errors to the one handler in main(), which prints one line and picks the exit code.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { build, type BuildRequest } from './build.js';
import { describeError, exitCodeFor, StrataError } from './errors.js';
import { DEFAULT_MAX_LAYERS, validateMaxLayers } from '../layers/plan.js';
import { parseDestination } from './reference.js';
import { STRATEGIES, type Strategy } from '../layers/strategy.js';

/** The version in package.json (dist/src/cli.js sits two levels below it). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

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

interface BuildFlags {
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
  maxLayers: string;
  layering: Strategy;
  cache: boolean;
  compression?: 'gzip' | 'zstd' | 'none';
  format: 'oci' | 'docker';
  sourceDateEpoch?: string;
  json?: boolean;
}

/** The options every image-making command shares (build, digest). */
function imageOptions(cmd: Command): Command {
  return cmd
    .option('-t, --tag <tag>', "tag (over the reference's, the description's, and latest)")
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
    .option('--max-layers <n>', 'at most this many layers (up to 127)', String(DEFAULT_MAX_LAYERS))
    .addOption(new Option('--layering <strategy>', 'how store paths share layers').choices([...STRATEGIES]).default('stable'))
    .addOption(new Option('--compression <kind>', 'layer compression (default gzip; none for docker-archive)').choices(['gzip', 'zstd', 'none']))
    .addOption(new Option('--format <format>', 'manifest format').choices(['oci', 'docker']).default('oci'))
    .option('--source-date-epoch <seconds>', 'time for created and every mtime (default $SOURCE_DATE_EPOCH, else 0)')
    .option('--no-cache', 'make every layer from the store (the cache is $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata)')
    .option('--json', 'print a JSON summary instead of the digest');
}

function request(installable: string, f: BuildFlags): BuildRequest {
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
    },
    maxLayers: validateMaxLayers(Number(f.maxLayers)),
    strategy: f.layering,
    cache: f.cache,
    ...(f.compression ? { compression: f.compression } : {}),
    format: f.format,
    sourceDateEpoch: sourceDateEpoch(f.sourceDateEpoch, process.env),
  };
}

function buildCommand(print: (s: string) => void): Command {
  return imageOptions(
    new Command('build')
      .description('build a flake output into the Nix store and write it as an OCI image')
      .argument('<installable>', 'flake reference (./examples/hello#default), store path, or result link')
      .requiredOption('-o, --output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]'),
  ).action(async (installable: string, f: BuildFlags) => {
    const r = await build(request(installable, f));
    const size = r.layers.reduce((n, l) => n + l.size, 0);
    process.stderr.write(`strata: wrote ${r.output} (${r.name}:${r.tag}, ${r.layers.length} layers, ${size} bytes)\n`);
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
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

export function program(print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Command {
  const p = new Command('strata')
    .description('Nix flake outputs to byte-identical OCI images, with no container runtime')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  p.addCommand(buildCommand(print).exitOverride());
  p.addCommand(digestCommand(print).exitOverride());
  return p;
}

export async function main(args: string[]): Promise<number> {
  try {
    await program().parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (help, version or a usage error).
      return e.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${describeError(e)}\n`);
    return exitCodeFor(e);
  }
}
