// The factors: each changes one thing from the baseline — `strata build CASE
// -o oci:DIR --no-cache` with the lockfile's Node, umask 022, no TZ, locale,
// SOURCE_DATE_EPOCH or STRATA_* variable, one worker per core — and reads the
// digests that gives. Every layer is made under the change (--no-cache), but
// for the cache factors, whose point is the cache.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type Case, hasDockerArchive, imageFlags } from './cases.js';
import type { Checkouts } from './examples.js';
import type { Measure } from './golden.js';
import { sha256File } from './hash.js';
import { NODE_22, NODE_24, nodeBinary, type PinnedNode } from './nodes.js';
import { fetchManifest, OCI_MANIFEST_ONLY, type PushTarget, type ServedManifest } from './registry.js';
import type { NodeVersions } from './report.js';
import { startServe } from './serve.js';
import { lastLine, repoRoot, runStrata } from './strata.js';

export interface Context {
  /** The baseline environment: Nix settings, a scratch layer cache, nothing that could change the bytes. */
  env: NodeJS.ProcessEnv;
  pinned: PinnedNode;
  nodes: NodeVersions;
  checkouts: Checkouts;
  /** A new empty directory, removed after the check. */
  scratch(): string;
  pushTarget(): Promise<PushTarget>;
  newestNode(): Promise<string>;
  /** Names this run's tags in a registry that outlives it. */
  runId: string;
}

/** One digest a factor reads: which golden value it is compared with, and where it comes from. */
export interface Reading {
  measure: Measure;
  source: string;
}

export interface Got {
  digest: string;
  /** Inconsistencies in what was written or served: each fails the check, whatever the digest. */
  problems?: string[];
}

export interface Factor {
  /** For --factor. */
  id: string;
  /** What it changed, for the report (asked after the run: the newest Node is known by then). */
  title(ctx: Context): string;
  readings: readonly Reading[];
  /** A control: it must change the digest, which shows the suite can fail. */
  control?: boolean;
  appliesTo?(c: Case): boolean;
  /** One Got per reading, in their order. */
  run(c: Case, ctx: Context): Promise<Got[]>;
}

export const BASELINE_UMASK = '022';
const MANY_THREADS = availableParallelism() * 2 + 1;

interface Perturbation {
  node?: string;
  /** An emulator Node runs under. */
  prefix?: string[];
  /** More arguments for build and digest. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  umask?: string;
  cwd?: string;
  /** The example's flake directory (default: the baseline's). */
  flake?: string;
  /** This layer cache, used, instead of --no-cache. */
  cache?: string;
}

/** The line that says why a run failed: Strata's or Nix's error, or an uncaught exception's message. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const error = lines.filter((l) => /^(strata: |error:|\w*Error\b)/.test(l)).at(-1);
  return (error ?? lines.at(-1) ?? '').slice(0, 500);
}

/** Runs build or digest of the case under `p`; returns the digest printed last. */
async function strata(command: 'build' | 'digest', c: Case, ctx: Context, extra: string[], p: Perturbation = {}): Promise<string> {
  const flake = p.flake ?? ctx.checkouts.baseline(c.example);
  const args = [command, `${flake}#${c.attr}`, ...extra, ...imageFlags(c), ...(p.args ?? []), ...(p.cache ? [] : ['--no-cache'])];
  const env = { ...ctx.env, ...p.env, ...(p.cache ? { STRATA_CACHE_DIR: p.cache } : {}) };
  const r = await runStrata(args, {
    node: p.node ?? ctx.pinned.bin,
    umask: p.umask ?? BASELINE_UMASK,
    cwd: p.cwd ?? repoRoot,
    env,
    ...(p.prefix ? { prefix: p.prefix } : {}),
  });
  if (r.code !== 0) throw new Error(`strata ${command} exited ${r.code}: ${errorLine(r.stderr)}`);
  const digest = lastLine(r.stdout);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`strata ${command} printed ${JSON.stringify(digest)}, not a digest`);
  return digest;
}

/** Builds into a fresh OCI layout; the layout must name, and hold, the manifest build printed. */
async function buildLayout(c: Case, ctx: Context, p: Perturbation = {}): Promise<Got> {
  const dir = join(ctx.scratch(), 'layout');
  const digest = await strata('build', c, ctx, ['-o', `oci:${dir}`], p);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests?: { digest: string }[] };
  const named = (index.manifests ?? []).map((m) => m.digest);
  if (named.length !== 1 || named[0] !== digest) return { digest, problems: [`index.json names ${named.join(', ') || 'nothing'}, not the printed digest`] };
  const blob = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  return { digest, problems: existsSync(blob) && sha256File(blob) === digest ? [] : ['the layout does not hold a manifest blob of that digest'] };
}

const LAYOUT: Reading = { measure: 'manifest', source: 'printed by build and named by the oci: layout' };

/** A factor that builds into an OCI layout as the baseline does, with one thing changed. */
function perturbed(
  id: string,
  title: (ctx: Context) => string,
  make: (c: Case, ctx: Context) => Perturbation | Promise<Perturbation>,
  more: Partial<Factor> = {},
): Factor {
  return { id, title, readings: [LAYOUT], ...more, run: async (c, ctx) => [await buildLayout(c, ctx, await make(c, ctx))] };
}

function served(m: ServedManifest): Got {
  return { digest: m.digest, problems: m.claimed && m.claimed !== m.digest ? [`its Docker-Content-Digest says ${m.claimed}`] : [] };
}

const warmCache: Factor = {
  id: 'cache-warm',
  title: () => 'a warm layer cache (after a first build into it)',
  readings: [
    { measure: 'manifest', source: 'printed by a second build and named by its layout' },
    { measure: 'manifest', source: 'printed by strata digest' },
  ],
  async run(c, ctx) {
    const cache = ctx.scratch();
    await buildLayout(c, ctx, { cache });
    const entries = join(cache, 'entries');
    const cold = existsSync(entries) && readdirSync(entries).length > 0 ? [] : ['the first build left the cache empty: nothing could come from it'];
    const second = await buildLayout(c, ctx, { cache });
    const digest = await strata('digest', c, ctx, [], { cache });
    return [
      { digest: second.digest, problems: [...cold, ...(second.problems ?? [])] },
      { digest, problems: cold },
    ];
  },
};

/** An archive output: the digest build prints, and the file's own sha256. */
function archive(transport: 'oci-archive' | 'docker-archive', printed: Reading, file: Measure, more: Partial<Factor> = {}): Factor {
  return {
    id: transport,
    title: () => `output ${transport}:`,
    readings: [printed, { measure: file, source: 'sha256 of the archive file' }],
    ...more,
    async run(c, ctx) {
      const path = join(ctx.scratch(), 'image.tar');
      const digest = await strata('build', c, ctx, ['-o', `${transport}:${path}`]);
      return [{ digest }, { digest: sha256File(path) }];
    },
  };
}

const ociArchive = archive('oci-archive', { measure: 'manifest', source: 'printed by build' }, 'ociArchive');
const dockerArchive = archive('docker-archive', { measure: 'config', source: 'printed by build (the image ID)' }, 'dockerArchive', {
  appliesTo: hasDockerArchive,
});

const dockerPush: Factor = {
  id: 'docker-push',
  title: () => 'output docker:// (pushed as it is made)',
  readings: [
    { measure: 'manifest', source: 'printed by build' },
    { measure: 'manifest', source: 'served by the registry for the tag' },
  ],
  async run(c, ctx) {
    const target = await ctx.pushTarget();
    const repo = `repro/${c.id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
    const tag = `run-${ctx.runId}`;
    const digest = await strata('build', c, ctx, ['-o', `docker://${target.host}/${repo}:${tag}`]);
    return [{ digest }, served(await fetchManifest(target.url, repo, tag))];
  },
};

const serveBridge: Factor = {
  id: 'serve-bridge',
  title: () => 'strata serve --image NAME=INSTALLABLE (built on the first pull)',
  readings: [{ measure: 'manifest', source: 'served for an OCI manifest GET' }],
  async run(c, ctx) {
    const flake = ctx.checkouts.baseline(c.example);
    const args = ['--image', `repro=${flake}#${c.attr}`, ...imageFlags(c), '--no-cache'];
    const server = await startServe({ root: ctx.scratch(), args, env: ctx.env, node: ctx.pinned.bin, cwd: repoRoot });
    try {
      return [served(await fetchManifest(server.url, 'repro', 'latest', OCI_MANIFEST_ONLY))];
    } catch (e) {
      throw new Error(`${(e as Error).message} (strata serve: ${errorLine(server.stderr())})`);
    } finally {
      await server.stop();
    }
  },
};

/** An emulator's path, or a setup error naming the script that installs it. */
function emulator(name: string): string {
  const found = ['/usr/bin', '/usr/local/bin'].map((d) => join(d, name)).find((f) => existsSync(f));
  if (!found) throw new Error(`${name} is not installed: run .ci/setup-emulation (qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross)`);
  return found;
}

/** Debian's arm64 C and C++ runtime, which qemu-aarch64-static loads Node's libraries from (no binfmt_misc needed). */
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

// Under Node 22: Node 24's child processes crash under qemu-x86_64 (any CPU model;
// Node 22 and 26 spawn fine), and Strata runs nix as one.
const cpuBaseline = perturbed(
  'cpu-x86-64-baseline',
  () => `the x86-64 baseline CPU: Node ${NODE_22} under qemu-x86_64-static -cpu qemu64 (no SSE4.2, PCLMUL, AVX)`,
  async () => ({ node: await nodeBinary(NODE_22), prefix: [emulator('qemu-x86_64-static'), '-cpu', 'qemu64'] }),
);

const aarch64 = perturbed(
  'aarch64',
  (ctx) => `aarch64: Node ${ctx.nodes.pinned} for arm64 under qemu-aarch64-static (an x86_64-linux image, unless the case names a system)`,
  async (c, ctx) => ({
    node: await nodeBinary(ctx.nodes.pinned, 'arm64'),
    prefix: [emulator('qemu-aarch64-static'), '-L', ARM64_SYSROOT],
    // This machine's system: an arm64 Strata would otherwise build for aarch64-linux, which Nix cannot here.
    args: c.system ? [] : ['--system', 'x86_64-linux'],
    // tsx (Strata from its sources) starts esbuild's x86-64 binary: the kernel runs it natively, outside the emulator.
    env: { ESBUILD_BINARY_PATH: join(repoRoot, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild') },
  }),
);

const digestOnly: Factor = {
  id: 'digest',
  title: () => 'strata digest (nothing written)',
  readings: [{ measure: 'manifest', source: 'printed by strata digest' }],
  run: async (c, ctx) => [{ digest: await strata('digest', c, ctx, []) }],
};

export const FACTORS: readonly Factor[] = [
  perturbed(
    'baseline',
    (ctx) => `baseline (oci:, Node ${ctx.nodes.pinned} of the lockfile)`,
    () => ({}),
  ),
  perturbed(
    'node-22',
    () => `Node ${NODE_22}`,
    async () => ({ node: await nodeBinary(NODE_22) }),
  ),
  perturbed(
    'node-24',
    () => `Node ${NODE_24}`,
    async () => ({ node: await nodeBinary(NODE_24) }),
  ),
  perturbed(
    'node-newest',
    (ctx) => `Node ${ctx.nodes.newest ?? '(unresolved)'}, the newest on npm`,
    async (_c, ctx) => ({ node: await nodeBinary(await ctx.newestNode()) }),
  ),
  cpuBaseline,
  aarch64,
  perturbed(
    'tz',
    () => 'TZ=Pacific/Kiritimati (UTC+14)',
    () => ({ env: { TZ: 'Pacific/Kiritimati' } }),
  ),
  perturbed(
    'locale',
    () => 'LC_ALL and LANG tr_TR.UTF-8',
    () => ({ env: { LC_ALL: 'tr_TR.UTF-8', LANG: 'tr_TR.UTF-8' } }),
  ),
  perturbed(
    'umask-077',
    () => 'umask 077',
    () => ({ umask: '077' }),
  ),
  perturbed(
    'umask-000',
    () => 'umask 000',
    () => ({ umask: '000' }),
  ),
  perturbed(
    'source-date-epoch-0',
    () => 'SOURCE_DATE_EPOCH=0 given explicitly',
    () => ({ env: { SOURCE_DATE_EPOCH: '0' } }),
  ),
  perturbed(
    'cache-cold',
    () => 'a cold layer cache (an empty STRATA_CACHE_DIR)',
    (_c, ctx) => ({ cache: ctx.scratch() }),
  ),
  warmCache,
  perturbed(
    'elsewhere',
    () => 'another checkout location and working directory',
    (c, ctx) => ({ flake: ctx.checkouts.elsewhere(c.example), cwd: ctx.scratch() }),
  ),
  perturbed(
    'threads-1',
    () => 'STRATA_THREADS=1',
    () => ({ env: { STRATA_THREADS: '1' } }),
  ),
  perturbed(
    'threads-n',
    () => `STRATA_THREADS=${MANY_THREADS} (above ${availableParallelism()} cores)`,
    () => ({ env: { STRATA_THREADS: String(MANY_THREADS) } }),
  ),
  ociArchive,
  dockerArchive,
  dockerPush,
  serveBridge,
  digestOnly,
  perturbed(
    'control',
    () => 'control: SOURCE_DATE_EPOCH=1700000000 must change the digest',
    () => ({ env: { SOURCE_DATE_EPOCH: '1700000000' } }),
    { control: true },
  ),
];

/** What --update records from: the baseline and the two archives. */
export const RECORDING = ['baseline', 'oci-archive', 'docker-archive'] as const;
