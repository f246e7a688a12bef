// Process helpers shared by the registry benchmarks (bench/serve/run.mjs,
// bench/serve-auth/run.mjs): a free loopback port, a child's output kept for
// error messages, waiting until a server answers GET /v2/, stopping a child,
// and CNCF distribution 2.8 (Debian's docker-registry) started on loopback
// from a config written to a directory, with or without htpasswd auth.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Keeps the end of a child's stdout and stderr (at most 1 MiB); returns a function that reads it. */
export function track(child) {
  let out = '';
  const keep = (b) => {
    out += b.toString();
    if (out.length > 1 << 20) out = out.slice(-(1 << 19));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => out;
}

/** Polls `url` until it answers one of `statuses`; throws, with the child's log, when the child exits or `ms` pass. */
export async function waitFor(url, child, log, { statuses = [200], ms = 20000 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited (${child.exitCode ?? child.signalCode}):\n${log()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (statuses.includes(r.status)) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in ${ms} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM to the server (`pid`: under a tracer, the traced process, so the tracer exits by itself and writes its summary); SIGKILL to the child after `graceMs`. */
export function stopChild(child, pid = child.pid, graceMs = 10000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  });
}

/**
 * docker-registry serving `dir`/storage on a free 127.0.0.1 port, configured by `dir`/config.yml.
 * `htpasswd`: the file's content, written to `dir`/htpasswd and required of every request (no
 * anonymous access); without it, no auth. `name` makes the HTTP secret. Resolves once GET /v2/
 * answers (200, or 401 with htpasswd).
 */
export async function startDistribution(dir, { htpasswd, name = 'bench' } = {}) {
  const port = await freePort();
  if (htpasswd !== undefined) writeFileSync(join(dir, 'htpasswd'), htpasswd);
  const cfg = join(dir, 'config.yml');
  writeFileSync(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      // As in the Debian package's /etc/docker/registry/config.yml: descriptors of blobs seen are cached in memory.
      '  cache:',
      '    blobdescriptor: inmemory',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(join(dir, 'storage'))}`,
      // distribution's default, written out.
      '  delete:',
      '    enabled: false',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      ...(htpasswd === undefined ? [] : ['auth:', '  htpasswd:', '    realm: bench', `    path: ${JSON.stringify(join(dir, 'htpasswd'))}`]),
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${name}-${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, child, log, { statuses: htpasswd === undefined ? [200] : [200, 401] });
  return { child, url, log };
}
