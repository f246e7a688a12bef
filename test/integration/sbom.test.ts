// `strata sbom` against real Nix: the SBOMs list exactly the store paths of the
// image's layers (as `strata digest --json` reports them), which are `nix
// path-info -r` of its roots, with Nix's NAR hashes; the statements' subject is
// the digest `strata digest` prints; the files are the same bytes run after run
// and under another TZ and locale; every file passes its schema.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { parsePathInfoJson } from '../../nix/json.js';
import type { CycloneDxBom, SlsaProvenance, SpdxDocument, Statement } from '../../src/sbom.js';
import { cycloneDxErrors, slsaErrors, spdxErrors, statementErrors } from '../helpers/sbom-schemas.js';
import { copyRepoExample, lastLine, nixEnv, prepareHello, removeDir, repoRoot, runStrata, sh, tempDir, type RunOptions } from '../helpers/strata.js';

const FILES = ['sbom.spdx.json', 'sbom.cdx.json', 'provenance.json', 'sbom.spdx.intoto.json', 'sbom.cdx.intoto.json'];

let work: string;
beforeAll(() => {
  work = tempDir('strata-sbom-');
});
afterAll(() => removeDir(work));

let n = 0;
/** Runs strata sbom into a fresh directory; returns it. */
async function sbom(installable: string, args: string[] = [], opts: RunOptions = {}): Promise<string> {
  const out = join(work, `out-${++n}`);
  const r = await runStrata(['sbom', installable, '-o', out, ...args], opts);
  assert.equal(r.code, 0, `strata sbom failed: ${r.stderr}`);
  assert.deepEqual(
    r.stdout.trim().split('\n'),
    FILES.map((f) => join(out, f)),
  );
  return out;
}

const read = <T>(dir: string, file: string): T => JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
const sriHex = (sri: string) => Buffer.from(sri.slice(7), 'base64').toString('hex');

/** What strata digest says of the same installable: the digest and every store path in the layers. */
async function digestOf(installable: string): Promise<{ digest: string; storePaths: string[] }> {
  const r = await runStrata(['digest', '--json', installable]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { digest: string; layers: { storePaths: string[] }[] };
  return { digest: j.digest, storePaths: j.layers.flatMap((l) => l.storePaths) };
}

/** Every check that holds for any installable. */
async function checkAgainstNix(installable: string, dir: string): Promise<{ spdx: SpdxDocument; cdx: CycloneDxBom; provenance: Statement<SlsaProvenance> }> {
  const spdx = read<SpdxDocument>(dir, 'sbom.spdx.json');
  const cdx = read<CycloneDxBom>(dir, 'sbom.cdx.json');
  const provenance = read<Statement<SlsaProvenance>>(dir, 'provenance.json');
  assert.equal(spdxErrors(spdx), null);
  assert.equal(await cycloneDxErrors(cdx), null);
  assert.equal(slsaErrors(provenance.predicate), null);
  for (const f of ['provenance.json', 'sbom.spdx.intoto.json', 'sbom.cdx.intoto.json']) assert.equal(statementErrors(read(dir, f)), null, f);
  assert.deepEqual(read<Statement>(dir, 'sbom.spdx.intoto.json').predicate, spdx);
  assert.deepEqual(read<Statement>(dir, 'sbom.cdx.intoto.json').predicate, cdx);

  // The image strata digest makes: its digest is the subject, its layers hold exactly the listed paths.
  const { digest, storePaths } = await digestOf(installable);
  for (const f of ['provenance.json', 'sbom.spdx.intoto.json', 'sbom.cdx.intoto.json'])
    assert.equal(`sha256:${read<Statement>(dir, f).subject[0]!.digest.sha256}`, digest, f);
  const spdxPaths = spdx.packages.flatMap((p) => (p.packageFileName ? [p.packageFileName] : []));
  const cdxPaths = cdx.components.filter((c) => c.scope !== 'excluded').map((c) => c['bom-ref']);
  assert.equal(new Set(spdxPaths).size, spdxPaths.length, 'a store path is listed twice in the SPDX document');
  assert.equal(new Set(cdxPaths).size, cdxPaths.length, 'a store path is listed twice in the CycloneDX BOM');
  assert.deepEqual([...spdxPaths].sort(), [...storePaths].sort());
  assert.deepEqual([...cdxPaths].sort(), [...storePaths].sort());

  // …which are nix path-info -r of the roots the document describes, with Nix's NAR hashes and references.
  const roots = spdx.relationships
    .filter((r) => r.relationshipType === 'DESCRIBES' && r.relatedSpdxElement !== 'SPDXRef-image')
    .map((r) => spdx.packages.find((p) => p.SPDXID === r.relatedSpdxElement)!.packageFileName!);
  assert.ok(roots.length > 0);
  const nix = parsePathInfoJson(sh('nix', ['path-info', '--json', '--recursive', ...roots]));
  assert.deepEqual(
    nix.map((i) => i.path),
    [...storePaths].sort(),
  );
  for (const info of nix) {
    const pkg = spdx.packages.find((p) => p.packageFileName === info.path)!;
    assert.deepEqual(pkg.checksums, [{ algorithm: 'SHA256', checksumValue: sriHex(info.narHash) }], info.path);
    const comp = cdx.components.find((c) => c['bom-ref'] === info.path)!;
    assert.deepEqual(comp.hashes, [{ alg: 'SHA-256', content: sriHex(info.narHash) }], info.path);
    assert.deepEqual(
      cdx.dependencies.find((d) => d.ref === info.path)!.dependsOn,
      info.references.filter((r) => r !== info.path),
    );
  }
  return { spdx, cdx, provenance };
}

function sameBytes(a: string, b: string): void {
  assert.deepEqual(readdirSync(b).sort(), readdirSync(a).sort());
  for (const f of FILES) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs between ${a} and ${b}`);
}

describe('strata sbom', () => {
  test('examples/golden: the closure of the image, the same bytes every run, TZ and locale', async () => {
    // A copy, so edits elsewhere in this checkout do not change the flake's narHash between runs.
    const golden = copyRepoExample(join(work, 'golden'));
    const installable = `${golden}#default`;
    const first = await sbom(installable);
    const { spdx, provenance } = await checkAgainstNix(installable, first);
    assert.equal(spdx.packages.filter((p) => p.packageFileName).length, 3);
    assert.equal(spdx.creationInfo.created, '1970-01-01T00:00:00Z');
    assert.equal(provenance.predicate.buildDefinition.externalParameters.installable, installable);
    assert.equal(provenance.predicate.buildDefinition.resolvedDependencies[0]!.name, 'flake');

    sameBytes(first, await sbom(installable));
    sameBytes(first, await sbom(installable, [], { env: nixEnv({ ...process.env, TZ: 'Pacific/Kiritimati', LC_ALL: 'tr_TR.UTF-8', LANG: 'tr_TR.UTF-8' }) }));
  });

  test('--image-digest and --source-date-epoch', async () => {
    const golden = copyRepoExample(join(work, 'golden-2'));
    const given = `sha256:${'0'.repeat(64)}`;
    const dir = await sbom(`${golden}#default`, ['--image-digest', given, '--source-date-epoch', '1700000000']);
    assert.equal(read<Statement>(dir, 'provenance.json').subject[0]!.digest.sha256, '0'.repeat(64));
    assert.equal(read<SpdxDocument>(dir, 'sbom.spdx.json').creationInfo.created, '2023-11-14T22:13:20Z');
    const r = await runStrata(['sbom', `${golden}#default`, '--image-digest', 'sha256:xyz', '-o', join(work, 'bad')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--image-digest 'sha256:xyz' is not sha256:<64 hex digits>/);
  });

  test('the hello example: a described image with a root link, a plain package, a store path', async () => {
    const hello = prepareHello(join(work, 'hello'));
    const image = await checkAgainstNix(`${hello}#image`, await sbom(`${hello}#image`));
    assert.equal(image.cdx.metadata.component.name, 'hello');
    assert.ok(image.cdx.components.some((c) => c.name === 'busybox-static' && c.version === '1.36'));
    const plain = await checkAgainstNix(`${hello}#default`, await sbom(`${hello}#default`));
    assert.ok(plain.cdx.components.some((c) => c.name === 'hello' && c.version === '2.12'));
    assert.equal(plain.provenance.predicate.buildDefinition.resolvedDependencies[0]!.digest!.gitCommit, sh('git', ['-C', hello, 'rev-parse', 'HEAD']).trim());

    // A store path: nothing evaluated, so no flake and no resolved dependencies.
    const out = lastLine(sh('nix', ['path-info', `${hello}#default`]));
    const store = await checkAgainstNix(out, await sbom(out));
    assert.deepEqual(store.provenance.predicate.buildDefinition.resolvedDependencies, []);
    assert.ok(!store.cdx.components.some((c) => c.scope === 'excluded'));
  });

  test('a flake with a locked input: its narHash in the SBOMs and the provenance', async () => {
    const dir = join(work, 'with-input');
    mkdirSync(join(dir, 'lib'), { recursive: true });
    cpSync(join(repoRoot, 'nix', 'lib.nix'), join(dir, 'lib', 'lib.nix'));
    writeFileSync(
      join(dir, 'flake.nix'),
      `{
  inputs.strata = { url = "path:${join(dir, 'lib')}"; flake = false; };
  outputs = { self, strata }: {
    packages.x86_64-linux.default = (import "\${strata}/lib.nix").image { name = "with-input"; contents = [ (builtins.toFile "note" "hi") ]; };
  };
}
`,
    );
    sh('git', ['init', '-q', '.'], { cwd: dir });
    sh('git', ['add', 'flake.nix'], { cwd: dir });
    const out = await sbom(`${dir}#default`);
    const { spdx, cdx, provenance } = await checkAgainstNix(`${dir}#default`, out);
    const lock = JSON.parse(readFileSync(join(dir, 'flake.lock'), 'utf8')) as { nodes: { strata: { locked: { narHash: string } } } };
    const narHex = sriHex(lock.nodes.strata.locked.narHash);
    assert.deepEqual(spdx.packages.find((p) => p.SPDXID === 'SPDXRef-flake-input-strata')!.checksums, [{ algorithm: 'SHA256', checksumValue: narHex }]);
    assert.ok(
      spdx.relationships.some(
        (r) => r.spdxElementId === 'SPDXRef-flake-input-strata' && r.relationshipType === 'BUILD_DEPENDENCY_OF' && r.relatedSpdxElement === 'SPDXRef-flake',
      ),
    );
    assert.equal(cdx.components.find((c) => c['bom-ref'] === 'nix-flake-input:strata')!.hashes![0]!.content, narHex);
    const dep = provenance.predicate.buildDefinition.resolvedDependencies.find((d) => d.name === 'strata')!;
    assert.deepEqual(dep.digest, { narSha256: narHex });
    assert.match(dep.uri, /^path:.*\?narHash=sha256-/);
  });
});
