// Nothing from a registry, a layout, an archive or the layer cache reaches a
// path, a URL or an allocation unchecked (issue 12, point 2). The registry is a
// hostile one written here (distribution itself refuses bad digests, so it
// cannot serve them): it speaks the distribution API and lies in the JSON.
// Each case runs the real CLI under a time limit, since the defect it guards
// against is a read that never ends.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { LayerCache } from '../../layers/cache.js';
import { canonicalJson } from '../../base/canonical.js';
import { nixEnv, removeDir, repoRoot, strataBin, tempDir } from '../helpers/strata.js';
import { MediaType } from '../../oci/types.js';
import { sha256 } from '../../base/hash-tap.js';

const sha = sha256;
const OCI_MANIFEST: string = MediaType.ociManifest;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const TIME_LIMIT_MS = 30_000;

interface Run {
  code: number;
  stderr: string;
  ms: number;
}

/** The CLI, killed when it outlives `ms` (code -1): a hang fails the test instead of stalling it. */
function runBounded(args: string[], ms = TIME_LIMIT_MS): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [strataBin, ...args], { cwd: repoRoot, env: nixEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Exit `code` and exactly one error line, matching `pattern`. */
function expectOneLine(r: Run, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code} after ${r.ms} ms: ${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('strata: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, pattern);
}

const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha('layer')] } }));
const configDescriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length };
const goodLayer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha('layer'), size: 5 };

/** A manifest whose first layer descriptor is `layer` (raw JSON: anything a hostile registry may send). */
function manifestWith(layer: unknown, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers: [layer], ...extra }));
}

/**
 * A registry that serves `manifests` by tag and digest and `blobs` by digest;
 * a blob given as a number is that many bytes of zeros, written as the client
 * reads them (backpressure), so `sent` says how much the client took.
 */
class HostileRegistry {
  readonly manifests = new Map<string, { bytes: Buffer; type: string }>();
  readonly blobs = new Map<string, Buffer | number>();
  readonly paths: string[] = [];
  sent = 0;
  private server!: Server;
  host = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      this.paths.push(`${req.method} ${path}`);
      if (path === '/v2/' || path === '/v2') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const m = path.match(/^\/v2\/app\/(manifests|blobs)\/(.+)$/);
      const found = m?.[1] === 'manifests' ? this.manifests.get(m[2]!) : undefined;
      if (found) {
        res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha(found.bytes), 'content-length': found.bytes.length });
        return void res.end(req.method === 'HEAD' ? undefined : found.bytes);
      }
      const blob = m?.[1] === 'blobs' ? this.blobs.get(m[2]!) : undefined;
      if (blob === undefined)
        return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}');
      if (Buffer.isBuffer(blob)) return void res.writeHead(200, { 'content-length': blob.length }).end(req.method === 'HEAD' ? undefined : blob);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (this.sent < blob) {
          this.sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Serves `bytes` as app:latest (and by digest). */
  serve(bytes: Buffer, type = OCI_MANIFEST): void {
    this.manifests.clear();
    this.manifests.set('latest', { bytes, type });
    this.manifests.set(sha(bytes), { bytes, type });
    this.paths.length = 0;
    this.sent = 0;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

let reg: HostileRegistry;
let work: string;
let n = 0;
beforeAll(async () => {
  reg = new HostileRegistry();
  await reg.start();
  reg.blobs.set(sha(config), config);
  reg.blobs.set(sha('layer'), Buffer.from('layer'));
  work = tempDir('strata-untrusted-');
});
afterAll(async () => {
  await reg.stop();
  removeDir(work);
});

/** A fresh output directory inside its own parent, so anything written beside it shows. */
function outDir(): { parent: string; dir: string } {
  const parent = join(work, `out${n++}`);
  mkdirSync(parent);
  return { parent, dir: join(parent, 'layout') };
}

/** strata pull of app:latest from the hostile registry into a fresh layout. */
async function pull(): Promise<Run & { parent: string }> {
  const { parent, dir } = outDir();
  return { ...(await runBounded(['pull', `${reg.host}/app:latest`, '-o', `oci:${dir}`])), parent };
}

describe('a registry that lies in its JSON', () => {
  it('a layer digest that climbs out of the layout (sha256:../../dev/zero) is refused, naming the field, before any path is made of it', async () => {
    const climb = `sha256:${'../'.repeat(16)}dev/zero`;
    reg.serve(manifestWith({ ...goodLayer, digest: climb, size: 0 }));
    const r = await pull();
    expectOneLine(r, 7, /manifest .*app:latest: layers\[0\]\.digest "sha256:\.\.\/\.\.\/.*" is not a sha256 digest/);
    assert.deepEqual(readdirSync(r.parent), [], 'nothing was left beside the output');
    assert.ok(!reg.paths.some((p) => p.includes('..')), `no URL was made of it: ${reg.paths.join(', ')}`);
  });

  it('a child digest of an index that climbs out is refused the same way', async () => {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:../../../etc/passwd', size: 10, platform: { os: 'linux', architecture: 'amd64' } }],
      }),
    );
    reg.serve(index, OCI_INDEX);
    expectOneLine(await pull(), 7, /index .*app:latest: manifests\[0\]\.digest "sha256:\.\.\/\.\.\/\.\.\/etc\/passwd" is not a sha256 digest/);
  });

  const hex = createHash('sha256').update('x').digest('hex');
  const cases: [string, unknown, RegExp][] = [
    ['a hex part one short', { ...goodLayer, digest: `sha256:${hex.slice(1)}` }, /layers\[0\]\.digest "sha256:[0-9a-f]{63}" is not a sha256 digest/],
    ['an uppercase hex part', { ...goodLayer, digest: `sha256:${hex.toUpperCase()}` }, /layers\[0\]\.digest "sha256:[0-9A-F]{64}" is not a sha256 digest/],
    ['an algorithm Strata does not handle', { ...goodLayer, digest: `md5:${hex.slice(0, 32)}` }, /layers\[0\]\.digest "md5:[0-9a-f]{32}" .*sha256/],
    ['a negative size', { ...goodLayer, size: -1 }, /layers\[0\]\.size -1 is negative/],
    ['a fractional size', { ...goodLayer, size: 1.5 }, /layers\[0\]\.size 1\.5 is not a whole number/],
    ['a size beyond any file', { ...goodLayer, size: 2 ** 60 }, /layers\[0\]\.size 1152921504606847000 is larger than/],
    ['a size that is a string', { ...goodLayer, size: '5' }, /layers\[0\]\.size "5" is not a number/],
    ['a media type that is not type/subtype', { ...goodLayer, mediaType: 'tar gzip' }, /layers\[0\]\.mediaType "tar gzip" is not a media type/],
    ['an annotation that is not a string', { ...goodLayer, annotations: { 'org.example': 5 } }, /layers\[0\]\.annotations\["org\.example"\] 5 is not a string/],
    ['a missing digest', { mediaType: goodLayer.mediaType, size: 5 }, /layers\[0\]\.digest is missing/],
  ];
  for (const [what, layer, pattern] of cases) {
    it(`${what} is exit 7 with one line naming the field`, async () => {
      reg.serve(manifestWith(layer));
      const r = await pull();
      expectOneLine(r, 7, pattern);
      assert.ok(r.stderr.includes(`manifest from ${reg.host}/app:latest: `), r.stderr);
    });
  }

  it('a blob body longer than its descriptor declares is cut at the declared size, not read to its end', async (t) => {
    const endless = sha('endless');
    reg.blobs.set(endless, 256 * 2 ** 20); // 256 MiB of zeros, for a descriptor of 16 bytes
    reg.serve(manifestWith({ ...goodLayer, digest: endless, size: 16 }));
    const r = await pull();
    expectOneLine(r, 7, /blob sha256:[0-9a-f]{64} .*longer than the 16 bytes/);
    await t.annotate(`the registry wrote ${reg.sent} bytes of 256 MiB before strata stopped reading`);
    // What the sockets buffer between the two ends is all that may pass.
    assert.ok(reg.sent < 16 * 2 ** 20, `the registry wrote ${reg.sent} bytes before strata stopped reading`);
  });

  it('a config that declares 1 GiB is refused before it is read into memory (strata index reads configs whole)', async () => {
    const huge = sha('huge config');
    reg.blobs.set(huge, 2 ** 30);
    reg.serve(manifestWith(goodLayer, { config: { ...configDescriptor, digest: huge, size: 2 ** 30 } }));
    const r = await runBounded(['index', `${reg.host}/app:latest`, '-o', `oci:${outDir().dir}`]);
    expectOneLine(r, 7, /blob sha256:[0-9a-f]{64} declares 1073741824 bytes, more than the 67108864 Strata reads into memory/);
    assert.ok(reg.sent < 16 * 2 ** 20, `the registry wrote ${reg.sent} bytes`);
  });
});

describe('an OCI layout or archive on disk that lies in its JSON', () => {
  /** A layout holding the hostile registry's config and `manifest`, with index.json as given. */
  function layout(manifest: Buffer, index?: unknown): string {
    const dir = join(work, `layout${n++}`);
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    for (const b of [config, manifest]) writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    writeFileSync(
      join(dir, 'index.json'),
      JSON.stringify(index ?? { schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: sha(manifest), size: manifest.length }] }),
    );
    return dir;
  }

  it('index.json naming a digest that climbs out is exit 2, naming the field', async () => {
    const m = manifestWith(goodLayer);
    const dir = layout(m, { schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:../../../../../../dev/zero', size: 0 }] });
    const { dir: out } = outDir();
    expectOneLine(
      await runBounded(['copy', `oci:${dir}`, `oci:${out}`]),
      2,
      /index\.json of oci:.*: manifests\[0\]\.digest "sha256:\.\.\/.*" is not a sha256 digest/,
    );
  });

  it('an oci-archive whose index.json names a digest that climbs out is exit 2, naming the field', async () => {
    const dir = layout(manifestWith(goodLayer), {
      schemaVersion: 2,
      manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${'../'.repeat(8)}etc/passwd`, size: 100 }],
    });
    const archive = `${dir}.tar`;
    execFileSync('tar', ['-cf', archive, '-C', dir, '.']);
    const { dir: out } = outDir();
    expectOneLine(
      await runBounded(['copy', `oci-archive:${archive}`, `oci:${out}`]),
      2,
      /index\.json of oci-archive:.*: manifests\[0\]\.digest "sha256:\.\.\/.*" is not a sha256 digest/,
    );
  });

  it('a manifest in the layout with a bad layer digest is exit 2, naming the field', async () => {
    const dir = layout(manifestWith({ ...goodLayer, digest: `sha256:${'../'.repeat(16)}dev/zero`, size: 0 }));
    const { dir: out } = outDir();
    const r = await runBounded(['copy', `oci:${dir}`, `oci:${out}`]);
    expectOneLine(r, 2, /manifest .* in oci:.*: layers\[0\]\.digest "sha256:\.\.\/.*" is not a sha256 digest/);
    assert.ok(!existsSync(out));
  });
});

describe('a layer cache entry that lies', () => {
  /** Writes an entry whose checksum is right, so only the grammar can catch it. */
  function entry(cache: LayerCache, key: string, layer: Record<string, unknown>): void {
    writeFileSync(join(cache.dir, 'entries', `${key.slice(7)}.json`), JSON.stringify({ v: 1, key, layer, check: sha(canonicalJson({ key, layer })) }));
  }
  const good = { digest: sha('c'), diffID: sha('d'), size: 10, uncompressedSize: 20 };

  it('an entry with a digest that climbs out, or a negative size, is dropped as damaged, not used', async () => {
    const cache = (await LayerCache.open(join(work, 'cache')))!;
    const keys = [sha('k1'), sha('k2'), sha('k3')];
    entry(cache, keys[0]!, { ...good, digest: 'sha256:../../../../etc/passwd' });
    entry(cache, keys[1]!, { ...good, size: -10 });
    entry(cache, keys[2]!, good);
    assert.equal(await cache.get(keys[0]!), undefined);
    assert.equal(await cache.get(keys[1]!), undefined, 'a negative size is damage');
    assert.deepEqual(await cache.get(keys[2]!), good, 'a sound entry is still used');
    assert.deepEqual(readdirSync(join(cache.dir, 'entries')), [`${keys[2]!.slice(7)}.json`], 'the damaged entries are removed');
  });
});
