// Runs every selected factor on every selected case, one at a time, and
// compares each digest read with its golden value; or, for --update, records
// the golden values from the baseline and the archives.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Case, CASES, hasDockerArchive } from './cases.js';
import { busyboxDigest, busyboxSource, Checkouts } from './examples.js';
import { type Context, type Factor, FACTORS, type Got, RECORDING } from './factors.js';
import { FIELDS, type Golden, type GoldenCase, GOLDEN_FILE, readGolden } from './golden.js';
import { newestNodeVersion, NODE_22, NODE_24, pinnedNode, type PinnedNode, versionOf } from './nodes.js';
import { givenRegistry, ownRegistry, type PushTarget } from './registry.js';
import { type CheckResult, type NodeVersions, type Report, summarize } from './report.js';
import { withNixConfig } from './strata.js';

/** The suite cannot run at all (exit 2), as opposed to a check failing. */
export class SetupError extends Error {}

export interface SuiteOptions {
  cases?: readonly Case[];
  factors?: readonly Factor[];
  /** Default: golden.json beside the suite. */
  golden?: Golden;
  goldenFile?: string;
  /** A registry URL to push to instead of a `strata serve` of the suite's own. */
  registry?: string;
}

export interface RunHooks {
  onStart?(nodes: NodeVersions): void;
  onCase?(c: Case): void;
  onCheck?(result: CheckResult): void;
}

/** Variables that could change the bytes: the baseline has none of them, each factor sets one. */
const PERTURBING = /^(SOURCE_DATE_EPOCH|TZ|LANG|LANGUAGE|LC_[A-Z_]+|STRATA_[A-Z0-9_]+)$/;

function baselineEnv(cache: string): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(([k]) => !PERTURBING.test(k));
  return withNixConfig({ ...Object.fromEntries(kept), STRATA_CACHE_DIR: cache });
}

/** A context over a fresh work directory, removed (and the suite's registry stopped) when `use` is done. */
async function withContext<T>(opts: SuiteOptions, use: (ctx: Context, clearScratch: () => void) => Promise<T>): Promise<T> {
  let pinned: PinnedNode;
  try {
    pinned = pinnedNode();
  } catch (e) {
    throw new SetupError((e as Error).message);
  }
  const running = await versionOf(pinned.bin);
  if (running !== pinned.version) throw new SetupError(`${pinned.bin} is Node ${running}, but the lockfile pins ${pinned.version}: run npm ci`);
  const work = mkdtempSync(join(tmpdir(), 'strata-repro-'));
  const scratchRoot = join(work, 'scratch');
  let n = 0;
  let target: Promise<PushTarget> | undefined;
  let newest: Promise<string> | undefined;
  const nodes: NodeVersions = { pinned: pinned.version, node22: NODE_22, node24: NODE_24 };
  const ctx: Context = {
    env: baselineEnv(join(work, 'cache')),
    pinned,
    nodes,
    checkouts: new Checkouts(work),
    scratch() {
      const dir = join(scratchRoot, String(++n));
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    pushTarget: () => (target ??= opts.registry ? Promise.resolve(givenRegistry(opts.registry)) : ownRegistry(join(work, 'registry'), ctx.env, pinned.bin)),
    newestNode: () => (newest ??= newestNodeVersion().then((v) => (nodes.newest = v))),
    runId: Date.now().toString(36),
  };
  try {
    return await use(ctx, () => rmSync(scratchRoot, { recursive: true, force: true }));
  } finally {
    await (await target?.catch(() => undefined))?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

interface Blocked {
  expected: string;
  got: string;
  reason: string;
}

/** hello's digests follow the busybox copied into it: with another one, its checks fail, saying so, without building. */
function busyboxBlock(c: Case, entry: GoldenCase | undefined): Blocked | undefined {
  if (c.example !== 'hello') return undefined;
  const recorded = entry?.busybox ?? '(none recorded)';
  const machine = busyboxDigest();
  if ('missing' in machine) return { expected: `busybox ${recorded}`, got: 'no busybox', reason: machine.missing };
  if (machine.digest === entry?.busybox) return undefined;
  return {
    expected: `busybox ${recorded}`,
    got: `busybox ${machine.digest}`,
    reason: `${c.id}'s golden digests were recorded with a busybox of ${recorded}, but ${busyboxSource()} is ${machine.digest}: install Debian 12's busybox-static, or re-record with 'run.js --update --only ${c.id}' in a commit saying why`,
  };
}

/** Why a reading fails, or undefined when it passes. */
function verdict(f: Factor, golden: string | undefined, got: Got, baseline: string | undefined, what: string): string | undefined {
  if (golden === undefined) return `golden.json has no ${what}: record it with --update, in a commit saying why`;
  if (got.problems?.length) return got.problems.join('; ');
  if (f.control) return got.digest === golden ? 'the change left the digest golden: this suite could not see a change' : undefined;
  if (got.digest === golden) return undefined;
  if (f.id === 'baseline') return 'the image is not the golden one: if that is intended, re-record with --update in a commit saying why';
  return baseline === golden ? 'this factor alone changes the digest (the baseline gives the golden one)' : 'the baseline differs from golden.json too';
}

async function runCheck(
  c: Case,
  f: Factor,
  ctx: Context,
  entry: GoldenCase,
  blocked: Blocked | undefined,
  baseline: string | undefined,
): Promise<CheckResult[]> {
  const started = performance.now();
  let gots: Got[] | Error;
  try {
    gots = blocked ? [] : await f.run(c, ctx);
    if (!blocked && gots.length !== f.readings.length) throw new Error(`${f.id} read ${gots.length} digests for ${f.readings.length} readings`);
  } catch (e) {
    gots = e as Error;
  }
  const durationMs = Math.round(performance.now() - started);
  return f.readings.map((reading, i): CheckResult => {
    const golden = entry[reading.measure];
    const expected = golden === undefined ? '(not recorded)' : f.control ? `not ${golden}` : golden;
    const base = { case: c.id, factor: f.id, title: f.title(ctx), measure: reading.measure, source: reading.source, expected, durationMs };
    if (blocked) return { ...base, expected: blocked.expected, got: blocked.got, status: 'fail', reason: blocked.reason };
    if (gots instanceof Error) return { ...base, got: '(no digest)', status: 'fail', reason: gots.message };
    const got = gots[i]!;
    const reason = verdict(f, golden, got, baseline, `${reading.measure} for ${c.id}`);
    return { ...base, got: got.digest, status: reason ? 'fail' : 'pass', ...(reason ? { reason } : {}) };
  });
}

export async function runReproducibility(opts: SuiteOptions = {}, hooks: RunHooks = {}): Promise<Report> {
  const cases = opts.cases ?? CASES;
  const factors = opts.factors ?? FACTORS;
  const golden = opts.golden ?? readGolden(opts.goldenFile);
  const startedAt = new Date();
  const started = performance.now();
  const checks: CheckResult[] = [];
  const nodes = await withContext(opts, async (ctx, clearScratch) => {
    // Asked up front so that the report says which Node is the newest; a failure fails that factor's checks.
    if (factors.some((f) => f.id === 'node-newest')) await ctx.newestNode().catch(() => {});
    hooks.onStart?.(ctx.nodes);
    for (const c of cases) {
      hooks.onCase?.(c);
      const entry = golden.cases[c.id] ?? {};
      const blocked = busyboxBlock(c, golden.cases[c.id]);
      let baseline: string | undefined;
      for (const f of factors) {
        if (f.appliesTo && !f.appliesTo(c)) continue;
        const results = await runCheck(c, f, ctx, entry, blocked, baseline);
        clearScratch();
        if (f.id === 'baseline') baseline = results[0]?.got;
        for (const r of results) {
          checks.push(r);
          hooks.onCheck?.(r);
        }
      }
    }
    return ctx.nodes;
  });
  return {
    suite: 'Strata reproducibility',
    golden: opts.goldenFile ?? GOLDEN_FILE,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    ok: checks.every((c) => c.status === 'pass'),
    nodes,
    summary: summarize(checks),
    checks,
  };
}

export interface Recorded {
  golden: Golden;
  /** `case measure: old → new`, for each value that changed. */
  changes: string[];
}

/** New golden values for the selected cases (the others are kept): what the baseline and the archive outputs give. */
export async function recordGolden(opts: SuiteOptions = {}, onCase?: (c: Case) => void): Promise<Recorded> {
  const old = opts.golden ?? readGolden(opts.goldenFile);
  const golden: Golden = structuredClone(old);
  const changes: string[] = [];
  const factors = RECORDING.map((id) => FACTORS.find((f) => f.id === id)!);
  await withContext(opts, async (ctx, clearScratch) => {
    for (const c of opts.cases ?? CASES) {
      onCase?.(c);
      const entry: GoldenCase = {};
      if (c.example === 'hello') {
        const busybox = busyboxDigest();
        if ('missing' in busybox) throw new SetupError(busybox.missing);
        entry.busybox = busybox.digest;
      }
      for (const f of factors.filter((f) => f.id !== 'docker-archive' || hasDockerArchive(c))) {
        const gots = await f.run(c, ctx);
        clearScratch();
        f.readings.forEach((reading, i) => {
          const got = gots[i]!;
          if (got.problems?.length) throw new SetupError(`${c.id}, ${f.id}: ${got.problems.join('; ')}`);
          const before = entry[reading.measure];
          if (before !== undefined && before !== got.digest)
            throw new SetupError(`${c.id}: ${f.id} gives ${reading.measure} ${got.digest}, but the baseline ${before}: not reproducible, nothing recorded`);
          entry[reading.measure] = got.digest;
        });
      }
      const previous = old.cases[c.id] ?? {};
      for (const k of FIELDS) {
        if (previous[k] !== entry[k]) changes.push(`${c.id} ${k}: ${previous[k] ?? '(none)'} → ${entry[k] ?? '(none)'}`);
      }
      golden.cases[c.id] = entry;
    }
  });
  return { golden, changes };
}
