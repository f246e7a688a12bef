// strata diff's engine on images made in memory: field paths, layer
// alignment, files grouped by store path, platforms, indexes, and layers whose
// bytes do not match their digests.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'vitest';
import tar from 'tar-stream';
import { alignLayers } from '../../compare/align.js';
import { diffTargets } from '../../compare/diff.js';
import { diffFields } from '../../compare/fields.js';
import type { CompareImage, CompareIndex } from '../../compare/model.js';
import { renderDiff } from '../../compare/render.js';
import type { Descriptor, ImageConfig, Platform } from '../../oci/types.js';
import { sha256 } from '../../base/hash-tap.js';
import { checkedTar } from '../../src/compare-sources.js';
import { StrataError } from '../../base/errors.js';

type Entry = { name: string; content?: string; mode?: number; type?: 'file' | 'directory' | 'symlink'; linkname?: string; mtime?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'file' ? 0o444 : 0o555),
      mtime: new Date((e.mtime ?? 0) * 1000),
      uid: 0,
      gid: 0,
      ...(e.linkname ? { linkname: e.linkname } : {}),
    };
    if (type === 'file') pack.entry(header, e.content ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const H1 = '0'.repeat(31) + '1';
const H2 = '0'.repeat(31) + '2';
const H3 = '0'.repeat(31) + '3';
const sp = (hash: string, name: string, rest = '') => `nix/store/${hash}-${name}${rest ? `/${rest}` : ''}`;

interface MadeLayer {
  tar: Buffer;
  gz: Buffer;
}

async function layer(entries: Entry[]): Promise<MadeLayer> {
  const t = await tarOf(entries);
  return { tar: t, gz: gzipSync(t) };
}

/** An image of gzip layers, each readable through the real checkedTar; `config` fields override. */
function image(layers: MadeLayer[], config: Partial<ImageConfig> = {}, annotations: Record<string, string> = {}): CompareImage {
  const descriptors: Descriptor[] = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l.gz), size: l.gz.length }));
  const json: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l.tar)) },
    config: { Env: ['A=1'] },
    ...config,
  };
  const configBytes = JSON.stringify(json);
  const manifest = {
    schemaVersion: 2 as const,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length },
    layers: descriptors,
    annotations,
  };
  return {
    kind: 'image',
    manifest: { digest: sha256(JSON.stringify(manifest)), mediaType: manifest.mediaType, json: manifest },
    config: { digest: sha256(configBytes), json },
    layers: layers.map((l, i) => ({
      descriptor: descriptors[i]!,
      diffID: sha256(l.tar),
      openTar: () => checkedTar(Readable.from([l.gz]), `layer ${i + 1}`, sha256(l.tar), { descriptor: descriptors[i]!, compression: 'gzip' }),
    })),
  };
}

function index(children: CompareImage[], annotations: Record<string, string> = {}): CompareIndex {
  const manifests = children.map((c) => ({
    mediaType: c.manifest!.mediaType,
    digest: c.manifest!.digest,
    size: 1,
    platform: { os: c.config.json.os, architecture: c.config.json.architecture } as Platform,
  }));
  const json = { schemaVersion: 2 as const, mediaType: 'application/vnd.oci.image.index.v1+json', manifests, annotations };
  return {
    kind: 'index',
    manifest: { digest: sha256(JSON.stringify(json)), mediaType: json.mediaType, json },
    children: children.map((c, i) => ({ descriptor: manifests[i]!, open: async () => c })),
  };
}

const app = (greet: string, hash = H1) => [
  { name: sp(hash, 'app-1.0'), type: 'directory' as const },
  { name: sp(hash, 'app-1.0', 'bin'), type: 'directory' as const },
  { name: sp(hash, 'app-1.0', 'bin/greet'), content: greet, mode: 0o555 },
  { name: sp(hash, 'app-1.0', 'bin/hi'), type: 'symlink' as const, linkname: 'greet' },
];
const data = (conf: string, hash = H2) => [
  { name: sp(hash, 'data'), type: 'directory' as const },
  { name: sp(hash, 'data', 'settings.conf'), content: conf },
];
const root = (passwd: string) => [
  { name: 'etc', type: 'directory' as const },
  { name: 'etc/passwd', content: passwd },
];

describe('diffFields', () => {
  it('names each field by its path, as it would be written', () => {
    const got = diffFields(
      { config: { Env: ['A=1'], User: 'app' }, annotations: { 'dev.strata.x': '1' }, history: [{ c: 'a' }, { c: 'b' }] },
      { config: { Env: ['A=2'], WorkingDir: '/' }, annotations: { 'dev.strata.x': '2' }, history: [{ c: 'a' }, { c: 'B' }] },
    );
    assert.deepEqual(got, [
      { path: 'annotations["dev.strata.x"]', a: '1', b: '2' },
      { path: 'config.Env[0]', a: 'A=1', b: 'A=2' },
      { path: 'config.User', a: 'app' },
      { path: 'config.WorkingDir', b: '/' },
      { path: 'history[1].c', a: 'b', b: 'B' },
    ]);
  });
  it('tells a list of values that grew by what each side alone has, not by every shifted item', () => {
    assert.deepEqual(diffFields({ Env: ['A=1', 'B=2'] }, { Env: ['A=1', 'X=9', 'B=2'] }), [
      { path: 'Env', a: ['A=1', 'B=2'], b: ['A=1', 'X=9', 'B=2'], onlyInA: [], onlyInB: ['X=9'] },
    ]);
  });
  it('skips what is compared elsewhere, and finds nothing in equal documents', () => {
    assert.deepEqual(
      diffFields({ layers: [1], x: { y: [1, { z: 2 }] } }, { layers: [2], x: { y: [1, { z: 2 }] } }, (p) => p === 'layers'),
      [],
    );
  });
});

describe('alignLayers', () => {
  it('pairs equal keys, then what lies between them in order, the rest on one side', () => {
    assert.deepEqual(alignLayers(['a', 'b', 'c'], ['a', 'B', 'c']), [
      { a: 0, b: 0, same: true },
      { a: 1, b: 1, same: false },
      { a: 2, b: 2, same: true },
    ]);
    assert.deepEqual(alignLayers(['a', 'c'], ['a', 'b', 'c']), [{ a: 0, b: 0, same: true }, { b: 1 }, { a: 1, b: 2, same: true }]);
    assert.deepEqual(alignLayers(['a', 'x', 'y'], ['a', 'z']), [{ a: 0, b: 0, same: true }, { a: 1, b: 1, same: false }, { a: 2 }]);
    assert.deepEqual(alignLayers([], ['a']), [{ b: 0 }]);
  });
});

describe('diffTargets', () => {
  it('identical images: nothing is read, and the answer is yes', async () => {
    const layers = [await layer(app('hi')), await layer(root('root'))];
    const r = await diffTargets(image(layers), image(layers));
    assert.equal(r.identical, true);
    assert.equal(r.images[0]!.layers.length, 0);
  });

  it('pinpoints one changed file in one store path, and leaves the other layers alone', async () => {
    const a = image([await layer(app('hi')), await layer(data('x=1')), await layer(root('root'))]);
    const b = image([await layer(app('hi')), await layer(data('x=2')), await layer(root('root'))]);
    const r = await diffTargets(a, b);
    assert.equal(r.identical, false);
    const d = r.images[0]!;
    assert.deepEqual(
      d.layers.map((l) => l.status),
      ['identical', 'differs', 'identical'],
    );
    assert.equal(d.storePaths.length, 1);
    const s = d.storePaths[0]!;
    assert.equal(s.a, `/nix/store/${H2}-data`);
    assert.equal(s.b, s.a);
    assert.deepEqual(s.layer, { a: 2, b: 2 });
    assert.deepEqual(
      s.files.map((f) => [f.path, f.change, f.facts]),
      [['settings.conf', 'changed', ['sha256']]],
    );
    assert.equal(s.files[0]!.a!.sha256, sha256('x=1'));
    assert.deepEqual(d.files, []);
    assert.match(d.hints.join('\n'), /has other contents in A and B under the same store path/);
    const text = renderDiff(r, { a: 'A', b: 'B' }, { limit: 10 });
    assert.match(text, new RegExp(`~ /nix/store/${H2}-data \\(layer 2\\): 1 entry differs`));
    assert.match(text, /~ settings\.conf: content sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}/);
  });

  it('pairs a store path whose hash changed with the one of the same name, and lists what only one side has', async () => {
    const a = image([await layer([...app('hi', H1), ...data('x=1', H2)])]);
    const b = image([await layer([...app('hello', H3), ...[{ name: sp(H2, 'extra'), content: 'e' }]])]);
    const d = (await diffTargets(a, b)).images[0]!;
    const byName = Object.fromEntries(d.storePaths.map((s) => [s.name, s]));
    assert.equal(byName['app-1.0']!.change, 'changed');
    assert.equal(byName['app-1.0']!.a, `/nix/store/${H1}-app-1.0`);
    assert.equal(byName['app-1.0']!.b, `/nix/store/${H3}-app-1.0`);
    assert.deepEqual(
      byName['app-1.0']!.files.map((f) => [f.path, f.facts]),
      [['bin/greet', ['size', 'sha256']]],
    );
    assert.equal(byName.data!.change, 'removed');
    assert.equal(byName.data!.fileCount.a, 2);
    assert.equal(byName.extra!.change, 'added');
    assert.match(d.hints.join('\n'), /built from other inputs/);
  });

  it('a store path that moved to another layer with the same files is said to have moved, not changed', async () => {
    const a = image([await layer([...app('hi'), ...data('x')]), await layer(root('r'))]);
    const b = image([await layer(app('hi')), await layer(data('x')), await layer(root('r'))]);
    const d = (await diffTargets(a, b)).images[0]!;
    assert.deepEqual(
      d.layers.map((l) => l.status),
      ['differs', 'only-in-b', 'identical'],
    );
    assert.deepEqual(
      d.storePaths.map((s) => [s.name, s.change, s.layer]),
      [['data', 'moved', { a: 1, b: 2 }]],
    );
  });

  it('files outside the store are compared by path, with their layer; only-mtime changes point at SOURCE_DATE_EPOCH', async () => {
    const a = image([await layer(app('hi'))], { created: '1970-01-01T00:00:00Z' });
    const b = image([await layer(app('hi').map((e) => ({ ...e, mtime: 1700000000 })))], { created: '2023-11-14T22:13:20Z' });
    const d = (await diffTargets(a, b)).images[0]!;
    assert.ok(d.storePaths[0]!.files.every((f) => f.facts.join() === 'mtime'));
    assert.deepEqual(d.config, [{ path: 'created', a: '1970-01-01T00:00:00Z', b: '2023-11-14T22:13:20Z' }]);
    assert.match(d.hints.join('\n'), /another SOURCE_DATE_EPOCH/);
    const c = (await diffTargets(image([await layer(root('root:x:0'))]), image([await layer(root('root:x:1'))]))).images[0]!;
    assert.deepEqual(
      c.files.map((f) => [f.path, f.change, f.facts, f.layer]),
      [['etc/passwd', 'changed', ['sha256'], { a: 1, b: 1 }]],
    );
  });

  it('a config field that differs is named, with no layer read', async () => {
    const layers = [await layer(app('hi'))];
    const d = (await diffTargets(image(layers), image(layers, { config: { Env: ['A=1', 'FOO=1'] } }))).images[0]!;
    assert.deepEqual(d.config, [{ path: 'config.Env', a: ['A=1'], b: ['A=1', 'FOO=1'], onlyInA: [], onlyInB: ['FOO=1'] }]);
    assert.deepEqual(
      d.layers.map((l) => l.status),
      ['identical'],
    );
    assert.deepEqual(d.storePaths, []);
  });

  it('the same tar compressed otherwise is recompressed, and its files are not read', async () => {
    const l = await layer(app('hi'));
    const a = image([l]);
    const b = image([{ tar: l.tar, gz: gzipSync(l.tar, { level: 1 }) }]);
    b.layers[0]!.openTar = () => {
      throw new Error('must not be read');
    };
    const d = (await diffTargets(a, b)).images[0]!;
    assert.deepEqual(
      d.layers.map((x) => x.status),
      ['recompressed'],
    );
  });

  it('refuses images of two platforms, and finds an index image for the other side', async () => {
    const amd = image([await layer(app('hi'))]);
    const arm = image([await layer(app('hi-arm'))], { architecture: 'arm64' });
    await assert.rejects(
      diffTargets(amd, arm),
      (e: unknown) => e instanceof StrataError && e.code === 'platform' && /A is a linux\/amd64 image and B a linux\/arm64 one/.test(e.message),
    );
    const idx = index([amd, arm]);
    const r = await diffTargets(idx, arm);
    assert.equal(r.identical, true, "the index's arm64 image is B");
    assert.equal(r.images[0]!.note, 'A is an index: its linux/arm64 image is compared');
    assert.equal(r.images[0]!.platform, 'linux/arm64');
    await assert.rejects(
      diffTargets(index([amd]), arm),
      (e: unknown) => e instanceof StrataError && e.code === 'platform' && /A is an index with no linux\/arm64 image \(it has linux\/amd64\)/.test(e.message),
    );
    await assert.rejects(diffTargets(amd, amd, { os: 'linux', architecture: 'arm64' }), /A is a linux\/amd64 image, not linux\/arm64/);
  });

  it('two indexes: platforms only one has, each shared platform compared, and an order that differs', async () => {
    const amd = image([await layer(app('hi'))]);
    const amd2 = image([await layer(app('hi2'))]);
    const arm = image([await layer(app('hi'))], { architecture: 'arm64' });
    const r = await diffTargets(index([amd, arm]), index([amd2]));
    assert.deepEqual(r.index!.onlyInA, ['linux/arm64']);
    assert.deepEqual(
      r.images.map((i) => [i.platform, i.identical]),
      [['linux/amd64', false]],
    );
    const order = await diffTargets(index([amd, arm]), index([arm, amd]));
    assert.equal(order.identical, false);
    assert.deepEqual(
      order.index!.fields.map((f) => f.path),
      ['manifests'],
    );
    const same = await diffTargets(index([amd, arm]), index([amd, arm]));
    assert.equal(same.identical, true);
  });

  it('a layer whose bytes do not match its digest is an error, not a difference', async () => {
    const good = await layer(data('x=1'));
    const a = image([good]);
    const b = image([await layer(data('x=2'))]);
    // B's descriptor now names bytes it does not get.
    b.layers[0]!.openTar = () =>
      checkedTar(Readable.from([good.gz]), 'layer 1', b.layers[0]!.diffID, { descriptor: b.layers[0]!.descriptor!, compression: 'gzip' });
    await assert.rejects(diffTargets(a, b), (e: unknown) => e instanceof StrataError && /layer 1 \(blob sha256:[0-9a-f]{64}\) is damaged/.test(e.message));
    // A blob that is what its digest says but not the tar the config names: the check comes after the tar's last entry.
    const c = image([await layer(data('x=2'))]);
    c.layers[0]!.openTar = () =>
      checkedTar(Readable.from([good.gz]), 'layer 1', c.layers[0]!.diffID, {
        descriptor: { ...c.layers[0]!.descriptor!, digest: sha256(good.gz), size: good.gz.length },
        compression: 'gzip',
      });
    await assert.rejects(
      diffTargets(a, c),
      (e: unknown) => e instanceof StrataError && /layer 1 \(tar, diffID sha256:[0-9a-f]{64}\) is damaged/.test(e.message),
    );
  });
});
