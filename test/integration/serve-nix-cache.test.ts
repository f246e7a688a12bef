// Replicas sharing store paths through a Nix binary cache (serve --nix-cache):
// replica A builds on a pull and copies the closure to a file:// cache, signed;
// replica B, on a second machine (an empty /nix, max-jobs = 0: it cannot
// build), substitutes it and serves the same manifest; a cache whose paths are
// unsigned, or signed by a key B does not trust, is refused and the pull fails
// with the bridge's 503.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { startServeOnSecondMachine } from '../helpers/second-machine.js';
import { events, eventually } from '../helpers/serve-log.js';
import { startServe, type Served } from '../helpers/serve.js';
import { expectFailure, nixEnv, prepareHello, removeDir, repoRoot, runStrata, sh, tempDir } from '../helpers/strata.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const KEY_NAME = 'strata-replicas-test-1';

async function pullManifest(s: Served, name: string): Promise<Response> {
  return fetch(`${s.url}/v2/${name}/manifests/latest`, { headers: { accept: OCI_MANIFEST } });
}

/** Every narinfo in a file:// cache, as fields (Sig may repeat). */
function narinfos(cache: string): Map<string, string>[] {
  return readdirSync(cache)
    .filter((f) => f.endsWith('.narinfo'))
    .map((f) => {
      const m = new Map<string, string>();
      for (const line of readFileSync(join(cache, f), 'utf8').trim().split('\n')) {
        const i = line.indexOf(': ');
        const [k, v] = [line.slice(0, i), line.slice(i + 2)];
        m.set(k, m.has(k) ? `${m.get(k)}\n${v}` : v);
      }
      return m;
    });
}

/** Whether `publicKey` (NAME:BASE64) made one of the narinfo's signatures over Nix's fingerprint of it. */
function signedBy(info: Map<string, string>, publicKey: string): boolean {
  const [name, b64] = publicKey.split(':') as [string, string];
  const refs = (info.get('References') ?? '')
    .split(' ')
    .filter(Boolean)
    .map((r) => `/nix/store/${r}`);
  const fingerprint = `1;${info.get('StorePath')};${info.get('NarHash')};${info.get('NarSize')};${refs.join(',')}`;
  // Ed25519 public key as SPKI DER: the fixed prefix, then the 32 bytes.
  const key = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(b64, 'base64')]),
    format: 'der',
    type: 'spki',
  });
  return (info.get('Sig') ?? '')
    .split('\n')
    .filter((s) => s.startsWith(`${name}:`))
    .some((s) => verify(null, Buffer.from(fingerprint), key, Buffer.from(s.slice(name.length + 1), 'base64')));
}

describe('strata serve --nix-cache: replicas share store paths through a signed binary cache', () => {
  const work = tempDir();
  const cache = join(work, 'cache');
  const keyFile = join(work, 'cache-key.sec');
  let publicKey: string;
  let hello: string;
  const servers: Served[] = [];
  let a: Served;
  let digest: string;

  const cacheArgs = (dir: string) => ['--image', `hello=${hello}#image`, '--nix-cache', `file://${dir}`, '--nix-cache-key', keyFile];
  /** A replica on a second machine: an empty store, and no builds (max-jobs = 0). */
  const replica = async (dir: string, label: string) => {
    const layers = join(work, `layers-${label}`);
    mkdirSync(layers);
    const s = await startServeOnSecondMachine(join(work, `root-${label}`), cacheArgs(dir), {
      env: { ...nixEnv(), STRATA_CACHE_DIR: layers },
      nixConfig: ['max-jobs = 0'],
    });
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    hello = prepareHello(join(work, 'hello'));
    sh('nix-store', ['--generate-binary-cache-key', KEY_NAME, keyFile, join(work, 'cache-key.pub')]);
    publicKey = readFileSync(join(work, 'cache-key.pub'), 'utf8').trim();
    a = await startServe(join(work, 'root-a'), cacheArgs(cache));
    servers.push(a);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    removeDir(work);
  });

  test('replica A builds on a pull and copies the closure to the cache, signed with its key', async () => {
    assert.match(a.stderr(), new RegExp(`strata: substituting from file://${cache} \\(trusting ${KEY_NAME}\\)`));
    // The secret never reaches the log.
    assert.ok(!a.stderr().includes(readFileSync(keyFile, 'utf8').trim().split(':')[1]!), a.stderr());
    const res = await pullManifest(a, 'hello');
    assert.equal(res.status, 200, a.stderr());
    digest = res.headers.get('docker-content-digest')!;
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const copied = await eventually('the nix-cache event', () => events(a, 'nix-cache')[0]);
    assert.equal(copied.outcome, 'copied', JSON.stringify(copied));
    assert.equal(copied.name, 'hello');
    const infos = narinfos(cache);
    assert.ok(infos.length >= 3, `${infos.length} narinfos`);
    assert.equal(copied.paths, infos.length);
    assert.ok(
      infos.some((i) => /-hello-2\.12$/.test(i.get('StorePath')!)),
      'the program is in the cache',
    );
    for (const info of infos) assert.ok(signedBy(info, publicKey), `${info.get('StorePath')} not signed by ${KEY_NAME}: ${info.get('Sig')}`);
  });

  test('replica B, with an empty store and no builds, substitutes from the cache and serves the same image', async () => {
    assert.ok(digest, 'replica A served the image first');
    const b = await replica(cache, 'b');
    const res = await pullManifest(b, 'hello');
    assert.equal(res.status, 200, b.stderr());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.match(b.stderr(), new RegExp(`copying path '/nix/store/[a-z0-9]{32}-hello-2\\.12' from 'file://${cache}'`));
    assert.doesNotMatch(b.stderr(), /building '\/nix\/store\//);
    // A layer made from what B substituted: its bytes are what the manifest says.
    const manifest = (await res.json()) as { layers: { digest: string; size: number }[] };
    const layer = manifest.layers[manifest.layers.length - 1]!;
    const blob = Buffer.from(await (await fetch(`${b.url}/v2/hello/blobs/${layer.digest}`)).arrayBuffer());
    assert.equal(blob.length, layer.size);
    assert.equal(`sha256:${createHash('sha256').update(blob).digest('hex')}`, layer.digest);
  });

  for (const [kind, signing] of [
    ['unsigned', ''],
    ['signed by another key', `?secret-key=${join(repoRoot, 'test', 'fixtures', 'nix', 'cache-keys', 'cache.example.org-2.sec')}`],
  ] as const) {
    test(`a cache whose paths are ${kind} is refused: the pull gets 503 and the log names why`, async () => {
      const paths = narinfos(cache).map((i) => i.get('StorePath')!);
      assert.ok(paths.length > 0, 'replica A filled the signed cache first');
      const other = join(work, `cache-${signing ? 'other' : 'unsigned'}`);
      sh('nix', ['copy', '--to', `file://${other}${signing}`, ...paths]);
      const infos = narinfos(other);
      assert.equal(infos.length, paths.length);
      for (const info of infos) assert.ok(!signedBy(info, publicKey), `${info.get('StorePath')} is signed by ${KEY_NAME}`);
      if (signing) assert.ok(infos.every((i) => i.get('Sig')?.startsWith('cache.example.org-2:')));
      else assert.ok(infos.every((i) => !i.has('Sig')));

      const c = await replica(other, signing ? 'other' : 'unsigned');
      const res = await pullManifest(c, 'hello');
      const body = await res.text();
      assert.equal(res.status, 503, `${body}\n${c.stderr()}`);
      assert.match(body, /the image for hello failed to build/);
      const failed = await eventually('the failed build event', () => events(c, 'build').find((e) => e.outcome === 'failed'));
      assert.match(String(failed.error), /is not signed by any of the keys in 'trusted-public-keys'/);
      assert.match(String(failed.error), /unable to start any build/);
      assert.doesNotMatch(c.stderr(), /copying path '[^']*' from/);
      assert.equal(events(c, 'nix-cache').length, 0);
    });
  }

  test('a cache that cannot be written: the pull is served all the same, and the nix-cache event says the copy failed', async () => {
    // A file where the cache's directory would be: nix can neither substitute from it nor copy there.
    writeFileSync(join(work, 'not-a-directory'), '');
    const broken = join(work, 'not-a-directory', 'cache');
    const s = await startServe(join(work, 'root-broken'), cacheArgs(broken));
    servers.push(s);
    const res = await pullManifest(s, 'hello');
    assert.equal(res.status, 200, s.stderr());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const failed = await eventually('the nix-cache event', () => events(s, 'nix-cache')[0]);
    assert.equal(failed.outcome, 'failed', JSON.stringify(failed));
    assert.ok((failed.paths as number) >= 3, JSON.stringify(failed));
    assert.match(String(failed.error), /nix copy --to file:\/\/\S+not-a-directory\/cache failed/);
  });

  test('bad flags: one usage line and exit 2, before anything listens', async () => {
    const bad = join(work, 'bad.sec');
    writeFileSync(bad, 'strata-test:bm90IGEga2V5\n');
    const serve = (args: string[]) => runStrata(['serve', '--listen', '127.0.0.1:0', '--root', join(work, 'root-bad'), ...args]);
    expectFailure(await serve(['--nix-cache', `file://${cache}`]), 2, /--nix-cache goes with --nix-cache-key FILE/);
    expectFailure(await serve(['--nix-cache-key', keyFile]), 2, /--nix-cache-key goes with --nix-cache URL/);
    expectFailure(
      await serve(['--nix-cache', `file://${cache}`, '--nix-cache-key', join(work, 'none.sec')]),
      2,
      /--nix-cache-key .*none\.sec: cannot read it \(ENOENT\)/,
    );
    expectFailure(await serve(['--nix-cache', `file://${cache}`, '--nix-cache-key', bad]), 2, /--nix-cache-key .*bad\.sec: not a Nix secret key: 9 bytes/);
    expectFailure(
      await serve(['--nix-cache', `file://${cache}`, '--nix-cache-key', join(work, 'cache-key.pub')]),
      2,
      /cache-key\.pub: not a Nix secret key: 32 bytes/,
    );
    expectFailure(await serve(['--nix-cache', cache, '--nix-cache-key', keyFile]), 2, /is not a binary cache URL/);
  });
});
