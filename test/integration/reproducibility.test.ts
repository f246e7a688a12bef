// The reproducibility suite (conformance/reproducibility) in full — every
// example under every factor, one at a time, against golden.json — and proof
// that it can fail: a wrong golden value, another busybox, its exit codes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { CASES } from '../../conformance/reproducibility/cases.js';
import { FACTORS } from '../../conformance/reproducibility/factors.js';
import { type Golden, readGolden } from '../../conformance/reproducibility/golden.js';
import type { Report } from '../../conformance/reproducibility/report.js';
import { runReproducibility } from '../../conformance/reproducibility/runner.js';
import { removeDir, repoRoot, sh, tempDir } from '../helpers/strata.js';
import { tsxImport } from '../helpers/tsx.js';

const RUN = join(repoRoot, 'conformance', 'reproducibility', 'run.ts');
const WRONG = `sha256:${'0'.repeat(64)}`;

const factors = (...ids: string[]) => FACTORS.filter((f) => ids.includes(f.id));
const only = (...ids: string[]) => CASES.filter((c) => ids.includes(c.id));

/** golden.json with one value changed. */
function goldenWith(caseId: string, field: 'manifest' | 'busybox', value: string): Golden {
  const golden = structuredClone(readGolden());
  golden.cases[caseId]![field] = value;
  return golden;
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...tsxImport, RUN, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

let work: string;
beforeAll(() => {
  work = tempDir('strata-repro-test-');
});
afterAll(() => removeDir(work));

describe('the reproducibility suite', () => {
  test('every example under every factor gives its golden digests', async () => {
    const report = await runReproducibility();
    const failed = report.checks
      .filter((c) => c.status !== 'pass')
      .map((c) => `${c.case} ${c.factor} ${c.measure} (${c.source}): expected ${c.expected}, got ${c.got}: ${c.reason}`);
    assert.deepEqual(failed, []);
    for (const c of CASES) {
      for (const f of FACTORS.filter((f) => !f.appliesTo || f.appliesTo(c))) {
        assert.equal(report.checks.filter((r) => r.case === c.id && r.factor === f.id).length, f.readings.length, `${c.id} under ${f.id}`);
      }
    }
    // The control passed: SOURCE_DATE_EPOCH=1700000000 gave digests other than the golden ones.
    assert.equal(report.checks.filter((r) => r.factor === 'control' && r.status === 'pass').length, CASES.length);
    assert.match(report.nodes.newest ?? '', /^\d+\.\d+\.\d+$/);
  });

  test('every package of every example flake the repository has is a case', () => {
    const examples = readdirSync(join(repoRoot, 'examples')).filter((e) => existsSync(join(repoRoot, 'examples', e, 'flake.nix')));
    assert.deepEqual(examples.sort(), [...new Set(CASES.map((c) => c.example))].sort());
    for (const e of examples) {
      // Attribute names only: nothing is built, and hello's busybox need not be there.
      const systems = JSON.parse(
        sh('nix', ['eval', '--json', `./examples/${e}#packages`, '--apply', 'ps: builtins.mapAttrs (s: builtins.attrNames) ps'], { cwd: repoRoot }),
      ) as Record<string, string[]>;
      for (const [system, attrs] of Object.entries(systems)) {
        for (const attr of attrs) {
          const covered = CASES.some((c) => c.example === e && c.attr === attr && (c.system ?? 'x86_64-linux') === system);
          assert.ok(covered, `examples/${e}#packages.${system}.${attr} has no case in conformance/reproducibility/cases.ts`);
        }
      }
    }
  });

  test('a wrong golden value is a failure, naming both digests', async () => {
    const report = await runReproducibility({
      cases: only('golden#default'),
      factors: factors('baseline', 'oci-archive'),
      golden: goldenWith('golden#default', 'manifest', WRONG),
    });
    assert.equal(report.ok, false);
    const manifests = report.checks.filter((c) => c.measure === 'manifest');
    assert.deepEqual(
      manifests.map((c) => [c.factor, c.status, c.expected, c.got]),
      [
        ['baseline', 'fail', WRONG, readGolden().cases['golden#default']!.manifest],
        ['oci-archive', 'fail', WRONG, readGolden().cases['golden#default']!.manifest],
      ],
    );
    assert.equal(report.checks.find((c) => c.measure === 'ociArchive')?.status, 'pass');
  });

  test("another busybox fails hello's checks, with one line naming both sha256s and how to re-record", async () => {
    const report = await runReproducibility({
      cases: only('hello#image'),
      factors: factors('baseline', 'tz'),
      golden: goldenWith('hello#image', 'busybox', WRONG),
    });
    assert.deepEqual(
      report.checks.map((c) => c.status),
      ['fail', 'fail'],
    );
    const reason = report.checks[0]!.reason!;
    assert.doesNotMatch(reason, /\n/);
    assert.ok(reason.includes(WRONG), reason);
    assert.match(reason, /\/bin\/busybox is sha256:[0-9a-f]{64}/);
    assert.match(reason, /--update --only hello#image/);
  });

  test('the command line: 1 when a check fails, 2 for a usage error, and --update re-records', async () => {
    const file = join(work, 'golden.json');
    writeFileSync(file, JSON.stringify(goldenWith('golden#default', 'manifest', WRONG)));
    const json = join(work, 'report.json');
    const failed = await runCli(['--golden', file, '--only', 'golden#default', '--factor', 'baseline', '--json', json]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /FAIL  baseline/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    assert.deepEqual(report.summary, { pass: 0, fail: 1 });

    assert.equal((await runCli(['--only', 'no-such-case'])).code, 2);
    assert.equal((await runCli(['--no-such-flag'])).code, 2);

    const updated = await runCli(['--golden', file, '--only', 'golden#default', '--update']);
    assert.equal(updated.code, 0, updated.stdout + updated.stderr);
    assert.match(updated.stdout, /golden#default manifest: sha256:0{64} → /);
    assert.deepEqual(readGolden(file).cases, readGolden().cases);
  });
});
