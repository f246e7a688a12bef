// The measurements of bench/fleet.sh (issue 16, `strata serve` as a fleet over
// registry storage). Every server is a process of its own on loopback: the
// upstream (CNCF distribution 2.8, Debian's docker-registry, filesystem
// storage), the replicas (`strata serve --storage docker://UPSTREAM/PREFIX
// --fleet-secret-file F`), and a round-robin proxy (test/helpers/round-robin.ts,
// bench/fleet/round-robin.ts) in front of them. The load generator is this
// process. One JSON line per measurement goes to --out; report.mjs makes the tables.
//
// Section "pull": an image of random layers (--layers × --layer-mib MiB, plus
// its config) is pushed through a replica into the upstream; then, for each
// round and each --clients value, --pulls pulls of its blobs (a queue of
// pulls × blobs GETs, --clients of them at a time on keep-alive connections,
// each body hashed and checked against its digest) against each target:
//   direct         the upstream itself (no proxy): the reference
//   proxy-upstream the proxy in front of the upstream alone (the proxy's cost)
//   one            the proxy in front of one replica
//   two            the same proxy in front of two replicas (one of them that one)
//   two-redirect   the proxy in front of two replicas with --redirect-blobs:
//                  blob GETs are answered 307 to the upstream, which the client follows
// The order of the targets is reversed every other round.
//
// Section "bridge": the first pull of a bridge image (`--image app=INSTALLABLE`)
// on a fresh replica (an empty STRATA_CACHE_DIR of its own), under an upstream
// prefix new to the round: first one that must make the layers ("built"; it
// then pushes the image to the upstream), then, once that push is done and
// that replica stopped, another fresh one over the same prefix, which finds
// the image there ("found-upstream"). For each: the seconds to the first
// manifest (a GET by tag), and to the whole image in an OCI layout
// (`skopeo copy` right after, the manifest again included); the replica's JSON
// log's build event (outcome, layersMade) says which path ran.
//
//   node bench/fleet/run.mjs --out FILE [--work DIR] [--strata-dir DIR] [--rounds 2]
//     [--sections pull,bridge] [--clients 8,32] [--layers 24] [--layer-mib 8] [--pulls 8]
//     [--targets direct,proxy-upstream,one,two,two-redirect] [--installable FLAKE#OUTPUT]
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startDistribution, stopChild, track } from '../lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    out: { type: 'string' },
    work: { type: 'string', default: '/var/tmp/strata-fleet-bench' },
    'strata-dir': { type: 'string', default: resolve(here, '../..') },
    rounds: { type: 'string', default: '2' },
    sections: { type: 'string', default: 'pull,bridge' },
    clients: { type: 'string', default: '8,32' },
    layers: { type: 'string', default: '24' },
    'layer-mib': { type: 'string', default: '8' },
    pulls: { type: 'string', default: '8' },
    targets: { type: 'string', default: 'direct,proxy-upstream,one,two,two-redirect' },
    installable: { type: 'string', default: '/var/tmp/strata-bench#appA' },
  },
});
if (!opt.out) throw new Error('--out FILE is required');
const ROUNDS = Number(opt.rounds);
const sections = opt.sections.split(',');
const node = process.execPath;
const strataDir = resolve(opt['strata-dir']);
const repoRoot = resolve(here, '../..');
const work = resolve(opt.work);
const runDir = join(work, `run-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}`);
mkdirSync(runDir, { recursive: true });
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const MiB = 2 ** 20;
const env = { ...process.env, NIX_CONFIG: process.env.NIX_CONFIG ?? 'substituters =\nexperimental-features = nix-command flakes' };

const children = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const emit = (row) => {
  appendFileSync(opt.out, `${JSON.stringify({ ...row, load1: loadavg()[0] })}\n`);
  console.error(JSON.stringify(row));
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

// ---- the processes ---------------------------------------------------------

/** A `strata serve` replica over docker://UPSTREAM/prefix; its stderr (the JSON log) in `logFile` and in memory. */
async function startReplica(name, upstreamHost, prefix, extra = [], extraEnv = {}) {
  const logFile = join(runDir, `${name}.log`);
  const args = [
    join(strataDir, 'bin/strata.js'),
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--storage',
    `docker://${upstreamHost}/${prefix}`,
    '--fleet-secret-file',
    join(runDir, 'fleet-secret'),
    '--allow-anonymous-push',
    ...extra,
  ];
  const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...extraEnv }, cwd: runDir });
  children.push(child);
  const file = createWriteStream(logFile);
  let err = '';
  child.stderr.on('data', (b) => {
    err += b.toString();
    file.write(b);
  });
  child.stdout.on('data', (b) => file.write(b));
  const url = await new Promise((res, rej) => {
    const check = () => {
      const m = err.match(/strata: serving on (http:\/\/\S+)\n/);
      if (m) res(m[1]);
    };
    child.stderr.on('data', check);
    child.once('exit', (code, sig) => rej(new Error(`replica ${name} exited (${code ?? sig}):\n${err}`)));
  });
  const events = (event) =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      })
      .filter((e) => e.event === event);
  return { name, child, pid: child.pid, url, host: url.replace('http://', ''), logFile, events, stop: () => stopChild(child) };
}

/** bench/fleet/round-robin.ts in a Node of its own. */
async function startProxy(name, backends) {
  const child = spawn(node, ['--import', 'tsx', join(here, 'round-robin.ts'), ...backends], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  children.push(child);
  const log = track(child);
  const url = await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (b) => {
      out += b.toString();
      const m = out.match(/^(http:\/\/\S+)\n/);
      if (m) res(m[1]);
    });
    child.once('exit', (code, sig) => rej(new Error(`proxy ${name} exited (${code ?? sig}):\n${log()}`)));
  });
  return { name, child, pid: child.pid, url, log, stop: () => stopChild(child) };
}

// ---- HTTP ------------------------------------------------------------------

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** GET, following redirects (307 to the upstream) by hand; the body hashed on the way. */
async function getBlob(dispatcher, url, digest, size) {
  let redirects = 0;
  for (;;) {
    const u = new URL(url);
    const r = await request(u, { dispatcher, method: 'GET' });
    if (r.statusCode >= 300 && r.statusCode < 400) {
      await r.body.dump();
      url = new URL(r.headers.location, u).href;
      if (++redirects > 3) throw new Error(`${url}: too many redirects`);
      continue;
    }
    if (r.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${r.statusCode}: ${await r.body.text()}`);
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of r.body) {
      h.update(chunk);
      n += chunk.length;
    }
    if (n !== size || `sha256:${h.digest('hex')}` !== digest) throw new Error(`GET ${url}: ${n} bytes, not ${size} bytes of ${digest}`);
    return redirects;
  }
}

async function put(url, body, headers = {}) {
  const r = await request(url, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
  const text = await r.body.text();
  if (r.statusCode !== 201) throw new Error(`PUT ${url}: HTTP ${r.statusCode}: ${text}`);
}

/** Pushes a blob with POST then PUT ?digest= (monolithic). */
async function pushBlob(base, repo, bytes) {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const r = await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await r.body.dump();
  if (r.statusCode !== 202) throw new Error(`POST upload: HTTP ${r.statusCode}`);
  const loc = new URL(r.headers.location, base);
  loc.searchParams.set('digest', digest);
  await put(loc.href, bytes);
  return { digest, size: bytes.length };
}

// ---- section pull ----------------------------------------------------------

async function sectionPull(upstream) {
  const repo = 'bench/big';
  const nLayers = Number(opt.layers);
  const layerBytes = Number(opt['layer-mib']) * MiB;
  const targetsWanted = opt.targets.split(',');
  const [a, b] = await Promise.all([startReplica('pull-a', upstream.host, 'fleet'), startReplica('pull-b', upstream.host, 'fleet')]);
  const replicas = [a, b];
  let c, d;
  if (targetsWanted.includes('two-redirect')) {
    [c, d] = await Promise.all([
      startReplica('pull-c-redirect', upstream.host, 'fleet', ['--redirect-blobs']),
      startReplica('pull-d-redirect', upstream.host, 'fleet', ['--redirect-blobs']),
    ]);
    replicas.push(c, d);
  }

  // The image, pushed through replica a into the upstream.
  const t0 = Date.now();
  const layers = [];
  for (let i = 0; i < nLayers; i++) layers.push(await pushBlob(a.url, repo, randomBytes(layerBytes)));
  const config = await pushBlob(
    a.url,
    repo,
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } })),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  });
  await put(`${a.url}/v2/${repo}/manifests/1`, manifest, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
  const blobs = [config, ...layers];
  const imageBytes = blobs.reduce((s, x) => s + x.size, 0);
  console.error(`pull: pushed ${blobs.length} blobs, ${(imageBytes / 1e6).toFixed(1)} MB, through replica a in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const proxies = {};
  const want = (t) => targetsWanted.includes(t);
  if (want('proxy-upstream')) proxies['proxy-upstream'] = await startProxy('proxy-upstream', [upstream.url]);
  if (want('one')) proxies.one = await startProxy('one', [a.url]);
  if (want('two')) proxies.two = await startProxy('two', [a.url, b.url]);
  if (want('two-redirect')) proxies['two-redirect'] = await startProxy('two-redirect', [c.url, d.url]);
  const targets = [];
  if (want('direct')) targets.push({ name: 'direct', base: upstream.url, repo: `fleet/${repo}` });
  for (const [name, p] of Object.entries(proxies)) targets.push({ name, base: p.url, repo: name === 'proxy-upstream' ? `fleet/${repo}` : repo, proxy: p });

  const pids = () => ({
    upstream: upstream.pid,
    ...Object.fromEntries(replicas.map((r) => [r.name, r.pid])),
    ...Object.fromEntries(Object.values(proxies).map((p) => [`proxy-${p.name}`, p.pid])),
  });
  const measure = async (target, clients, pulls) => {
    const tasks = [];
    for (let p = 0; p < pulls; p++) for (const blob of blobs) tasks.push(blob);
    const dispatcher = new Agent({ connections: clients, keepAliveTimeout: 30_000 });
    const before = Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const self0 = process.cpuUsage();
    let next = 0;
    let redirects = 0;
    const start = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < tasks.length) {
          const blob = tasks[next++];
          const n = await getBlob(dispatcher, `${target.base}/v2/${target.repo}/blobs/${blob.digest}`, blob.digest, blob.size);
          redirects += n;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const self = process.cpuUsage(self0);
    const cpu = Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, +(cpuSeconds(pid) - before[k]).toFixed(2)]));
    cpu.client = +((self.user + self.system) / 1e6).toFixed(2);
    await dispatcher.close();
    const bytes = tasks.reduce((s, x) => s + x.size, 0);
    return { gets: tasks.length, bytes, seconds: +seconds.toFixed(3), mbps: +(bytes / 1e6 / seconds).toFixed(1), redirects, cpu };
  };

  // Warm-up: one pull through every target (page cache, JIT, the replicas' manifest and blob lookups).
  for (const t of targets) await measure(t, 8, 1);
  const clientsList = opt.clients.split(',').map(Number);
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const clients of clientsList)
      for (const t of order) {
        const m = await measure(t, clients, Number(opt.pulls));
        emit({ section: 'pull', round, target: t.name, clients, pulls: Number(opt.pulls), blobs: blobs.length, imageBytes, ...m });
      }
  }
  for (const p of Object.values(proxies)) {
    await p.stop();
    const served = p.log().match(/\{"served":\[[^\]]*\]\}/)?.[0];
    console.error(`proxy ${p.name}: requests per backend ${served ?? '?'}`);
  }
  await Promise.all(replicas.map((r) => r.stop()));
}

// ---- section bridge --------------------------------------------------------

async function firstPull(name, upstream, prefix) {
  const cacheDir = join(runDir, `layer-cache-${name}`);
  mkdirSync(cacheDir);
  const r = await startReplica(name, upstream.host, prefix, ['--image', `app=${opt.installable}`, '--build-wait', '3600'], { STRATA_CACHE_DIR: cacheDir });
  const t0 = process.hrtime.bigint();
  const since = () => +(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2);
  const m = await request(`${r.url}/v2/app/manifests/latest`, { headers: { accept: ACCEPT }, headersTimeout: 3_600_000, bodyTimeout: 3_600_000 });
  const manifestText = await m.body.text();
  if (m.statusCode !== 200) throw new Error(`${name}: manifest GET: HTTP ${m.statusCode}: ${manifestText}`);
  const manifestSeconds = since();
  const out = join(runDir, `pulled-${name}`);
  execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${r.host}/app:latest`, `oci:${out}:t`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const pullSeconds = since();
  const parsed = JSON.parse(manifestText);
  const imageBytes = (parsed.layers ?? []).reduce((s, l) => s + l.size, 0) + (parsed.config?.size ?? 0);
  const pulledDigest = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].digest;
  rmSync(out, { recursive: true, force: true });
  let pushedSeconds = null;
  for (let i = 0; i < 1800 && r.events('build').length === 0; i++) await sleep(200);
  const build = r.events('build')[0];
  if (build?.outcome === 'built') {
    // The image goes to the upstream after the build; the next replica must find it there.
    for (let i = 0; i < 3000 && r.events('upstream-push').length === 0; i++) await sleep(200);
    const pushed = r.events('upstream-push')[0];
    if (pushed?.outcome !== 'pushed') throw new Error(`${name}: upstream push: ${JSON.stringify(pushed)}`);
    pushedSeconds = since();
  }
  const layerEvents = r.events('layer').length;
  await r.stop();
  rmSync(cacheDir, { recursive: true, force: true });
  return {
    replica: name,
    outcome: build?.outcome ?? null,
    layersMade: build?.layersMade ?? null,
    layerEvents,
    buildEvent: build ?? null,
    layers: parsed.layers?.length ?? null,
    imageBytes,
    digest: `sha256:${createHash('sha256').update(manifestText).digest('hex')}`,
    pulledDigest,
    manifestSeconds,
    pullSeconds,
    pushedSeconds,
  };
}

async function sectionBridge(upstream) {
  for (let round = 1; round <= ROUNDS; round++) {
    const prefix = `bridge-${Date.now().toString(36)}-${round}`;
    const built = await firstPull(`bridge-r${round}-built`, upstream, prefix);
    emit({ section: 'bridge', round, case: 'built', prefix, installable: opt.installable, ...built });
    const found = await firstPull(`bridge-r${round}-found`, upstream, prefix);
    emit({ section: 'bridge', round, case: 'found-upstream', prefix, installable: opt.installable, ...found });
    if (found.digest !== built.digest) throw new Error(`round ${round}: found-upstream served ${found.digest}, built ${built.digest}`);
  }
}

// ---- main ------------------------------------------------------------------

writeFileSync(join(runDir, 'fleet-secret'), randomBytes(32));
const upDir = join(runDir, 'upstream');
mkdirSync(upDir);
const upstream = await startDistribution(upDir, { name: 'fleet-bench' });
children.push(upstream.child);
upstream.pid = upstream.child.pid;
upstream.host = upstream.url.replace('http://', '');
console.error(`upstream: ${upstream.url} (storage ${upDir}/storage); logs of the replicas: ${runDir}`);
try {
  if (sections.includes('pull')) await sectionPull(upstream);
  if (sections.includes('bridge')) await sectionBridge(upstream);
} finally {
  await stopChild(upstream.child);
  cleanup();
}
if (process.env.KEEP !== '1') rmSync(join(upDir, 'storage'), { recursive: true, force: true });
