// SBOM and provenance documents from closure facts: names parsed as Nix does,
// every store path exactly once with its NAR hash and references, the same
// bytes for the same facts, and output the formats' schemas accept.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { parseFlakeMetadataJson } from '../../nix/flake-metadata.js';
import { encodeNixBase32, parsePathInfoJson, type StorePathInfo } from '../../nix/json.js';
import { parseStoreName } from '../../nix/store-name.js';
import {
  BUILD_TYPE,
  builderFromEnv,
  cycloneDx,
  imageSubject,
  inTotoStatement,
  LOCAL_BUILDER,
  SLSA_PREDICATE_TYPE,
  slsaProvenance,
  spdxDocument,
  type SbomFacts,
} from '../../src/sbom.js';
import { cycloneDxErrors, slsaErrors, spdxErrors, statementErrors } from '../helpers/sbom-schemas.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/nix/${name}`, import.meta.url), 'utf8');
}

const HELLO = '/nix/store/5ny4hqagm20kmrisivssc3blx9z66af5-hello';
const DEP = '/nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-dep';
const DIGEST = `sha256:${'ab'.repeat(32)}` as const;

function facts(over: Partial<SbomFacts> = {}): SbomFacts {
  return {
    image: { name: 'hello', tag: '1.0', digest: DIGEST },
    installable: '/tmp/strata-fx/main#default',
    system: 'x86_64-linux',
    roots: [HELLO],
    closure: parsePathInfoJson(fixture('path-info-2.8-recursive.json')),
    flake: parseFlakeMetadataJson(fixture('flake-metadata-2.8-inputs.json')),
    nixVersion: 'nix (Nix) 2.8.0',
    strataVersion: '0.1.0',
    sourceDateEpoch: 0,
    builder: { id: LOCAL_BUILDER },
    ...over,
  };
}

const sriHex = (sri: string) => Buffer.from(sri.slice(7), 'base64').toString('hex');

describe("parseStoreName (the SBOM's package names and versions)", () => {
  const cases: [string, ReturnType<typeof parseStoreName>][] = [
    ['5ny4hqagm20kmrisivssc3blx9z66af5-hello-2.12', { name: 'hello', version: '2.12' }],
    ['hello-2.12', { name: 'hello', version: '2.12' }],
    ['golden-launcher', { name: 'golden-launcher' }],
    ['golden-app-1.0', { name: 'golden-app', version: '1.0' }],
    ['busybox-static-1.36', { name: 'busybox-static', version: '1.36' }],
    ['python3.11-requests-2.31.0', { name: 'python3.11-requests', version: '2.31.0' }],
    ['openssl-3.0.13-bin', { name: 'openssl', version: '3.0.13', output: 'bin' }],
    ['glibc-2.39-52-dev', { name: 'glibc', version: '2.39-52', output: 'dev' }],
    ['gcc-13.2.0-lib', { name: 'gcc', version: '13.2.0', output: 'lib' }],
    ['bash-5.2p26-man', { name: 'bash', version: '5.2p26', output: 'man' }],
    // Not an output name: stays in the version.
    ['libfoo-1.0-rc1', { name: 'libfoo', version: '1.0-rc1' }],
    ['nss-cacert-3.98-unstable', { name: 'nss-cacert', version: '3.98-unstable' }],
    // No version: an output-like suffix cannot be told from the name.
    ['foo-dev', { name: 'foo-dev' }],
    // Nix splits at any non-letter after '-', not only digits.
    ['foo-_bar', { name: 'foo', version: '_bar' }],
    ['source', { name: 'source' }],
  ];
  for (const [input, want] of cases) it(input, () => assert.deepEqual(parseStoreName(input), want));
});

describe('spdxDocument', () => {
  it('lists every store path once, with its NAR hash, and DEPENDS_ON its references', () => {
    const f = facts();
    const doc = spdxDocument(f);
    assert.equal(spdxErrors(doc), null);
    for (const p of f.closure) {
      const pkgs = doc.packages.filter((x) => x.packageFileName === p.path);
      assert.equal(pkgs.length, 1, p.path);
      const pkg = pkgs[0]!;
      assert.deepEqual(pkg.checksums, [{ algorithm: 'SHA256', checksumValue: sriHex(p.narHash) }]);
      const deps = doc.relationships.filter((r) => r.spdxElementId === pkg.SPDXID && r.relationshipType === 'DEPENDS_ON').map((r) => r.relatedSpdxElement);
      const want = p.references.filter((r) => r !== p.path).map((r) => doc.packages.find((x) => x.packageFileName === r)!.SPDXID);
      assert.deepEqual(deps, want);
      assert.ok(doc.relationships.some((r) => r.spdxElementId === 'SPDXRef-image' && r.relationshipType === 'CONTAINS' && r.relatedSpdxElement === pkg.SPDXID));
    }
    const hello = doc.packages.find((x) => x.packageFileName === HELLO)!;
    assert.equal(hello.SPDXID, 'SPDXRef-5ny4hqagm20kmrisivssc3blx9z66af5');
    const describes = doc.relationships.filter((r) => r.relationshipType === 'DESCRIBES').map((r) => r.relatedSpdxElement);
    assert.deepEqual(describes, ['SPDXRef-image', hello.SPDXID]);
  });

  it('has the image as a container package and the flake inputs as build dependencies', () => {
    const doc = spdxDocument(facts());
    const image = doc.packages.find((p) => p.SPDXID === 'SPDXRef-image')!;
    assert.equal(image.primaryPackagePurpose, 'CONTAINER');
    assert.deepEqual(image.checksums, [{ algorithm: 'SHA256', checksumValue: 'ab'.repeat(32) }]);
    assert.equal(image.externalRefs![0]!.referenceLocator, `pkg:oci/hello@sha256%3A${'ab'.repeat(32)}?tag=1.0`);
    const dep = doc.packages.find((p) => p.SPDXID === 'SPDXRef-flake-input-dep')!;
    assert.equal(dep.versionInfo, 'dcb6b4190930c84f326fd7bd2fb9a058400560df');
    assert.equal(dep.primaryPackagePurpose, 'SOURCE');
    // A local git source is not fetchable by others.
    assert.equal(dep.downloadLocation, 'NOASSERTION');
    const build = doc.relationships.filter((r) => r.relationshipType === 'BUILD_DEPENDENCY_OF').map((r) => `${r.spdxElementId} -> ${r.relatedSpdxElement}`);
    assert.deepEqual(build, [
      'SPDXRef-flake -> SPDXRef-image',
      'SPDXRef-flake-input-data -> SPDXRef-flake',
      'SPDXRef-flake-input-dep -> SPDXRef-flake',
      'SPDXRef-flake-input-data -> SPDXRef-flake-input-dep',
    ]);
  });

  it('gives GitHub inputs a VCS download location and escapes ids SPDX does not allow', () => {
    const flake = parseFlakeMetadataJson(fixture('flake-metadata-doc-github.json'));
    flake.inputs.push({ ...flake.inputs[1]!, id: 'nixpkgs_2', path: 'x/nixpkgs' });
    const doc = spdxDocument(facts({ flake }));
    assert.equal(spdxErrors(doc), null);
    assert.equal(
      doc.packages.find((p) => p.SPDXID === 'SPDXRef-flake-input-nix')!.downloadLocation,
      'git+https://github.com/NixOS/nix@1ab9da915422405452118ebb17b88cdfc90b1e10',
    );
    assert.ok(doc.packages.some((p) => p.SPDXID === 'SPDXRef-flake-input-nixpkgs.5f2'));
  });

  it('takes its time from SOURCE_DATE_EPOCH and its namespace from the content', () => {
    const a = spdxDocument(facts({ sourceDateEpoch: 1700000000 }));
    assert.equal(a.creationInfo.created, '2023-11-14T22:13:20Z');
    const b = spdxDocument(facts({ image: { name: 'hello', tag: '1.0', digest: `sha256:${'cd'.repeat(32)}` } }));
    assert.notEqual(a.documentNamespace, b.documentNamespace);
    // The builder is not part of what the SBOM describes.
    assert.equal(
      JSON.stringify(spdxDocument(facts({ builder: { id: 'https://github.com/o/r/.github/workflows/x.yml@refs/heads/main' } }))),
      JSON.stringify(spdxDocument(facts())),
    );
    assert.match(a.documentNamespace, /^https:\/\/strata\.dev\/spdx\/hello%3A1\.0-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('describes a store-path installable without flake packages', () => {
    const { flake: _, ...rest } = facts();
    const doc = spdxDocument(rest);
    assert.equal(spdxErrors(doc), null);
    assert.equal(doc.packages.length, 3);
  });
});

describe('cycloneDx', () => {
  it('validates against the CycloneDX 1.6 schema', async () => {
    assert.equal(await cycloneDxErrors(cycloneDx(facts())), null);
    assert.equal(await cycloneDxErrors(cycloneDx(facts({ flake: parseFlakeMetadataJson(fixture('flake-metadata-doc-github.json')) }))), null);
  });

  it('has one component per store path, bom-ref its path, and dependencies equal to its references', () => {
    const f = facts();
    const bom = cycloneDx(f);
    for (const p of f.closure) {
      const c = bom.components.filter((x) => x['bom-ref'] === p.path);
      assert.equal(c.length, 1);
      assert.deepEqual(c[0]!.hashes, [{ alg: 'SHA-256', content: sriHex(p.narHash) }]);
      assert.deepEqual(c[0]!.properties, [
        { name: 'nix:store_path', value: p.path },
        { name: 'nix:nar_size', value: String(p.narSize) },
      ]);
      assert.deepEqual(
        bom.dependencies.find((d) => d.ref === p.path)!.dependsOn,
        p.references.filter((r) => r !== p.path),
      );
    }
    assert.equal(bom.metadata.component.type, 'container');
    assert.deepEqual(bom.dependencies[0], { ref: bom.metadata.component['bom-ref'], dependsOn: [HELLO, 'nix-flake'] });
    const inputs = bom.components.filter((c) => c.scope === 'excluded').map((c) => [c['bom-ref'], c.version ?? null]);
    assert.deepEqual(inputs, [
      ['nix-flake', '510d5bf3234fdd9d1fed737879d74fba3fd0c4fb'],
      ['nix-flake-input:data', null],
      ['nix-flake-input:dep', 'dcb6b4190930c84f326fd7bd2fb9a058400560df'],
    ]);
    assert.deepEqual(bom.dependencies.find((d) => d.ref === 'nix-flake-input:dep')!.dependsOn, ['nix-flake-input:data']);
    assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('slsaProvenance', () => {
  it('records the installable, the locked flake and its inputs with their commits and NAR hashes', () => {
    const p = slsaProvenance(facts());
    assert.equal(slsaErrors(p), null);
    assert.equal(p.buildDefinition.buildType, BUILD_TYPE);
    assert.deepEqual(p.buildDefinition.externalParameters, {
      installable: '/tmp/strata-fx/main#default',
      flake: 'git+file:///tmp/strata-fx/main?ref=master&rev=510d5bf3234fdd9d1fed737879d74fba3fd0c4fb',
      system: 'x86_64-linux',
    });
    assert.deepEqual(p.buildDefinition.internalParameters, { strataVersion: '0.1.0', nixVersion: 'nix (Nix) 2.8.0' });
    assert.deepEqual(
      p.buildDefinition.resolvedDependencies.map((d) => [d.name, d.digest]),
      [
        ['flake', { gitCommit: '510d5bf3234fdd9d1fed737879d74fba3fd0c4fb', narSha256: sriHex('sha256-L3UUqiFenkMFMMaaTii4T2i5XFDgx97lxbE4VmDbAys=') }],
        ['data', { narSha256: sriHex('sha256-lPn5uYyShsqmKtf2I0o1zdpi0ZFXwTZhpxnZaWmDzhU=') }],
        ['dep', { gitCommit: 'dcb6b4190930c84f326fd7bd2fb9a058400560df', narSha256: sriHex('sha256-/PUWcjIboLO+VRcgtxfRbau055N8gTlxEnAJ+SM+R+M=') }],
      ],
    );
    assert.deepEqual(p.runDetails, { builder: { id: LOCAL_BUILDER } });
  });

  it('has no resolved dependencies for a store path', () => {
    const { flake: _, ...rest } = facts({ installable: HELLO });
    const p = slsaProvenance(rest);
    assert.deepEqual(p.buildDefinition.resolvedDependencies, []);
    assert.deepEqual(p.buildDefinition.externalParameters, { installable: HELLO, system: 'x86_64-linux' });
  });
});

describe('builderFromEnv', () => {
  it('is the workflow and run in GitHub Actions, the local builder elsewhere', () => {
    const gh = {
      GITHUB_ACTIONS: 'true',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'octo/app',
      GITHUB_WORKFLOW_REF: 'octo/app/.github/workflows/release.yml@refs/tags/v1',
      GITHUB_RUN_ID: '42',
      GITHUB_RUN_ATTEMPT: '2',
    };
    assert.deepEqual(builderFromEnv(gh), {
      id: 'https://github.com/octo/app/.github/workflows/release.yml@refs/tags/v1',
      invocationId: 'https://github.com/octo/app/actions/runs/42/attempts/2',
    });
    assert.deepEqual(builderFromEnv({}), { id: LOCAL_BUILDER });
    assert.deepEqual(builderFromEnv({ ...gh, GITHUB_ACTIONS: undefined }), { id: LOCAL_BUILDER });
    const p = slsaProvenance(facts({ builder: builderFromEnv(gh) }));
    assert.equal(slsaErrors(p), null);
    assert.deepEqual(p.runDetails.metadata, { invocationId: 'https://github.com/octo/app/actions/runs/42/attempts/2' });
  });
});

describe('inTotoStatement', () => {
  it('wraps a predicate for the image subject', () => {
    const s = inTotoStatement([imageSubject('hello', DIGEST)], SLSA_PREDICATE_TYPE, slsaProvenance(facts()));
    assert.equal(statementErrors(s), null);
    assert.deepEqual(s.subject, [{ name: 'hello', digest: { sha256: 'ab'.repeat(32) } }]);
    assert.deepEqual(Object.keys(s), ['_type', 'subject', 'predicateType', 'predicate']);
  });
});

describe('the validators', () => {
  it('reject what the specs forbid, so a pass above means something', async () => {
    const bom = cycloneDx(facts());
    bom.components[0]!.hashes![0]!.content = 'not hex';
    assert.notEqual(await cycloneDxErrors(bom), null);
    const spdx = spdxDocument(facts());
    assert.match(spdxErrors({ ...spdx, packages: [{ ...spdx.packages[0]!, licenseWhatever: 'x' }] })!, /Unrecognized key/);
    assert.match(
      spdxErrors({
        ...spdx,
        relationships: [...spdx.relationships, { spdxElementId: 'SPDXRef-nope', relationshipType: 'CONTAINS', relatedSpdxElement: 'SPDXRef-image' }],
      })!,
      /unknown element SPDXRef-nope/,
    );
    assert.match(spdxErrors({ ...spdx, creationInfo: { ...spdx.creationInfo, created: '1970-01-01T00:00:00.000Z' } })!, /created/);
    assert.notEqual(statementErrors({ ...inTotoStatement([imageSubject('x', DIGEST)], SLSA_PREDICATE_TYPE, {}), subject: [] }), null);
    assert.notEqual(slsaErrors({ buildDefinition: { buildType: BUILD_TYPE }, runDetails: { builder: { id: LOCAL_BUILDER } } }), null);
  });
});

// Random closures: names with and without versions and outputs, any references.
const storeName = fc.tuple(
  fc.constantFrom('hello', 'glibc', 'python3.11-requests', 'a'),
  fc.option(fc.constantFrom('2.12', '1.0-rc1', '2.39-52'), { nil: undefined }),
  fc.option(fc.constantFrom('bin', 'dev', 'lib'), { nil: undefined }),
);
const closureArb = fc
  .uniqueArray(fc.tuple(fc.uint8Array({ minLength: 20, maxLength: 20 }), storeName, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat()), {
    minLength: 1,
    maxLength: 12,
    selector: ([h]) => Buffer.from(h).toString('hex'),
  })
  .chain((entries) => {
    const paths = entries.map(([h, [n, v, o]]) => `/nix/store/${encodeNixBase32(h)}-${[n, v, o].filter(Boolean).join('-')}`);
    return fc.tuple(
      fc.constant(entries),
      fc.constant(paths),
      fc.array(fc.subarray(paths), { minLength: paths.length, maxLength: paths.length }),
      fc.subarray(paths, { minLength: 1 }),
    );
  })
  .map(([entries, paths, refs, roots]): { closure: StorePathInfo[]; roots: string[] } => ({
    closure: entries
      .map(([, , nar, size], i) => ({
        path: paths[i]!,
        narHash: `sha256-${Buffer.from(nar).toString('base64')}`,
        narSize: size,
        references: [...refs[i]!].sort(),
      }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
    roots: [...roots].sort(),
  }));

describe('any closure', () => {
  it('appears whole in both SBOMs, each path once, dependencies = references, same bytes twice', async () => {
    await fc.assert(
      fc.asyncProperty(closureArb, async ({ closure, roots }) => {
        const f = facts({ closure, roots });
        const spdx = spdxDocument(f);
        const bom = cycloneDx(f);
        assert.equal(spdxErrors(spdx), null);
        assert.equal(await cycloneDxErrors(bom), null);
        const spdxPaths = spdx.packages.flatMap((p) => (p.packageFileName ? [p.packageFileName] : []));
        const cdxPaths = bom.components.filter((c) => c.scope !== 'excluded').map((c) => c['bom-ref']);
        assert.deepEqual(
          spdxPaths,
          closure.map((p) => p.path),
        );
        assert.deepEqual(
          cdxPaths,
          closure.map((p) => p.path),
        );
        for (const p of closure)
          assert.deepEqual(
            bom.dependencies.find((d) => d.ref === p.path)!.dependsOn,
            p.references.filter((r) => r !== p.path),
          );
        // Same facts, fresh objects: the same bytes.
        const again = structuredClone(f);
        assert.equal(JSON.stringify(spdxDocument(again)), JSON.stringify(spdx));
        assert.equal(JSON.stringify(cycloneDx(again)), JSON.stringify(bom));
        assert.equal(JSON.stringify(slsaProvenance(again)), JSON.stringify(slsaProvenance(f)));
      }),
      { numRuns: 60 },
    );
  });
});
