// strata serve --htpasswd against hostile clients (issue 12, point 4): a
// failed login costs the same whether the user exists or not, a flood of bad
// logins leaves anonymous reads fast, and `Expect: 100-continue` on a write
// is answered only once the credentials passed. Real `strata serve`, real
// sockets; timings are ratios between medians measured in the same run.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import bcrypt from 'bcryptjs';
import { Pool } from 'undici';
import { startServe, type Served } from '../helpers/serve.js';
import { removeDir, tempDir } from '../helpers/strata.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function status(pool: Pool, path: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' | 'PUT' = 'GET', body?: Buffer): Promise<number> {
  const r = await pool.request({ path, method, headers, ...(body ? { body } : {}) });
  await r.body.dump();
  return r.statusCode;
}

/** Sends `head` (and `body` once told to continue) on a raw socket; everything the server wrote, when it closes or goes quiet. */
function rawExchange(url: string, head: string, body: Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let got = '';
    let sent = false;
    const done = () => {
      socket.destroy();
      resolve(got);
    };
    let quiet = setTimeout(done, 3000);
    socket.on('data', (b) => {
      got += b.toString('latin1');
      if (!sent && got.startsWith('HTTP/1.1 100')) {
        sent = true;
        socket.write(body);
      }
      clearTimeout(quiet);
      quiet = setTimeout(done, 500);
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(quiet);
      resolve(got);
    });
    socket.write(head);
  });
}

describe('strata serve --htpasswd against hostile clients', () => {
  const work = tempDir();
  let srv: Served;
  let blob: string;
  beforeAll(async () => {
    // Two costs, as a file edited over the years has: alice 6 (as $2y$, the way htpasswd -B writes it), bob 8.
    const file = join(work, 'htpasswd');
    writeFileSync(file, `alice:${bcrypt.hashSync('alice-pw', 6).replace(/^\$2[ab]\$/, '$2y$')}\nbob:${bcrypt.hashSync('bob-pw', 8)}\n`);
    srv = await startServe(join(work, 'root'), ['--htpasswd', file]);
    const pool = new Pool(srv.url, { connections: 1 });
    const bytes = randomBytes(4096);
    blob = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const r = await pool.request({ path: '/v2/team/app/blobs/uploads/', method: 'POST', headers: { authorization: basic('alice', 'alice-pw') } });
    await r.body.dump();
    assert.equal(r.statusCode, 202);
    const loc = new URL(String(r.headers.location), srv.url);
    assert.equal(
      await status(
        pool,
        `${loc.pathname}?digest=${blob}`,
        { authorization: basic('alice', 'alice-pw'), 'content-type': 'application/octet-stream' },
        'PUT',
        bytes,
      ),
      201,
    );
    await pool.close();
  });
  afterAll(async () => {
    await srv?.stop();
    removeDir(work);
  });

  test('a failed login takes as long for an unknown user as for a known one, whatever their cost', async () => {
    const pool = new Pool(srv.url, { connections: 1 });
    const times: Record<'nobody' | 'alice' | 'bob', number[]> = { nobody: [], alice: [], bob: [] };
    try {
      // Interleaved, each first in turn, so that load from elsewhere falls on all three alike.
      const users = ['nobody', 'alice', 'bob'] as const;
      for (let i = 0; i < 45; i++) {
        for (const user of [0, 1, 2].map((k) => users[(i + k) % 3]!)) {
          const t = performance.now();
          assert.equal(await status(pool, '/v2/', { authorization: basic(user === 'nobody' ? `nobody-${i}` : user, `wrong-${i}`) }), 401);
          times[user].push(performance.now() - t);
        }
      }
    } finally {
      await pool.close();
    }
    const m = { nobody: median(times.nobody), alice: median(times.alice), bob: median(times.bob) };
    const ratio = Math.max(m.nobody, m.alice, m.bob) / Math.min(m.nobody, m.alice, m.bob);
    // The target (within 10%) is measured by bench/serve-auth, on a quiet machine; here the bound leaves room for a
    // busy CI machine and still fails by far on unequal work (12× before bfdb673).
    assert.ok(ratio <= 1.5, `median ms of failed logins: ${JSON.stringify(m)}, ratio ${ratio.toFixed(2)} (at most 1.5)`);
  });

  test('anonymous reads stay fast while 8 clients send bad logins; the logins are answered, not queued for ever', async () => {
    const reads = async (n: number) => {
      const pool = new Pool(srv.url, { connections: 1 });
      const lat: number[] = [];
      const deadline = Date.now() + 20_000;
      try {
        for (let i = 0; i < n && Date.now() < deadline; i++) {
          const t = performance.now();
          // A read with bad credentials is still an anonymous read: it never reaches bcrypt.
          assert.equal(await status(pool, `/v2/team/app/blobs/${blob}`, i % 4 === 1 ? { authorization: basic('nobody', 'x') } : {}), 200);
          lat.push(performance.now() - t);
        }
      } finally {
        await pool.close();
      }
      return lat;
    };
    const idle = median(await reads(300));
    let stop = false;
    const answers: Record<string, number> = {};
    const attackers = new Pool(srv.url, { connections: 8 });
    const flood = Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; !stop && i < 100_000; i++) {
          const s = await status(attackers, '/v2/', { authorization: basic(i % 2 ? 'alice' : `nobody-${c}-${i}`, 'wrong') });
          answers[s] = (answers[s] ?? 0) + 1;
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    const loaded = await reads(300);
    stop = true;
    await flood;
    await attackers.close();
    const p50 = median(loaded);
    // The target (2×) is measured by bench/serve-auth; the bound here has room for a busy CI machine and still
    // fails by far when bcrypt holds the event loop (over 1000× before bfdb673).
    assert.ok(
      p50 <= 4 * idle,
      `anonymous read p50 ${p50.toFixed(2)} ms under the flood, ${idle.toFixed(2)} ms without (at most 4×); bad logins answered: ${JSON.stringify(answers)}`,
    );
    assert.deepEqual(
      Object.keys(answers).filter((s) => s !== '401' && s !== '429'),
      [],
      JSON.stringify(answers),
    );
  });

  test('a burst of bad logins beyond the queue is refused at once with 429, not queued', async () => {
    const pool = new Pool(srv.url, { connections: 48 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 48 }, async (_, i) => {
          const r = await pool.request({ path: '/v2/', method: 'GET', headers: { authorization: basic(`nobody-${i}`, 'wrong') } });
          await r.body.dump();
          return { status: r.statusCode, retryAfter: r.headers['retry-after'] };
        }),
      );
      const busy = answers.filter((a) => a.status === 429);
      assert.ok(busy.length > 0 && busy.every((a) => a.retryAfter === '1'), JSON.stringify(answers));
      assert.equal(answers.filter((a) => a.status === 401).length + busy.length, 48, JSON.stringify(answers));
    } finally {
      await pool.close();
    }
    // Once the burst is answered, logins are checked again.
    assert.equal((await fetch(`${srv.url}/v2/`, { headers: { authorization: basic('bob', 'bob-pw') } })).status, 200);
  });

  test('Expect: 100-continue on a write with bad credentials gets 401, never 100 Continue', async () => {
    const host = srv.host;
    const head = (auth: string) =>
      `POST /v2/team/app/blobs/uploads/ HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    for (const auth of [basic('alice', 'wrong'), basic('nobody', 'x')]) {
      const got = await rawExchange(srv.url, head(auth), Buffer.from('data'));
      assert.doesNotMatch(got, /^HTTP\/1\.1 100/m, got);
      assert.match(got, /^HTTP\/1\.1 401 /, got);
    }
    // With good credentials the client is told to go on, and the request goes through.
    const good = await rawExchange(srv.url, head(basic('alice', 'alice-pw')), Buffer.from('data'));
    assert.match(good, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /, good);
  });
});
