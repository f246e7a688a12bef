// Golden digests: the golden example (files kept in this repo only) must give
// the recorded digests at every setting, under every perturbation of the
// environment, one factor at a time. A golden digest changes only in a commit
// that says why: regenerate with UPDATE_GOLDEN=1 npm test.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nodeBinary } from '../helpers/nodes.js';
import { copyRepoExample, lastLine, nixEnv, removeDir, repoRoot, runStrata, sh, sha256File, tempDir, type RunOptions } from '../helpers/strata.js';

const GOLDEN_FILE = join(repoRoot, 'test', 'golden', 'digests.json');
const INSTALLABLE = './examples/golden#default';
const update = process.env.UPDATE_GOLDEN === '1';

interface Golden {
  digests: Record<string, string>;
  files: Record<string, string>;
}
const golden: Golden = existsSync(GOLDEN_FILE) ? (JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as Golden) : { digests: {}, files: {} };

function expectGolden(kind: 'digests' | 'files', name: string, got: string): void {
  if (update) {
    golden[kind][name] = got;
    return;
  }
  assert.equal(got, golden[kind][name], `${kind}.${name} differs from test/golden/digests.json`);
}

type Transport = 'oci' | 'oci-archive' | 'docker-archive';
const CASES: Record<string, { transport: Transport; args: string[] }> = {
  oci: { transport: 'oci', args: [] },
  'oci-zstd': { transport: 'oci', args: ['--compression', 'zstd'] },
  'oci-none': { transport: 'oci', args: ['--compression', 'none'] },
  'oci-arm64': { transport: 'oci', args: ['--system', 'aarch64-linux'] },
  'oci-archive': { transport: 'oci-archive', args: [] },
  'docker-archive': { transport: 'docker-archive', args: [] },
};

let work: string;
before(() => {
  work = tempDir('strata-golden-');
});
after(() => {
  if (update) writeFileSync(GOLDEN_FILE, `${JSON.stringify(golden, null, 2)}\n`);
  removeDir(work);
});

let n = 0;
async function buildGolden(transport: Transport, args: string[], opts: RunOptions = {}, installable = INSTALLABLE): Promise<{ digest: string; out: string }> {
  const out = join(work, `out-${++n}${transport === 'oci' ? '' : '.tar'}`);
  const r = await runStrata(['build', installable, '-o', `${transport}:${out}`, ...args], opts);
  assert.equal(r.code, 0, `strata build failed: ${r.stderr}`);
  const digest = lastLine(r.stdout);
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  return { digest, out };
}

describe('golden digests of examples/golden', () => {
  for (const [name, c] of Object.entries(CASES)) {
    test(name, async () => {
      const { digest, out } = await buildGolden(c.transport, [...c.args, '--no-cache']);
      expectGolden('digests', name, digest);
      if (c.transport !== 'oci') expectGolden('files', name, sha256File(out));
      // An independent reader agrees on what was written.
      if (c.transport === 'docker-archive') {
        const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', `docker-archive:${out}`])) as { config: { digest: string } };
        assert.equal(raw.config.digest, digest);
      } else {
        const ref = c.transport === 'oci' ? `oci:${out}:1.0` : `oci-archive:${out}:1.0`;
        const info = JSON.parse(sh('skopeo', ['inspect', ref])) as { Digest: string; Architecture: string; Os: string };
        assert.equal(info.Digest, digest);
        assert.equal(info.Os, 'linux');
        assert.equal(info.Architecture, name === 'oci-arm64' ? 'arm64' : 'amd64');
      }
    });
  }
  test('strata digest prints what build writes, without writing, cold and warm', async () => {
    const env = nixEnv({ ...process.env, STRATA_CACHE_DIR: join(work, 'digest-cache') });
    for (const [name, c] of Object.entries(CASES)) {
      if (c.transport !== 'oci') continue;
      for (const round of ['cold', 'warm']) {
        const r = await runStrata(['digest', INSTALLABLE, ...c.args], { env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(lastLine(r.stdout), golden.digests[name], `${name}, ${round} cache`);
      }
    }
  });
  test('two images naming the same explicit base layer share it byte for byte', async () => {
    const layers = async (attr: string) => {
      const r = await runStrata(['digest', `./examples/golden#${attr}`, '--json']);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { layers: { digest: string; storePaths: string[] }[] }).layers;
    };
    const [one, two] = [await layers('based-one'), await layers('based-two')];
    assert.deepEqual(one[0]!.storePaths.map((p) => p.slice(44)).sort(), ['golden-app-1.0', 'golden-data']);
    assert.equal(one[0]!.digest, two[0]!.digest);
    assert.notEqual(one.at(-2)!.digest, two.at(-2)!.digest, 'the images differ above the base');
  });
  test('the oci-archive holds the same image as the oci layout', async () => {
    const archive = await buildGolden('oci-archive', ['--no-cache']);
    const layout = await buildGolden('oci', ['--no-cache']);
    assert.equal(archive.digest, layout.digest);
  });
});

describe('the same digest under every perturbation, one factor at a time', { skip: update }, () => {
  const baseline = () => golden.digests.oci!;
  const perturbations: Record<string, () => Promise<RunOptions & { installable?: string }>> = {
    'Node 22': async () => ({ node: nodeBinary(22) }),
    'TZ far from UTC': async () => ({ env: nixEnv({ ...process.env, TZ: 'Pacific/Kiritimati' }) }),
    'LC_ALL and LANG': async () => ({ env: nixEnv({ ...process.env, LC_ALL: 'tr_TR.UTF-8', LANG: 'tr_TR.UTF-8' }) }),
    'umask 077': async () => ({ umask: '077' }),
    'umask 000': async () => ({ umask: '000' }),
    'another working directory and checkout location': async () => {
      const dest = tempDir('strata-elsewhere-');
      const flake = copyRepoExample(dest);
      return { cwd: work, installable: `${flake}#default` };
    },
    'SOURCE_DATE_EPOCH=0 given explicitly': async () => ({ env: nixEnv({ ...process.env, SOURCE_DATE_EPOCH: '0' }) }),
    'a cold layer cache': async () => ({ env: nixEnv({ ...process.env, STRATA_CACHE_DIR: tempDir('strata-cache-') }) }),
    'one worker thread instead of one per core': async () => ({ env: nixEnv({ ...process.env, STRATA_THREADS: '1' }) }),
  };
  for (const [name, make] of Object.entries(perturbations)) {
    test(name, async () => {
      const { installable, ...opts } = await make();
      // Every layer is made under the perturbation, none copied from a cache.
      const cacheTest = name.includes('cache');
      const { digest } = await buildGolden('oci', cacheTest ? [] : ['--no-cache'], opts, installable);
      assert.equal(digest, baseline());
    });
  }
  test('a warm layer cache', async () => {
    const env = nixEnv({ ...process.env, STRATA_CACHE_DIR: tempDir('strata-cache-') });
    const first = await buildGolden('oci', [], { env });
    const second = await buildGolden('oci', [], { env });
    assert.equal(first.digest, baseline());
    assert.equal(second.digest, baseline());
  });
  test('control: a different SOURCE_DATE_EPOCH does change the digest', async () => {
    const { digest } = await buildGolden('oci', [], { env: nixEnv({ ...process.env, SOURCE_DATE_EPOCH: '1700000000' }) });
    assert.notEqual(digest, baseline());
  });
});
