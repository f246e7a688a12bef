// What the reproducibility suite (conformance/reproducibility) does not check
// about the golden example: that independent readers (skopeo) see the golden
// digests in what was written, and that an explicit base layer is shared byte
// for byte. The digests themselves, under every perturbation, are the suite's.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { expectOk, nixEnv, removeDir, runStrata, sh, tempDir } from '../helpers/strata.js';

const golden = readGolden().cases;

let work: string;
beforeAll(() => {
  work = tempDir('strata-golden-');
});
afterAll(() => removeDir(work));

interface Written {
  transport: 'oci' | 'oci-archive' | 'docker-archive';
  goldenCase: string;
  args: string[];
  architecture: string;
}

const WRITTEN: Written[] = [
  { transport: 'oci', goldenCase: 'golden#default', args: [], architecture: 'amd64' },
  { transport: 'oci', goldenCase: 'golden#default+aarch64-linux', args: ['--system', 'aarch64-linux'], architecture: 'arm64' },
  { transport: 'oci-archive', goldenCase: 'golden#default', args: [], architecture: 'amd64' },
  { transport: 'docker-archive', goldenCase: 'golden#default', args: [], architecture: 'amd64' },
];

describe('skopeo reads the golden digests in what strata build wrote', () => {
  for (const w of WRITTEN) {
    test(`${w.transport}: ${w.goldenCase}`, async () => {
      const out = join(work, `${w.transport}-${w.architecture}${w.transport === 'oci' ? '' : '.tar'}`);
      const digest = expectOk(await runStrata(['build', './examples/golden#default', '-o', `${w.transport}:${out}`, ...w.args, '--no-cache']));
      const expected = golden[w.goldenCase]!;
      if (w.transport === 'docker-archive') {
        const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', `docker-archive:${out}`])) as { config: { digest: string } };
        assert.equal(raw.config.digest, digest);
        assert.equal(digest, expected.config);
        return;
      }
      const info = JSON.parse(sh('skopeo', ['inspect', `${w.transport}:${out}:1.0`])) as { Digest: string; Architecture: string; Os: string };
      assert.equal(info.Digest, digest);
      assert.equal(digest, expected.manifest);
      assert.equal(info.Os, 'linux');
      assert.equal(info.Architecture, w.architecture);
    });
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

describe('what compresses the layers', () => {
  test('what this runtime may use, and pako when turned off: the golden digest either way, and --json says which and why', async () => {
    const { decideImplementation } = await import('../../layers/native-compress.js');
    const expected = golden['golden#default']!.manifest;
    const cache = join(work, 'compressor-cache');
    const build = async (env: NodeJS.ProcessEnv) => {
      const r = await runStrata(['digest', './examples/golden#default', '--json'], { env: { ...nixEnv(), STRATA_CACHE_DIR: cache, ...env } });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { digest: string; compressor: { id: string; writtenBy: string; fallback?: string } };
    };
    // Cold: the layers are made, by what this runtime may use (the CLI runs on the same Node as this test).
    const cold = await build({});
    assert.equal(cold.digest, expected);
    const here = await decideImplementation('gzip');
    assert.equal(cold.compressor.writtenBy, here.name);
    assert.match(cold.compressor.id, /^pako@\S+ gzip level=6 /);
    // Warm: nothing is made, and nothing claims to have been.
    const warm = await build({});
    assert.equal(warm.digest, expected);
    assert.match(warm.compressor.writtenBy, /no layer made here/);
    // Turned off: pako makes the same bytes, and the reason is given.
    const off = await build({ STRATA_NATIVE_COMPRESSORS: '0', STRATA_CACHE_DIR: join(work, 'compressor-cache-off') });
    assert.equal(off.digest, expected);
    assert.deepEqual([off.compressor.writtenBy, off.compressor.fallback], ['pako', 'turned off by STRATA_NATIVE_COMPRESSORS=0']);
  });
});
