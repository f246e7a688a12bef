// The distribution-spec conformance suite (conformance/distribution) against
// Debian's docker-registry, CNCF distribution 2.8: every check passes except
// the shortfalls listed below, each one explained by the spec's own words in
// conformance/README.md. An unexpected pass fails the test as surely as an
// unexpected failure, so the list stays true. The same registry with deletes
// disabled, with Basic auth and with Bearer tokens shows the suite's handling
// of refusals and of both auth flows; the command line runs as users run it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { configFromEnv } from '../../conformance/distribution/config.js';
import type { Status } from '../../conformance/distribution/outcome.js';
import type { Report } from '../../conformance/distribution/report.js';
import { runConformance } from '../../conformance/distribution/runner.js';
import { type Registry, startRegistry } from '../helpers/registry.js';
import { removeDir, repoRoot, tempDir } from '../helpers/strata.js';
import { tsxImport } from '../helpers/tsx.js';

/** distribution 2.8's answers that are not a pass: "<workflow>: <check>" → status. */
const DISTRIBUTION_2_8: Record<string, Status> = {
  // MAY: it opens an upload session instead (the 202 fallback the spec describes).
  'push: single POST ?digest= with the blob: 201': 'optional-missing',
  // MUST: it ignores Content-Range on PATCH and appends at its own offset.
  'push: chunked upload: a first chunk not starting at 0 gets 416': 'fail',
  'push: chunked upload: a chunk sent again gets 416': 'fail',
  // MUST: tags come in storage order, and n and last are ignored.
  'content-discovery: tags/list: tags in lexical order': 'fail',
  'content-discovery: tags/list?n=2: the first 2 tags': 'fail',
  'content-discovery: tags/list?n=2&last=<tag>: the 2 tags after it': 'fail',
  'content-discovery: tags/list?last=<tag> without n: the tags after it': 'fail',
  'content-discovery: tags/list?n=0: an empty list without Link': 'fail',
  // MAY: no Link header (it never pages).
  'content-discovery: tags/list?n=3: Link rel="next" pages through every tag': 'optional-missing',
  // distribution-spec 1.1's referrers API is newer than 2.8: 404, and clients use the tag schema (which passes).
  'content-discovery: manifest PUT with subject: OCI-Subject names the subject': 'unsupported',
  'content-discovery: referrers API: each referrer listed with artifactType and annotations': 'unsupported',
  'content-discovery: referrers API: an unknown digest gets 200 with an empty index': 'unsupported',
  'content-discovery: referrers API: ?artifactType= filters, with OCI-Filters-Applied': 'unsupported',
  // Deleting by tag is refused with 400 (DIGEST_INVALID): allowed, "MAY allow deletion only by manifest".
  'content-management: DELETE tag: 202, then the tag is 404': 'unsupported',
};

/** The command line, run asynchronously: the registry's log pipe to this process must keep draining meanwhile. */
function runCli(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...tsxImport, join(repoRoot, 'conformance/distribution/run.ts'), ...args], {
      env: { PATH: process.env.PATH, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The checks that did not pass, keyed like DISTRIBUTION_2_8. */
function nonPassing(report: Report): Record<string, Status> {
  const out: Record<string, Status> = {};
  for (const w of report.workflows) for (const c of w.checks) if (c.status !== 'pass') out[`${w.id}: ${c.name}`] = c.status;
  return out;
}

/** The expected set, cut to the workflows a run picked. */
function expectedFor(workflows: string[]): Record<string, Status> {
  return Object.fromEntries(Object.entries(DISTRIBUTION_2_8).filter(([k]) => workflows.some((w) => k.startsWith(`${w}: `))));
}

function config(reg: Registry, env: NodeJS.ProcessEnv = {}) {
  return configFromEnv({ OCI_ROOT_URL: reg.url, OCI_NAMESPACE: 'conformance/test', OCI_CROSSMOUNT_NAMESPACE: 'conformance/mount', ...env });
}

describe('distribution 2.8 with deletes enabled', () => {
  let reg: Registry;
  beforeAll(async () => {
    reg = await startRegistry({ deleteEnabled: true });
  });
  afterAll(() => reg.stop());

  test('all four workflows: no failure beyond the known shortfalls, which all still fall short', async () => {
    const report = await runConformance(config(reg));
    assert.deepEqual(
      report.workflows.map((w) => w.id),
      ['pull', 'push', 'content-discovery', 'content-management'],
    );
    for (const w of report.workflows) assert.ok(w.checks.length >= 5, `${w.id} ran its checks`);
    const reasons = report.workflows.flatMap((w) => w.checks.filter((c) => c.status !== 'pass').map((c) => `${w.id}: ${c.name}: ${c.reason}`));
    assert.deepEqual(nonPassing(report), DISTRIBUTION_2_8, reasons.join('\n'));
    assert.equal(report.ok, false, 'the known failures make the run fail');
  });

  test('the command line: exit 0 with a JSON report when nothing fails, 1 when something does, 2 without a registry', async () => {
    const dir = tempDir('strata-conformance-');
    try {
      const file = join(dir, 'pull.json');
      const pull = await runCli({ OCI_ROOT_URL: reg.url, OCI_TEST_PULL: '1' }, ['--json', file]);
      assert.equal(pull.code, 0, pull.stdout + pull.stderr);
      assert.match(pull.stdout, /^Pull: \d+ pass, 0 fail, 0 optional-missing, 0 unsupported \(\d+ ms\)$/m);
      const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
      assert.equal(report.ok, true);
      assert.deepEqual(
        report.workflows.map((w) => w.id),
        ['pull'],
      );

      const push = await runCli({ OCI_ROOT_URL: reg.url, OCI_TEST_PUSH: '1' });
      assert.equal(push.code, 1, push.stdout + push.stderr);
      assert.match(push.stdout, /^ {2}fail {14}chunked upload: a chunk sent again gets 416\n {20}PATCH of the first chunk again: expected 416, got 202$/m);

      const unset = await runCli({});
      assert.equal(unset.code, 2);
      assert.match(unset.stderr, /OCI_ROOT_URL is not set/);
    } finally {
      removeDir(dir);
    }
  });
});

test('distribution 2.8 with deletes disabled: every content-management check is unsupported (405), none failed', async () => {
  const reg = await startRegistry();
  try {
    const report = await runConformance(config(reg, { OCI_TEST_CONTENT_MANAGEMENT: '1' }));
    const [management] = report.workflows;
    assert.equal(report.workflows.length, 1);
    assert.deepEqual(management!.summary, { pass: 0, fail: 0, 'optional-missing': 0, unsupported: management!.checks.length });
    for (const c of management!.checks) assert.match(c.reason ?? '', /: 405 UNSUPPORTED, the answer the spec gives/);
  } finally {
    await reg.stop();
  }
});

test('Basic auth (htpasswd): pull and push as without auth; without credentials, the 401s are failures', async () => {
  const reg = await startRegistry({ auth: 'htpasswd' });
  try {
    const creds = { OCI_USERNAME: 'strata', OCI_PASSWORD: reg.users.strata! };
    const report = await runConformance(config(reg, { ...creds, OCI_TEST_PULL: '1', OCI_TEST_PUSH: '1' }));
    assert.deepEqual(nonPassing(report), expectedFor(['pull', 'push']));

    const anonymous = await runConformance(config(reg, { OCI_TEST_PULL: '1' }));
    const [first] = anonymous.workflows[0]!.checks;
    assert.equal(first!.status, 'fail');
    assert.match(first!.reason ?? '', /GET \/v2\/: expected 200, got 401 UNAUTHORIZED/);
  } finally {
    await reg.stop();
  }
});

test('Bearer tokens (token server): pull and push as without auth, mounts included', async () => {
  const reg = await startRegistry({ auth: 'token' });
  try {
    const report = await runConformance(config(reg, { OCI_USERNAME: 'strata', OCI_PASSWORD: reg.users.strata!, OCI_TEST_PULL: '1', OCI_TEST_PUSH: '1' }));
    assert.deepEqual(nonPassing(report), expectedFor(['pull', 'push']));
    assert.ok(reg.token!.counters.authenticated > 0, 'tokens were fetched with the credentials');
  } finally {
    await reg.stop();
  }
});
