// Everything the registry client reads from a registry is bounded (issue 12,
// point 3): manifest, token and error bodies and WWW-Authenticate headers in
// bytes, and each request for a manifest, a token or an error body in total
// time, so a registry that streams forever or trickles a byte at a time cannot
// hang push or pull. The deadline is short here (1.5 s) to keep the tests fast;
// each case also runs under a limit of its own, so a hang fails it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { bufferSource, getBlob, uploadBlob, type Repository } from '../../registry/blobs.js';
import { getManifest } from '../../registry/manifests.js';
import { RegistrySession, type SessionOptions } from '../../registry/session.js';
import { nixEnv, removeDir, repoRoot, strataBin, tempDir } from '../helpers/strata.js';
import { registryHandler, startOrigin, stream, tinyImage, trickle, type Handler, type Origin } from './hostile-registry.js';

const img = tinyImage();
const layerDigest = [...img.blobs.keys()][0]! as `sha256:${string}`;
const DEADLINE_MS = 1500;
/** A case that has not settled by then has hung. */
const HANG_MS = 10_000;
/** More than any bound here; what a hostile server offers to send. */
const ENDLESS = 256 * 2 ** 20;

/** `p`, and how long it took to settle; rejects when it outlives HANG_MS. */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: Error & { code?: string } }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${HANG_MS / 1000} s: it hangs`)), HANG_MS)));
  try {
    const value = await Promise.race([p, hang]);
    return { ms: Date.now() - t0, value };
  } catch (e) {
    if ((e as Error).message.endsWith('it hangs')) throw e;
    return { ms: Date.now() - t0, error: e as Error & { code?: string } };
  } finally {
    clearTimeout(timer);
  }
}

describe('bounds on what a registry sends', () => {
  let registry: Origin;
  /** Per test: answers before the ordinary registry's, or undefined to fall through. */
  let hostile: ((...a: Parameters<Handler>) => boolean) | undefined;

  beforeAll(async () => {
    registry = await startOrigin(() => undefined);
    const normal = registryHandler(img, {}, () => registry.url);
    registry.handler = (req, res, url) => (hostile?.(req, res, url) ? undefined : normal(req, res, url));
  });
  afterAll(() => registry.stop());

  function repo(extra: SessionOptions = {}): Repository {
    const opts: SessionOptions = { requestTimeoutMs: DEADLINE_MS, retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 30_000 }, ...extra };
    return { session: RegistrySession.for(`127.0.0.1:${registry.port}`, opts), name: 'test/app' };
  }
  const isManifest = (url: URL) => url.pathname === '/v2/test/app/manifests/latest';

  test('a manifest body trickled a byte at a time is cut at the deadline: exit 7, the step and the limit named', async () => {
    hostile = (_req, res, url) => {
      if (!isManifest(url)) return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      void trickle(res, 300, 200, '{');
      return true;
    };
    const r = await timed(getManifest(repo(), 'latest'));
    assert.ok(r.error, 'it failed');
    assert.equal(r.error.code, 'registry');
    assert.match(r.error.message, /^read of manifest latest from 127\.0\.0\.1:\d+\/test\/app failed: .*within 1\.5 s/);
    assert.ok(r.ms < DEADLINE_MS + 1500, `${r.ms} ms`);
  });

  test('a manifest whose headers never come is cut at the deadline', async () => {
    hostile = (_req, _res, url) => isManifest(url); // never answers
    const r = await timed(getManifest(repo(), 'latest'));
    assert.match(r.error?.message ?? '', /within 1\.5 s/);
    assert.ok(r.ms < DEADLINE_MS + 1500, `${r.ms} ms`);
  });

  test('retries of a manifest request stay inside its deadline (Retry-After: 30 is not waited out)', async () => {
    hostile = (_req, res, url) => {
      if (!isManifest(url)) return false;
      res.writeHead(503, { 'retry-after': '30' }).end();
      return true;
    };
    const r = await timed(getManifest(repo(), 'latest'));
    assert.equal(r.error?.code, 'registry');
    assert.ok(r.ms < DEADLINE_MS + 1500, `${r.ms} ms`);
  });

  test('an endless error body is read only as far as the message needs', async () => {
    registry.written.bytes = 0;
    hostile = (_req, res, url) => {
      if (!isManifest(url)) return false;
      res.writeHead(400, { 'content-type': 'application/json' });
      void stream(res, registry, ENDLESS, 'x');
      return true;
    };
    const r = await timed(getManifest(repo(), 'latest'));
    assert.equal(r.error?.code, 'registry');
    assert.match(r.error!.message, /answered 400 \(x+\)$/);
    assert.ok(r.error!.message.length < 400);
    assert.ok(registry.written.bytes < 16 * 2 ** 20, `the server wrote ${registry.written.bytes} bytes`);
  });

  test('a trickled error body of a blob download (a request without a total deadline) is cut at the deadline', async () => {
    hostile = (_req, res, url) => {
      if (!url.pathname.includes('/blobs/')) return false;
      res.writeHead(400, { 'content-type': 'application/json' });
      void trickle(res, 300, 200, 'x');
      return true;
    };
    const r = await timed(getBlob(repo(), layerDigest));
    assert.equal(r.error?.code, 'registry');
    assert.match(r.error!.message, /answered 400/);
    assert.ok(r.ms < DEADLINE_MS + 1500, `${r.ms} ms`);
  });

  test('an upload whose answers trickle bodies nobody reads still ends: the bodies are dropped at the deadline', async () => {
    hostile = (req, res, url) => {
      const upload = req.method === 'POST' || url.pathname.startsWith('/upload/');
      if (!upload) return false;
      req.resume();
      req.on('end', () => {
        res.writeHead(req.method === 'PUT' ? 201 : 202, { location: `${registry.url}/upload/1` });
        void trickle(res, 300, 200, ' ');
      });
      return true;
    };
    const r = await timed(uploadBlob(repo(), bufferSource(Buffer.from('fresh bytes'))));
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.value?.action, 'uploaded');
    assert.ok(r.ms < 3 * DEADLINE_MS + 1500, `${r.ms} ms`);
  });

  describe('token service', () => {
    let bearer: Origin;
    let tokens: Handler;
    beforeAll(async () => {
      bearer = await startOrigin(() => undefined);
      const normal = registryHandler(img, {}, () => bearer.url);
      // A Bearer registry whose realm is its own /token, played by `tokens`.
      bearer.handler = (req, res, url) => {
        if (url.pathname === '/token') return tokens(req, res, url);
        if (req.headers.authorization !== 'Bearer registry-token') {
          res.writeHead(401, { 'www-authenticate': `Bearer realm="${bearer.url}/token",service="hostile"` }).end();
          return;
        }
        return normal(req, res, url);
      };
    });
    afterAll(() => bearer.stop());
    const tokenRepo = (extra: SessionOptions = {}): Repository => ({
      session: RegistrySession.for(`127.0.0.1:${bearer.port}`, {
        requestTimeoutMs: DEADLINE_MS,
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
        ...extra,
      }),
      name: 'test/app',
    });

    test('an endless token response is refused past 1 MiB', async () => {
      bearer.written.bytes = 0;
      tokens = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"token":"');
        void stream(res, bearer, ENDLESS, 'a');
      };
      const r = await timed(getManifest(tokenRepo(), 'latest'));
      assert.match(r.error?.message ?? '', /token .*larger than 1 MiB/);
      assert.ok(bearer.written.bytes < 16 * 2 ** 20, `the server wrote ${bearer.written.bytes} bytes`);
    });

    test('a trickled token response is cut at the deadline (exit 7), for a blob download too', async () => {
      tokens = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        void trickle(res, 300, 200, ' ');
      };
      // A blob download has no total deadline of its own: the token request's is what ends it.
      const r = await timed(getBlob(tokenRepo(), layerDigest));
      assert.equal(r.error?.code, 'registry');
      assert.match(r.error!.message, /token .*within 1\.5 s/);
      assert.ok(r.ms < DEADLINE_MS + 1500, `${r.ms} ms`);
    });

    test('a WWW-Authenticate header over 8 KiB is refused, not parsed', async () => {
      tokens = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"registry-token"}');
      const saved = bearer.handler;
      bearer.handler = (req, res, url) => {
        if (url.pathname === '/token') return saved(req, res, url);
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${bearer.url}/token",service="hostile",pad="${'a'.repeat(12 * 1024)}"` }).end();
      };
      bearer.hits.length = 0;
      try {
        const r = await timed(getManifest(tokenRepo(), 'latest'));
        assert.match(r.error?.message ?? '', /WWW-Authenticate .*8 KiB/);
        assert.ok(!bearer.hits.some((h) => h.path.startsWith('/token')), 'no token was asked for');
      } finally {
        bearer.handler = saved;
      }
    });
  });

  describe('the CLI', () => {
    function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
      const t0 = Date.now();
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [strataBin, ...args], { cwd: repoRoot, env: nixEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        let stdout = '';
        child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr, ms: Date.now() - t0 });
        });
      });
    }

    test('pull --request-timeout 2 against a trickled manifest: exit 7 in about 2 s, one line naming the step and the limit', async () => {
      hostile = (_req, res, url) => {
        if (!isManifest(url)) return false;
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        void trickle(res, 1000, 60, '{');
        return true;
      };
      const dir = tempDir();
      try {
        const r = await run(['pull', `127.0.0.1:${registry.port}/test/app:latest`, '-o', `oci:${dir}/out`, '--request-timeout', '2', '-q']);
        assert.equal(r.code, 7, r.stderr);
        const lines = r.stderr.split('\n').filter((l) => l.startsWith('strata: '));
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, /read of manifest latest .* within 2 s \(--request-timeout\)/);
        assert.ok(r.ms < 12_000, `${r.ms} ms`);
      } finally {
        removeDir(dir);
      }
    });

    test('--request-timeout takes whole seconds, at least 1, default 60', async () => {
      const bad = await run(['pull', `127.0.0.1:${registry.port}/test/app:latest`, '-o', 'oci:/nonexistent/x', '--request-timeout', '0']);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /--request-timeout '0'/);
      const help = await run(['pull', '--help']);
      assert.match(help.stdout.replace(/\s+/g, ' '), /--request-timeout <seconds> .*\(default: "60"\)/);
    });
  });
});
