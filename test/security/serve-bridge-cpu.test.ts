// The serve bridge cannot be turned into free CPU (issue 12, point 5), with a
// real `strata serve` and real Nix builds of small flakes (busybox builders):
// a failing build is remembered, not rebuilt on every pull, and its error
// reaches the server's log, not the client; a made layer is kept, so range
// requests do not make it again; a client that goes away stops the making;
// an image's makings are bounded.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { startServe, type Served } from '../helpers/serve.js';
import { events } from '../helpers/serve-log.js';
import { nixEnv, prepareHello, removeDir, sh, tempDir } from '../helpers/strata.js';

const MIB = 2 ** 20;

/** A flake whose default package is `script` run by busybox sh ($bb is busybox), new on every run (a nonce). */
function flake(dir: string, busybox: string, script: string): string {
  mkdirSync(join(dir, 'bb', 'bin'), { recursive: true });
  cpSync(busybox, join(dir, 'bb', 'bin', 'busybox'));
  writeFileSync(
    join(dir, 'flake.nix'),
    `{ outputs = { self }: { packages.x86_64-linux.default = derivation {
        name = "cpu-test"; system = "x86_64-linux"; nonce = "${randomBytes(8).toString('hex')}";
        builder = "\${./bb}/bin/busybox";
        args = [ "sh" "-c" ${JSON.stringify(`bb=\${./bb}/bin/busybox; ${script}`)} ];
      }; }; }\n`,
  );
  sh('git', ['init', '-q', '.'], { cwd: dir });
  sh('git', ['add', '-A'], { cwd: dir });
  return `${dir}#default`;
}

/** The server's log reaches us through a pipe, a little after its answers: waits until `ok()` (5 s at most). */
async function logged(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
}

/** CPU seconds the server process (all its threads) has used so far. */
function cpuSeconds(s: Served): number {
  const stat = readFileSync(`/proc/${s.child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function biggestLayer(s: Served, name: string): Promise<{ digest: string; size: number }> {
  const res = await fetch(`${s.url}/v2/${name}/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200, await res.clone().text());
  const m = (await res.json()) as { layers: { digest: string; size: number }[] };
  return m.layers.reduce((a, b) => (b.size > a.size ? b : a));
}

const work = tempDir('strata-bridge-cpu-');
let busybox: string;
let bigFlake: string;
beforeAll(() => {
  busybox = join(prepareHello(join(work, 'hello')), 'bb', 'bin', 'busybox');
  // 64 MiB that gzip cannot shrink: the layer is as big as its file, and slow to make.
  bigFlake = flake(join(work, 'big'), busybox, `$bb mkdir -p $out; $bb head -c ${64 * MIB} /dev/urandom > $out/data`);
});
afterAll(() => removeDir(work));

describe('a failing build', () => {
  let broken: string;
  beforeAll(() => {
    broken = flake(join(work, 'broken'), busybox, 'echo "the-nix-error-MARKER" >&2; exit 1');
  });

  test('is built once, logged with its Nix error, and told to clients with no host paths', async () => {
    const served = await startServe(join(work, 'root-broken'), ['--image', `broken=${broken}`]);
    try {
      const first = await fetch(`${served.url}/v2/broken/manifests/latest`);
      const body = await first.text();
      assert.ok(first.status >= 500, `${first.status} ${body}`);
      for (const leak of [work, '/nix/store', 'gcroots', '#default', 'MARKER']) assert.ok(!body.includes(leak), `the answer names ${leak}: ${body}`);
      assert.match(body, /broken/);
      // At once, from memory: no second build.
      const started = Date.now();
      for (let i = 0; i < 5; i++) {
        const again = await fetch(`${served.url}/v2/broken/manifests/latest`);
        assert.equal(again.status, first.status);
        assert.match(again.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
        const text = await again.text();
        assert.ok(!text.includes(work), text);
      }
      assert.ok(Date.now() - started < 2000, 'remembered failures are answered at once');
      const builds = served
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('strata: building broken '));
      assert.equal(builds.length, 1, served.stderr());
      const buildEvents = events(served, 'build').filter((e) => e.name === 'broken');
      assert.equal(buildEvents.length, 1, served.stderr());
      assert.equal(buildEvents[0]!.outcome, 'failed');
      assert.match(String(buildEvents[0]!.error), /the-nix-error-MARKER/, 'the server log says why the build failed');
      // And every request has its log line.
      await logged(() => events(served, 'request').length >= 6);
      const requests = events(served, 'request').filter((e) => e.repository === 'broken');
      assert.equal(requests.length, 6, served.stderr());
      for (const r of requests) assert.ok(r.status === first.status && typeof r.durationMs === 'number' && typeof r.id === 'string', JSON.stringify(r));
    } finally {
      await served.stop();
    }
  });

  test('is built again after --build-backoff, and then remembered twice as long', async () => {
    const served = await startServe(join(work, 'root-broken-2'), ['--image', `broken=${broken}`, '--build-backoff', '2']);
    try {
      const first = await fetch(`${served.url}/v2/broken/manifests/latest`);
      assert.equal(first.headers.get('retry-after'), '2', await first.text());
      await new Promise((r) => setTimeout(r, 2200));
      const second = await fetch(`${served.url}/v2/broken/manifests/latest`);
      assert.equal(second.headers.get('retry-after'), '4', await second.text());
      assert.equal(events(served, 'build').filter((e) => e.name === 'broken').length, 2, served.stderr());
    } finally {
      await served.stop();
    }
  });
});

describe('a 64 MiB layer', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startServe(join(work, 'root-big'), ['--image', `big=${bigFlake}`]);
  });
  afterAll(() => served?.stop());

  test('100 suffix-range GETs make it at most once', async (t) => {
    const cpu0 = cpuSeconds(served);
    const layer = await biggestLayer(served, 'big');
    // The first pull hashed the layer (made it once): the CPU of one making, and a bit more.
    const oneMaking = cpuSeconds(served) - cpu0;
    assert.ok(layer.size > 60 * MIB, String(layer.size));
    const cpu1 = cpuSeconds(served);
    const deadline = AbortSignal.timeout(60_000);
    const lastBytes: Buffer[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const got = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await fetch(`${served.url}/v2/big/blobs/${layer.digest}`, { headers: { range: 'bytes=-1' }, signal: deadline });
          assert.equal(res.status, 206);
          assert.equal(res.headers.get('content-range'), `bytes ${layer.size - 1}-${layer.size - 1}/${layer.size}`);
          return Buffer.from(await res.arrayBuffer());
        }),
      );
      lastBytes.push(...got);
    }
    const spent = cpuSeconds(served) - cpu1;
    await t.annotate(`first pull (build, one making to hash): ${oneMaking} s of server CPU; 100 GETs of bytes=-1: ${spent} s`);
    for (const b of lastBytes) assert.deepEqual(b, lastBytes[0]);
    await logged(() => events(served, 'layer').length >= 1);
    const made = events(served, 'layer').filter((e) => e.digest === layer.digest && e.outcome === 'made');
    assert.ok(made.length <= 1, `made ${made.length} times`);
    assert.ok(spent < 2 * oneMaking + 1, `100 one-byte GETs took ${spent} s of CPU; one making takes ${oneMaking} s`);
    // The whole layer, from the kept bytes, is the layer.
    const whole = Buffer.from(await (await fetch(`${served.url}/v2/big/blobs/${layer.digest}`)).arrayBuffer());
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(whole).digest('hex')}`, layer.digest);
    assert.deepEqual(whole.subarray(-1), lastBytes[0]);
    assert.ok(events(served, 'layer').filter((e) => e.digest === layer.digest && e.outcome === 'made').length <= 1);
  });
});

test('a client that goes away stops the making of its layer', async () => {
  // One layer thread: a making left running (or stuck) would hold it, and the last GET below would wait forever.
  const served = await startServe(join(work, 'root-abort'), ['--image', `big=${bigFlake}`], { ...nixEnv(), STRATA_THREADS: '1' });
  try {
    const layer = await biggestLayer(served, 'big');
    for (let i = 0; i < 2; i++) {
      const abort = new AbortController();
      const res = await fetch(`${served.url}/v2/big/blobs/${layer.digest}`, { signal: AbortSignal.any([abort.signal, AbortSignal.timeout(30_000)]) });
      const reader = res.body!.getReader();
      await reader.read();
      abort.abort();
      await reader.cancel().catch(() => undefined);
    }
    // The layer thread is free: a whole GET is made and sent.
    const whole = await fetch(`${served.url}/v2/big/blobs/${layer.digest}`, { signal: AbortSignal.timeout(45_000) });
    assert.equal(Buffer.from(await whole.arrayBuffer()).length, layer.size);
    await logged(() => events(served, 'layer').length >= 3);
    const aborted = events(served, 'layer').filter((e) => e.outcome === 'aborted');
    assert.equal(aborted.length, 2, served.stderr());
    for (const e of aborted) assert.ok(Number(e.bytes) < layer.size / 2, `stopped after ${e.bytes} bytes`);
    // Nothing makes a layer now: the server is idle.
    const cpu = cpuSeconds(served);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(cpuSeconds(served) - cpu < 0.5, 'no work goes on for clients that left');
  } finally {
    await served.stop();
  }
});

test('an image makes at most --layer-jobs layers at once; the others wait their turn', async () => {
  // Two store paths (the package refers to its dependency), so two layers of 24 MiB.
  const dir = join(work, 'two');
  mkdirSync(join(dir, 'bb', 'bin'), { recursive: true });
  cpSync(busybox, join(dir, 'bb', 'bin', 'busybox'));
  const drv = (name: string, script: string) =>
    `derivation { name = "${name}"; system = "x86_64-linux"; nonce = "${randomBytes(8).toString('hex')}"; builder = "\${./bb}/bin/busybox"; args = [ "sh" "-c" ${JSON.stringify(`bb=\${./bb}/bin/busybox; $bb mkdir -p $out; $bb head -c ${24 * MIB} /dev/urandom > $out/data; ${script}`)} ]; }`;
  writeFileSync(
    join(dir, 'flake.nix'),
    `{ outputs = { self }: let dep = ${drv('dep', '')}; in { packages.x86_64-linux.default = ${drv('top', 'echo ${dep} > $out/ref')}; }; }\n`,
  );
  sh('git', ['init', '-q', '.'], { cwd: dir });
  sh('git', ['add', '-A'], { cwd: dir });
  const served = await startServe(join(work, 'root-two'), ['--image', `two=${dir}#default`, '--layer-jobs', '1']);
  try {
    const res = await fetch(`${served.url}/v2/two/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const layers = ((await res.json()) as { layers: { digest: string; size: number }[] }).layers.filter((l) => l.size > 20 * MIB);
    assert.equal(layers.length, 2, JSON.stringify(layers));
    await Promise.all(
      layers.map(async (l) => assert.equal(Buffer.from(await (await fetch(`${served.url}/v2/two/blobs/${l.digest}`)).arrayBuffer()).length, l.size)),
    );
    await logged(() => events(served, 'layer').length >= 2);
    const made = events(served, 'layer').filter((e) => e.outcome === 'made' && layers.some((l) => l.digest === e.digest));
    assert.equal(made.length, 2, served.stderr());
    const [a, b] = made.map((e) => ({ start: Date.parse(String(e.start)), end: Date.parse(String(e.end)) })).sort((x, y) => x.start - y.start);
    assert.ok(b!.start >= a!.end, `the second making started before the first ended: ${JSON.stringify(made)}`);
  } finally {
    await served.stop();
  }
});
