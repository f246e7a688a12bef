// The load generator of bench/serve.sh: `strata serve` and CNCF distribution
// (Debian's docker-registry) under the same HTTP load, in the same run, the
// order alternating between rounds. Each server is started fresh (empty
// storage) for each round, then goes through the same phases:
//
//   put-big-c1, put-big-c8     monolithic uploads (POST, then PUT ?digest= with
//                              the whole blob) of N big blobs, 1 and 8 at a time
//   get-big-c1, get-big-c8     the blobs of put-big-c8 downloaded, 1 and 8 at a time
//   put-small-c1 … get-small-c8   the same with N small blobs
//   manifest-c1, manifest-c16  GETs of one manifest by tag, 1 and 16 at a time
//
// Every PUT phase uploads blobs the server has not seen (a tag in the first
// bytes, new digests computed before the clock starts). Around each phase the
// server's CPU time (/proc/PID/stat, all threads) and its peak RSS
// (/proc/PID/status VmHWM, reset through /proc/PID/clear_refs before the phase)
// are read. One JSON line per phase goes to --out; report.mjs makes the tables.
//
//   node bench/serve/run.mjs --out FILE [--rounds 3] [--strata-dir DIR] [--work DIR]
//     [--big 64x16777216] [--small 512x65536] [--put-conc 1,8] [--get-conc 1,8]
//     [--manifest-gets 2000] [--manifest-conc 1,16] [--servers strata,distribution[,strata-alt]]
//     [--alt-strata-dir DIR]   (another built Strata, served as strata-alt: a change under test)
//     [--phases REGEX] [--strata-node-args='--cpu-prof --cpu-prof-dir=/tmp/prof']  (with '=')
//     [--trace-strata='strace -c -f -o FILE']   (runs strata's node under that command)
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { freePort, startDistribution, stopChild, track, waitFor } from '../lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    out: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'strata-dir': { type: 'string', default: resolve(here, '../..') },
    // A second build of Strata (e.g. with a change under test), served as "strata-alt" when --servers names it.
    'alt-strata-dir': { type: 'string' },
    work: { type: 'string', default: '/var/tmp/strata-serve-bench' },
    big: { type: 'string', default: '64x16777216' },
    small: { type: 'string', default: '512x65536' },
    'put-conc': { type: 'string', default: '1,8' },
    'get-conc': { type: 'string', default: '1,8' },
    'manifest-gets': { type: 'string', default: '2000' },
    'manifest-conc': { type: 'string', default: '1,16' },
    servers: { type: 'string', default: 'strata,distribution' },
    phases: { type: 'string', default: '.' },
    'strata-node-args': { type: 'string', default: '' },
    'trace-strata': { type: 'string', default: '' },
  },
});
if (!opt.out) throw new Error('--out FILE is required');
const ROUNDS = Number(opt.rounds);
const node = process.execPath;
const strataDir = resolve(opt['strata-dir']);
const work = resolve(opt.work);
mkdirSync(work, { recursive: true });
const list = (s) => s.split(',').filter(Boolean).map(Number);
const blobSet = (name, spec) => {
  const [n, size] = spec.split('x').map(Number);
  if (!(n > 0 && size >= 64)) throw new Error(`--${name} ${spec}: not COUNTxBYTES (bytes >= 64)`);
  return { name, n, size };
};
const sets = [blobSet('big', opt.big), blobSet('small', opt.small)];
const phaseFilter = new RegExp(opt.phases);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const MiB = 2 ** 20;

// ---- the servers ----------------------------------------------------------

/** The pid whose /proc we read: the server itself, also under a tracer (its only child). */
function serverPid(child, wrapped) {
  if (!wrapped) return child.pid;
  const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return Number(kids[0] ?? child.pid);
}

async function startStrata(dir, name = 'strata', from = strataDir) {
  const port = await freePort();
  const trace = opt['trace-strata'].split(' ').filter(Boolean);
  const nodeArgs = opt['strata-node-args'].split(' ').filter(Boolean);
  const argv = [...nodeArgs, join(from, 'bin/strata.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--root', join(dir, 'root'), '--allow-anonymous-push'];
  const child = trace.length
    ? spawn(trace[0], [...trace.slice(1), node, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(node, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, child, log);
  return { name, child, pid: serverPid(child, trace.length > 0), url, log };
}

const starters = {
  strata: (dir) => startStrata(dir),
  distribution: async (dir) => {
    const d = await startDistribution(dir, { name: 'serve-bench' });
    return { name: 'distribution', pid: d.child.pid, ...d };
  },
  'strata-alt': (dir) => {
    if (!opt['alt-strata-dir']) throw new Error('--servers strata-alt needs --alt-strata-dir');
    return startStrata(dir, 'strata-alt', resolve(opt['alt-strata-dir']));
  },
};

function cpuSeconds(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime, fields 14 and 15
}
function status(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024, threads: Number(s.match(/^Threads:\s+(\d+)/m)?.[1]) };
}
/** Resets VmHWM to the current RSS (Linux >= 4.0, clear_refs 5); false when not allowed. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// ---- HTTP -----------------------------------------------------------------

function check(r, want, what) {
  if (r.statusCode !== want) throw new Error(`${what}: HTTP ${r.statusCode}, expected ${want}`);
}

/** Runs fn(i) for i in 0..n-1, `conc` at a time; returns each call's latency in ms. */
async function runAll(n, conc, fn) {
  const lat = new Float64Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(conc, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const t = performance.now();
        await fn(i);
        lat[i] = performance.now() - t;
      }
    }),
  );
  return lat;
}

/** POST, then PUT ?digest= with the whole blob: the spec's "POST then PUT" monolithic upload. */
async function upload(pool, repo, bytes, digest) {
  const r1 = await pool.request({ path: `/v2/${repo}/blobs/uploads/`, method: 'POST', headers: { 'content-length': '0' } });
  await r1.body.dump();
  check(r1, 202, `POST /v2/${repo}/blobs/uploads/`);
  const u = new URL(r1.headers.location, 'http://x');
  const path = `${u.pathname}${u.search ? `${u.search}&` : '?'}digest=${digest}`;
  const r2 = await pool.request({ path, method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  await r2.body.dump();
  check(r2, 201, `PUT ${u.pathname}`);
}

/** Downloads a blob, counting its bytes (and hashing them when `verify`). */
async function download(pool, repo, blob, verify = false) {
  const r = await pool.request({ path: `/v2/${repo}/blobs/${blob.digest}`, method: 'GET' });
  const hash = verify ? createHash('sha256') : undefined;
  let n = 0;
  for await (const chunk of r.body) {
    n += chunk.length;
    hash?.update(chunk);
  }
  check(r, 200, `GET blob ${blob.digest}`);
  if (n !== blob.size) throw new Error(`GET blob ${blob.digest}: ${n} bytes, expected ${blob.size}`);
  if (hash && `sha256:${hash.digest('hex')}` !== blob.digest) throw new Error(`GET blob ${blob.digest}: wrong content`);
}

const ACCEPT =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';

// ---- content --------------------------------------------------------------

/** Random bytes for a blob set, made once; each PUT phase stamps its own first bytes and re-hashes. */
const pools = new Map();
function poolOf(set) {
  let p = pools.get(set.name);
  if (!p) {
    p = Buffer.allocUnsafe(set.n * set.size);
    for (let o = 0; o < p.length; o += 1 << 16) randomFillSync(p, o, Math.min(1 << 16, p.length - o));
    pools.set(set.name, p);
  }
  return p;
}
function stamp(set, tag) {
  const p = poolOf(set);
  const blobs = [];
  for (let i = 0; i < set.n; i++) {
    const bytes = p.subarray(i * set.size, (i + 1) * set.size);
    bytes.write(`${tag}/${i}/`.padEnd(64, '.'), 0, 64, 'latin1');
    blobs.push({ bytes, size: set.size, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
  }
  return blobs;
}

// ---- phases ---------------------------------------------------------------

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

async function measure(server, base, conc, work) {
  const peakReset = resetPeak(server.pid);
  const cpu0 = cpuSeconds(server.pid);
  const gen0 = process.cpuUsage();
  const pool = new Pool(server.url, { connections: conc, pipelining: 1, keepAliveTimeout: 60_000 });
  const t0 = performance.now();
  let lat;
  try {
    lat = await work(pool);
  } finally {
    await pool.close();
  }
  const wall = (performance.now() - t0) / 1000;
  const gen = process.cpuUsage(gen0);
  const cpu = cpuSeconds(server.pid) - cpu0;
  const st = status(server.pid);
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    ...base,
    conc,
    wall_s: wall,
    server_cpu_s: cpu,
    gen_cpu_s: (gen.user + gen.system) / 1e6,
    peak_rss_mb: peakReset ? st.hwm : NaN,
    rss_mb: st.rss,
    hwm_since_start_mb: peakReset ? NaN : st.hwm,
    threads: st.threads,
    p50_ms: pct(sorted, 50),
    p99_ms: pct(sorted, 99),
    max_ms: sorted[sorted.length - 1],
    load1: loadavg()[0],
  };
}

function emit(rec) {
  appendFileSync(opt.out, `${JSON.stringify(rec)}\n`);
  const show =
    rec.kind === 'manifest'
      ? `${rec.rps.toFixed(0)} req/s p50 ${rec.p50_ms.toFixed(2)} ms p99 ${rec.p99_ms.toFixed(2)} ms`
      : `${rec.mbps.toFixed(1)} MB/s ${rec.rps.toFixed(1)} req/s`;
  process.stderr.write(
    `  ${rec.server.padEnd(12)} ${rec.phase.padEnd(14)} ${rec.wall_s.toFixed(2).padStart(7)} s  ${show}  cpu ${rec.server_cpu_s.toFixed(2)} s  peak ${rec.peak_rss_mb.toFixed(0)} MiB  (gen cpu ${rec.gen_cpu_s.toFixed(2)} s, load ${rec.load1.toFixed(1)})\n`,
  );
}

async function warmUp(server) {
  // A few of every request kind first, so neither server is measured cold (JIT, first directories).
  const pool = new Pool(server.url, { connections: 4 });
  try {
    const warm = stamp({ name: 'warm', n: 32, size: 65536 }, `warm-${server.name}`);
    await runAll(warm.length, 4, (i) => upload(pool, 'warm/up', warm[i].bytes, warm[i].digest));
    await runAll(warm.length * 4, 4, (i) => download(pool, 'warm/up', warm[i % warm.length]));
  } finally {
    await pool.close();
    pools.delete('warm');
  }
}

async function pushManifest(server, repo) {
  const pool = new Pool(server.url, { connections: 2 });
  try {
    const layers = stamp({ name: 'mlayers', n: 10, size: 4096 }, `manifest-${server.name}`);
    pools.delete('mlayers');
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {} }),
    );
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    await upload(pool, repo, config, configDigest);
    for (const l of layers) await upload(pool, repo, l.bytes, l.digest);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
        annotations: { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' },
      }),
    );
    const r = await pool.request({
      path: `/v2/${repo}/manifests/latest`,
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    await r.body.dump();
    check(r, 201, 'PUT manifest');
    return { size: manifest.length, digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}` };
  } finally {
    await pool.close();
  }
}

async function runServer(name, round, position) {
  const dir = mkdtempSync(join(work, `${name}-`));
  const server = await starters[name](dir);
  const base = { round, server: name, position };
  const cpuStart = cpuSeconds(server.pid);
  let peak = status(server.pid).hwm;
  process.stderr.write(`round ${round}: ${name} (pid ${server.pid}, ${server.url})\n`);
  try {
    await warmUp(server);
    for (const set of sets) {
      let last;
      for (const conc of list(opt['put-conc'])) {
        const phase = `put-${set.name}-c${conc}`;
        if (!phaseFilter.test(phase)) continue;
        const blobs = stamp(set, `${round}/${name}/${phase}`);
        const repo = `bench/${set.name}`;
        const rec = await measure(server, { ...base, phase, kind: 'put', set: set.name }, conc, (pool) =>
          runAll(blobs.length, conc, (i) => upload(pool, repo, blobs[i].bytes, blobs[i].digest)),
        );
        const bytes = set.n * set.size;
        emit({
          ...rec,
          blobs: set.n,
          bytes,
          requests: 2 * set.n,
          mbps: bytes / 1e6 / rec.wall_s,
          rps: (2 * set.n) / rec.wall_s,
          blobs_per_s: set.n / rec.wall_s,
        });
        peak = Math.max(peak, rec.peak_rss_mb || 0);
        last = { repo, blobs: blobs.map(({ size, digest }) => ({ size, digest })) };
      }
      if (!last) continue;
      for (const conc of list(opt['get-conc'])) {
        const phase = `get-${set.name}-c${conc}`;
        if (!phaseFilter.test(phase)) continue;
        const rec = await measure(server, { ...base, phase, kind: 'get', set: set.name }, conc, (pool) =>
          runAll(last.blobs.length, conc, (i) => download(pool, last.repo, last.blobs[i])),
        );
        const bytes = set.n * set.size;
        emit({ ...rec, blobs: set.n, bytes, requests: set.n, mbps: bytes / 1e6 / rec.wall_s, rps: set.n / rec.wall_s, blobs_per_s: set.n / rec.wall_s });
        peak = Math.max(peak, rec.peak_rss_mb || 0);
      }
      // Untimed: the first and the last blob read back whole and hashed.
      const pool = new Pool(server.url, { connections: 1 });
      for (const b of [last.blobs[0], last.blobs[last.blobs.length - 1]]) await download(pool, last.repo, b, true);
      await pool.close();
    }
    const gets = Number(opt['manifest-gets']);
    if (gets > 0 && list(opt['manifest-conc']).some((c) => phaseFilter.test(`manifest-c${c}`))) {
      const repo = 'bench/app';
      const m = await pushManifest(server, repo);
      const get = async (pool) => {
        const r = await pool.request({ path: `/v2/${repo}/manifests/latest`, method: 'GET', headers: { accept: ACCEPT } });
        const body = await r.body.arrayBuffer();
        check(r, 200, 'GET manifest');
        if (body.byteLength !== m.size || r.headers['docker-content-digest'] !== m.digest)
          throw new Error(`GET manifest: ${body.byteLength} bytes, digest ${r.headers['docker-content-digest']}; expected ${m.size}, ${m.digest}`);
      };
      for (const conc of list(opt['manifest-conc'])) {
        const phase = `manifest-c${conc}`;
        if (!phaseFilter.test(phase)) continue;
        const warm = new Pool(server.url, { connections: conc });
        await runAll(200, conc, () => get(warm));
        await warm.close();
        const rec = await measure(server, { ...base, phase, kind: 'manifest', set: 'manifest' }, conc, (pool) => runAll(gets, conc, () => get(pool)));
        emit({ ...rec, requests: gets, bytes: gets * m.size, manifest_bytes: m.size, rps: gets / rec.wall_s, mbps: (gets * m.size) / 1e6 / rec.wall_s });
        peak = Math.max(peak, rec.peak_rss_mb || 0);
      }
    }
    const life = {
      ...base,
      phase: 'lifetime',
      kind: 'lifetime',
      server_cpu_s: cpuSeconds(server.pid) - cpuStart,
      peak_rss_mb: peak,
      rss_mb: status(server.pid).rss,
    };
    appendFileSync(opt.out, `${JSON.stringify(life)}\n`);
  } catch (e) {
    process.stderr.write(`${name} failed; its log:\n${server.log().slice(-4000)}\n`);
    throw e;
  } finally {
    await stopChild(server.child, server.pid);
    rmSync(dir, { recursive: true, force: true });
  }
}

const names = opt.servers.split(',').filter(Boolean);
for (const n of names) if (!starters[n]) throw new Error(`--servers: unknown server ${n}`);
for (let round = 1; round <= ROUNDS; round++) {
  // Alternate who goes first: round 1 in the order given, round 2 reversed, …
  const order = round % 2 === 1 ? names : [...names].reverse();
  for (const [position, name] of order.entries()) await runServer(name, round, position + 1);
}
