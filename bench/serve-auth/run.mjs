// The load generator of docs/benchmarks/serve-auth.md: how anonymous reads of
// `strata serve --htpasswd` fare while clients send bad credentials, beside
// CNCF distribution 2.8 (Debian's docker-registry) with its htpasswd auth.
// Per server, in order:
//
//   login-timing   failed logins (GET /v2/ with Basic credentials), one at a
//                  time, interleaved (each first in turn): an unknown user and
//                  a known user with a wrong password; median of each and their ratio
//   idle           one reader for --seconds: GETs of a manifest by tag and of a
//                  blob, alternating, one at a time; latency p50/p99
//   flood          the same reader while --clients connections send bad
//                  logins (unknown names and wrong passwords of known users,
//                  alternating) as fast as they are answered
//
// The reader is anonymous on strata; distribution's htpasswd auth has no
// anonymous access, so there it sends the right credentials (distribution
// runs bcrypt for them on every request: part of what is measured).
// Everything is bounded: --seconds per phase, and at most 20000 requests per
// reader phase. Servers listen on 127.0.0.1 only.
//
//   node bench/serve-auth/run.mjs [--strata NAME=DIR]... [--no-distribution]
//     [--clients 8] [--seconds 10] [--logins 150] [--rounds 1] [--work DIR]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { freePort, startDistribution, stopChild, track, waitFor } from '../lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bcrypt = createRequire(import.meta.url)('bcryptjs');
const { values: opt } = parseArgs({
  options: {
    strata: { type: 'string', multiple: true, default: [`strata=${resolve(here, '../..')}`] },
    'no-distribution': { type: 'boolean', default: false },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    logins: { type: 'string', default: '150' },
    rounds: { type: 'string', default: '1' },
    work: { type: 'string', default: '/var/tmp/strata-serve-auth-bench' },
  },
});
const CLIENTS = Number(opt.clients);
const SECONDS = Number(opt.seconds);
const LOGINS = Number(opt.logins);
const MAX_READS = 20000;
mkdirSync(opt.work, { recursive: true });

// htpasswd -B's default cost is 5; $2y$ is how htpasswd writes it.
const USER = 'alice';
const PASSWORD = 'alice-password';
const HTPASSWD = `${USER}:${bcrypt.hashSync(PASSWORD, 5).replace(/^\$2[ab]\$/, '$2y$')}\n`;
const basic = (u, p) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

async function startStrata(name, dir, from) {
  const port = await freePort();
  writeFileSync(join(dir, 'htpasswd'), HTPASSWD);
  const argv = [join(from, 'bin/strata.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--root', join(dir, 'storage'), '--htpasswd', join(dir, 'htpasswd')];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, child, log, { statuses: [200, 401] });
  return { name, child, url, readAuth: undefined };
}

async function startHtpasswdDistribution(dir) {
  const { child, url } = await startDistribution(dir, { htpasswd: HTPASSWD, name: 'serve-auth-bench' });
  return { name: 'distribution', child, url, readAuth: basic(USER, PASSWORD) };
}

async function request(pool, opts, want) {
  const r = await pool.request(opts);
  await r.body.dump();
  if (want !== undefined && r.statusCode !== want) throw new Error(`${opts.method} ${opts.path}: HTTP ${r.statusCode}, expected ${want}`);
  return r.statusCode;
}

/** A 4 KiB blob, a config and a manifest tagged v1 in bench/app, pushed as alice. */
async function seed(pool) {
  const auth = { authorization: basic(USER, PASSWORD) };
  const put = async (bytes) => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const r = await pool.request({ path: '/v2/bench/app/blobs/uploads/', method: 'POST', headers: { ...auth, 'content-length': '0' } });
    await r.body.dump();
    if (r.statusCode !== 202) throw new Error(`POST upload: HTTP ${r.statusCode}`);
    const loc = new URL(r.headers.location, 'http://x');
    loc.searchParams.set('digest', digest);
    await request(pool, { path: loc.pathname + loc.search, method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: bytes }, 201);
    return { digest, size: bytes.length };
  };
  const layer = await put(randomBytes(4096));
  const config = await put(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} })),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  });
  await request(
    pool,
    { path: '/v2/bench/app/manifests/v1', method: 'PUT', headers: { ...auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest },
    201,
  );
  return layer.digest;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

async function reader(server, blob, until) {
  const pool = new Pool(server.url, { connections: 1 });
  const headers = { accept: 'application/vnd.oci.image.manifest.v1+json', ...(server.readAuth ? { authorization: server.readAuth } : {}) };
  const lat = [];
  try {
    while (Date.now() < until() && lat.length < MAX_READS) {
      const path = lat.length % 2 ? `/v2/bench/app/blobs/${blob}` : '/v2/bench/app/manifests/v1';
      const t = performance.now();
      await request(pool, { path, method: 'GET', headers }, 200);
      lat.push(performance.now() - t);
    }
  } finally {
    await pool.close();
  }
  return lat;
}

/** `n` connections sending bad logins until `until()`; counts the answers by status. */
function flood(server, n, until) {
  const statuses = {};
  const pool = new Pool(server.url, { connections: n });
  const run = Promise.all(
    Array.from({ length: n }, async (_, c) => {
      for (let i = 0; Date.now() < until(); i++) {
        const user = i % 2 ? USER : `nobody-${c}-${i}`;
        const s = await request(pool, { path: '/v2/', method: 'GET', headers: { authorization: basic(user, `wrong-${i}`) } }).catch(() => 'error');
        statuses[s] = (statuses[s] ?? 0) + 1;
      }
    }),
  ).finally(() => pool.close());
  return { run, statuses };
}

async function loginTiming(server) {
  const pool = new Pool(server.url, { connections: 1 });
  const unknown = [];
  const known = [];
  try {
    for (let i = 0; i < LOGINS; i++) {
      const pair = [
        [`nobody-${i}`, unknown],
        [USER, known],
      ];
      // Each first in turn, so that neither always follows the other.
      for (const [user, into] of i % 2 ? pair.reverse() : pair) {
        const t = performance.now();
        await request(pool, { path: '/v2/', method: 'GET', headers: { authorization: basic(user, `wrong-${i}`) } }, 401);
        into.push(performance.now() - t);
      }
    }
  } finally {
    await pool.close();
  }
  return { unknownP50: pct(unknown, 50), knownP50: pct(known, 50), ratio: pct(unknown, 50) / pct(known, 50) };
}

async function bench(start) {
  const dir = mkdtempSync(join(opt.work, 'run-'));
  const server = await start(dir);
  try {
    const pool = new Pool(server.url, { connections: 1 });
    const blob = await seed(pool);
    await pool.close();
    const timing = await loginTiming(server);
    const idleEnd = Date.now() + SECONDS * 1000;
    const idle = await reader(server, blob, () => idleEnd);
    const floodEnd = Date.now() + SECONDS * 1000;
    const attack = flood(server, CLIENTS, () => floodEnd);
    const loaded = await reader(server, blob, () => floodEnd);
    await attack.run;
    return {
      server: server.name,
      load: loadavg()[0],
      ...timing,
      idle: { n: idle.length, p50: pct(idle, 50), p99: pct(idle, 99) },
      flood: { n: loaded.length, p50: pct(loaded, 50), p99: pct(loaded, 99), badLogins: attack.statuses },
    };
  } finally {
    await stopChild(server.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const servers = [
  ...opt.strata.map((s) => {
    const [name, from] = s.includes('=') ? s.split('=') : ['strata', s];
    return (dir) => startStrata(name, dir, resolve(from));
  }),
  ...(opt['no-distribution'] ? [] : [startHtpasswdDistribution]),
];
const f = (x) => x.toFixed(2);
console.log(
  `| server | failed login, unknown user p50 ms | known user p50 ms | ratio | idle reads (n) p50 / p99 ms | reads under ${CLIENTS} bad-login clients (n) p50 / p99 ms | p50 ×, p99 × | bad logins answered | load avg |`,
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (let round = 0; round < Number(opt.rounds); round++) {
  for (const start of round % 2 ? [...servers].reverse() : servers) {
    const r = await bench(start);
    console.log(
      `| ${r.server} | ${f(r.unknownP50)} | ${f(r.knownP50)} | ${f(r.ratio)} | (${r.idle.n}) ${f(r.idle.p50)} / ${f(r.idle.p99)} | (${r.flood.n}) ${f(r.flood.p50)} / ${f(r.flood.p99)} | ${f(r.flood.p50 / r.idle.p50)}, ${f(r.flood.p99 / r.idle.p99)} | ${Object.entries(
        r.flood.badLogins,
      )
        .map(([s, n]) => `${n}× ${s}`)
        .join(', ')} | ${f(r.load)} |`,
    );
  }
}
