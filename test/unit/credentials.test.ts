// Where registry credentials come from: --username, auth.json and docker
// config files in containers/image's order, credential helpers (fake
// docker-credential-* scripts on a temp PATH), and $GITHUB_TOKEN.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { redact, resolveCredential, type CredentialOptions } from '../../registry/credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const LEAK = 'TOPSECRET-do-not-print';

let base: string;
let bin: string;
let n = 0;

const helpers: Record<string, string> = {
  // Logs the server URL it was asked for, answers with basic credentials.
  good: `url=$(cat); printf '%s\\n' "$url" >> "$HELPER_LOG"
printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-pass"}' "$url"`,
  token: `cat >/dev/null; printf '{"ServerURL":"x","Username":"<token>","Secret":"refresh-token-1"}'`,
  notfound: `cat >/dev/null; echo "credentials not found in native keychain"; exit 1`,
  // Answers only for docker's Docker Hub key.
  hub: `url=$(cat); printf '%s\\n' "$url" >> "$HELPER_LOG"
if [ "$url" = "https://index.docker.io/v1/" ]; then printf '{"Username":"hub-user","Secret":"hub-pass"}'; else echo "credentials not found in native keychain"; exit 1; fi`,
  // Answers only for podman's Docker Hub key.
  podmanhub: `url=$(cat); printf '%s\\n' "$url" >> "$HELPER_LOG"
if [ "$url" = "docker.io" ]; then printf '{"Username":"podman-user","Secret":"podman-pass"}'; else echo "credentials not found in native keychain" >&2; exit 1; fi`,
  // Fails with a half-written answer that holds the secret.
  broken: `cat >/dev/null; printf '{"ServerURL":"x","Username":"u","Secret":"${LEAK}"'; exit 3`,
  // Exits 0 with something that is not JSON but holds the secret.
  garbled: `cat >/dev/null; printf 'Secret=${LEAK}'`,
  // Fails with a plain message that is worth showing, and one that quotes $GITHUB_TOKEN.
  locked: `cat >/dev/null; echo "pass store is locked" >&2; exit 1`,
  chatty: `cat >/dev/null; echo "token $GITHUB_TOKEN was refused" >&2; exit 1`,
  slow: `exec sleep 5`,
};

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'strata-credentials-test-'));
  bin = join(base, 'bin');
  mkdirSync(bin);
  for (const [name, body] of Object.entries(helpers)) {
    const p = join(bin, `docker-credential-${name}`);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
  }
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

interface Sandbox {
  root: string;
  home: string;
  env: NodeJS.ProcessEnv;
  log: string;
  write(path: string, content: unknown): string;
  opts(over?: CredentialOptions): CredentialOptions;
  calls(): string[];
}

/** A fresh HOME, runtime dir and environment; files are written relative to root. */
function sandbox(env: NodeJS.ProcessEnv = {}): Sandbox {
  const root = join(base, `s${n++}`);
  const home = join(root, 'home');
  mkdirSync(join(root, 'run'), { recursive: true });
  mkdirSync(home, { recursive: true });
  const log = join(root, 'helper.log');
  const fullEnv: NodeJS.ProcessEnv = { PATH: `${bin}:/usr/bin:/bin`, HOME: home, XDG_RUNTIME_DIR: join(root, 'run'), HELPER_LOG: log, ...env };
  return {
    root,
    home,
    env: fullEnv,
    log,
    write(path, content) {
      const p = join(root, path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
      return p;
    },
    opts(over = {}) {
      return { env: fullEnv, home, ...over };
    },
    calls() {
      try {
        return readFileSync(log, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

const basic = (username: string, password: string) => ({ kind: 'basic', username, password });
const auths = (entries: Record<string, unknown>) => ({ auths: entries });

async function refused(p: Promise<unknown>, code: string, re?: RegExp): Promise<StrataError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof StrataError, `expected a StrataError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (re) assert.match(caught.message, re);
  return caught;
}

describe('--username and --password-stdin', () => {
  it('both given: basic, and no file is read', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', '{ not json');
    const found = await resolveCredential('quay.io', s.opts({ username: 'me', password: 'pw' }));
    assert.deepEqual(found, { credential: basic('me', 'pw'), source: '--username and --password-stdin' });
  });
  it('one without the other is a usage error', async () => {
    const s = sandbox();
    await refused(resolveCredential('quay.io', s.opts({ username: 'me' })), 'usage', /--password-stdin/);
    await refused(resolveCredential('quay.io', s.opts({ password: 'pw' })), 'usage', /--username/);
    await refused(resolveCredential('quay.io', s.opts({ username: '', password: 'pw' })), 'usage', /empty/);
    await refused(resolveCredential('quay.io', s.opts({ username: 'me', password: '' })), 'usage', /empty/);
  });
});

describe('the order of credential files', () => {
  const entry = (who: string) => auths({ 'quay.io': { auth: b64(`${who}:pw`) } });

  it('nothing anywhere: undefined', async () => {
    const s = sandbox();
    assert.equal(await resolveCredential('quay.io', s.opts()), undefined);
  });
  it('~/.docker/config.json alone is found', async () => {
    const s = sandbox();
    const p = s.write('home/.docker/config.json', entry('docker'));
    assert.deepEqual(await resolveCredential('quay.io', s.opts()), { credential: basic('docker', 'pw'), source: `${p} (auths: quay.io)` });
  });
  it('$XDG_RUNTIME_DIR/containers/auth.json beats ~/.config/containers/auth.json beats the docker config', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', entry('docker'));
    s.write('home/.config/containers/auth.json', entry('config-home'));
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('config-home', 'pw'));
    s.write('run/containers/auth.json', entry('runtime'));
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('runtime', 'pw'));
  });
  it('$XDG_CONFIG_HOME moves the containers file; $DOCKER_CONFIG moves the docker one', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', entry('docker-home'));
    s.write('elsewhere/docker/config.json', entry('docker-config'));
    s.write('home/.config/containers/auth.json', entry('default-config-home'));
    const env: NodeJS.ProcessEnv = { ...s.env, DOCKER_CONFIG: join(s.root, 'elsewhere/docker') };
    assert.deepEqual((await resolveCredential('quay.io', s.opts({ env })))?.credential, basic('default-config-home', 'pw'));
    env.XDG_CONFIG_HOME = join(s.root, 'xdg');
    assert.deepEqual((await resolveCredential('quay.io', s.opts({ env })))?.credential, basic('docker-config', 'pw'));
    s.write('xdg/containers/auth.json', entry('xdg'));
    assert.deepEqual((await resolveCredential('quay.io', s.opts({ env })))?.credential, basic('xdg', 'pw'));
  });
  it('$REGISTRY_AUTH_FILE beats auth.json and the docker config; the others still follow it', async () => {
    const s = sandbox();
    s.write('run/containers/auth.json', entry('runtime'));
    s.write('home/.docker/config.json', auths({ 'quay.io': { auth: b64('docker:pw') }, 'ghcr.io': { auth: b64('docker-ghcr:pw') } }));
    const file = s.write('custom/auth.json', entry('custom'));
    const env = { ...s.env, REGISTRY_AUTH_FILE: file };
    assert.deepEqual(await resolveCredential('quay.io', s.opts({ env })), { credential: basic('custom', 'pw'), source: `${file} (auths: quay.io)` });
    assert.deepEqual((await resolveCredential('ghcr.io', s.opts({ env })))?.credential, basic('docker-ghcr', 'pw'));
  });
  it('--authfile is the only file consulted', async () => {
    const s = sandbox();
    s.write('run/containers/auth.json', entry('runtime'));
    s.write('home/.docker/config.json', auths({ 'ghcr.io': { auth: b64('docker:pw') } }));
    const file = s.write('only.json', entry('only'));
    const env = { ...s.env, REGISTRY_AUTH_FILE: s.write('reg.json', entry('reg')) };
    assert.deepEqual(await resolveCredential('quay.io', s.opts({ env, authFile: file })), {
      credential: basic('only', 'pw'),
      source: `${file} (auths: quay.io)`,
    });
    assert.equal(await resolveCredential('ghcr.io', s.opts({ env, authFile: file })), undefined);
  });
  it('--authfile naming no file is an auth error', async () => {
    const s = sandbox();
    await refused(resolveCredential('quay.io', s.opts({ authFile: join(s.root, 'missing.json') })), 'auth', /missing\.json does not exist/);
  });
  it('the legacy ~/.dockercfg comes last and has URL keys', async () => {
    const s = sandbox();
    const p = s.write('home/.dockercfg', { 'https://index.docker.io/v1/': { auth: b64('legacy:pw'), email: 'x@example.com' } });
    assert.deepEqual(await resolveCredential('docker.io', s.opts()), {
      credential: basic('legacy', 'pw'),
      source: `${p} (auths: https://index.docker.io/v1/)`,
    });
    s.write('home/.docker/config.json', auths({ 'docker.io': { auth: b64('docker:pw') } }));
    assert.deepEqual((await resolveCredential('docker.io', s.opts()))?.credential, basic('docker', 'pw'));
  });
  it('an empty entry is not a hit: the next file is read', async () => {
    const s = sandbox();
    s.write('run/containers/auth.json', auths({ 'quay.io': { auth: '' } }));
    s.write('home/.config/containers/auth.json', auths({ 'quay.io': {} }));
    s.write('home/.docker/config.json', entry('docker'));
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('docker', 'pw'));
  });
});

describe('auths keys', () => {
  it('https://host/v1/, http://host and host:port URLs name the host', async () => {
    const s = sandbox();
    s.write(
      'home/.docker/config.json',
      auths({
        'https://reg.example.com:5000/v1/': { auth: b64('a:1') },
        'http://plain.example.com': { auth: b64('b:2') },
        'HTTPS://Upper.Example.com/': { auth: b64('c:3') },
      }),
    );
    assert.deepEqual((await resolveCredential('reg.example.com:5000', s.opts()))?.credential, basic('a', '1'));
    assert.deepEqual((await resolveCredential('plain.example.com', s.opts()))?.credential, basic('b', '2'));
    assert.deepEqual((await resolveCredential('upper.example.com', s.opts()))?.credential, basic('c', '3'));
    assert.equal(await resolveCredential('reg.example.com', s.opts()), undefined);
  });
  it('docker.io, index.docker.io, registry-1.docker.io and https://index.docker.io/v1/ are one registry', async () => {
    for (const key of ['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io', 'docker.io']) {
      const s = sandbox();
      s.write('home/.docker/config.json', auths({ [key]: { auth: b64('hub:pw') } }));
      assert.deepEqual(
        await resolveCredential('docker.io', s.opts()),
        { credential: basic('hub', 'pw'), source: `${join(s.home, '.docker/config.json')} (auths: ${key})` },
        key,
      );
    }
    const s = sandbox();
    s.write('home/.docker/config.json', auths({ 'docker.io': { auth: b64('hub:pw') } }));
    assert.deepEqual((await resolveCredential('index.docker.io', s.opts()))?.credential, basic('hub', 'pw'));
  });
  it('an exact key wins over one that only normalises to the host', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', auths({ 'https://quay.io/v1/': { auth: b64('url:pw') }, 'quay.io': { auth: b64('exact:pw') } }));
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('exact', 'pw'));
  });
  it('with a repository, the most specific namespaced key wins', async () => {
    const s = sandbox();
    s.write(
      'run/containers/auth.json',
      auths({
        'quay.io': { auth: b64('host:pw') },
        'quay.io/org': { auth: b64('org:pw') },
        'quay.io/org/app': { auth: b64('app:pw') },
      }),
    );
    const cred = async (repo?: string) => (await resolveCredential('quay.io', s.opts(), repo))?.credential;
    assert.deepEqual(await cred('org/app'), basic('app', 'pw'));
    assert.deepEqual(await cred('org/other'), basic('org', 'pw'));
    assert.deepEqual(await cred('org/app/sub'), basic('app', 'pw'));
    assert.deepEqual(await cred('elsewhere/app'), basic('host', 'pw'));
    assert.deepEqual(await cred(), basic('host', 'pw'));
  });
  it('a namespaced key is never taken for its host', async () => {
    const s = sandbox();
    s.write('run/containers/auth.json', auths({ 'quay.io/org': { auth: b64('org:pw') } }));
    assert.equal(await resolveCredential('quay.io', s.opts()), undefined);
    assert.equal(await resolveCredential('quay.io', s.opts(), 'other/app'), undefined);
  });
  it('identitytoken, registrytoken and username/password entries', async () => {
    const s = sandbox();
    s.write(
      'home/.docker/config.json',
      auths({
        'id.example.com': { auth: b64('someone:'), identitytoken: 'refresh-1' },
        'rt.example.com': { registrytoken: 'bearer-1' },
        'up.example.com': { username: 'u', password: 'p' },
        'nul.example.com': { auth: b64('u:p\0\0') },
      }),
    );
    assert.deepEqual((await resolveCredential('id.example.com', s.opts()))?.credential, { kind: 'identity-token', token: 'refresh-1' });
    assert.deepEqual((await resolveCredential('rt.example.com', s.opts()))?.credential, { kind: 'registry-token', token: 'bearer-1' });
    assert.deepEqual((await resolveCredential('up.example.com', s.opts()))?.credential, basic('u', 'p'));
    assert.deepEqual((await resolveCredential('nul.example.com', s.opts()))?.credential, basic('u', 'p'));
  });
  it('a password may hold colons', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', auths({ 'quay.io': { auth: b64('u:a:b:c') } }));
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('u', 'a:b:c'));
  });
  it('an auth that is not base64 of user:password is an error naming the file and key, not the value', async () => {
    const s = sandbox();
    const p = s.write('home/.docker/config.json', auths({ 'quay.io': { auth: b64(LEAK) } }));
    const e = await refused(resolveCredential('quay.io', s.opts()), 'auth', /username:password/);
    assert.ok(e.message.includes(p) && e.message.includes('quay.io'), e.message);
    assert.ok(!e.message.includes(LEAK) && !e.message.includes(b64(LEAK)), e.message);
    s.write('home/.docker/config.json', auths({ 'quay.io': { auth: '!!not base64!!' } }));
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /not base64/);
  });
});

describe('credential helpers', () => {
  it('credHelpers beats auths beats credsStore within one file', async () => {
    const s = sandbox();
    const p = s.write('home/.docker/config.json', {
      credHelpers: { 'quay.io': 'good' },
      auths: { 'quay.io': { auth: b64('file:pw') }, 'ghcr.io': { auth: b64('file:pw') } },
      credsStore: 'token',
    });
    assert.deepEqual(await resolveCredential('quay.io', s.opts()), { credential: basic('helper-user', 'helper-pass'), source: `${p} (credHelpers: good)` });
    assert.deepEqual(await resolveCredential('ghcr.io', s.opts()), { credential: basic('file', 'pw'), source: `${p} (auths: ghcr.io)` });
    assert.deepEqual(await resolveCredential('gcr.io', s.opts()), {
      credential: { kind: 'identity-token', token: 'refresh-token-1' },
      source: `${p} (credsStore: token)`,
    });
  });
  it('a helper that has nothing is a miss: auths, then credsStore, then the next file', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credHelpers: { 'quay.io': 'notfound' }, auths: { 'quay.io': { auth: b64('file:pw') } } });
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('file', 'pw'));
    // docker login with a credsStore leaves an empty entry behind.
    s.write('run/containers/auth.json', { auths: { 'ghcr.io': {} }, credsStore: 'notfound' });
    s.write('home/.docker/config.json', { auths: { 'ghcr.io': {} }, credsStore: 'good' });
    assert.deepEqual((await resolveCredential('ghcr.io', s.opts()))?.credential, basic('helper-user', 'helper-pass'));
    s.write('home/.docker/config.json', { auths: { 'ghcr.io': {} }, credsStore: 'notfound' });
    assert.equal(await resolveCredential('ghcr.io', s.opts()), undefined);
  });
  it('a helper is asked for the host, and for Docker Hub for https://index.docker.io/v1/', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credsStore: 'good' });
    await resolveCredential('ghcr.io', s.opts());
    await resolveCredential('localhost:5000', s.opts());
    await resolveCredential('docker.io', s.opts());
    assert.deepEqual(s.calls(), ['ghcr.io', 'localhost:5000', 'https://index.docker.io/v1/']);
  });
  it('Docker Hub: a helper that knows only podman\'s "docker.io" key is asked for it next', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credsStore: 'podmanhub' });
    assert.deepEqual((await resolveCredential('docker.io', s.opts()))?.credential, basic('podman-user', 'podman-pass'));
    assert.deepEqual(s.calls(), ['https://index.docker.io/v1/', 'docker.io']);
    const t = sandbox();
    t.write('home/.docker/config.json', { credsStore: 'hub' });
    assert.deepEqual((await resolveCredential('docker.io', t.opts()))?.credential, basic('hub-user', 'hub-pass'));
    assert.deepEqual(t.calls(), ['https://index.docker.io/v1/']);
  });
  it("credHelpers keys are matched like auths keys (docker writes Docker Hub's as a URL)", async () => {
    const s = sandbox();
    const p = s.write('home/.docker/config.json', { credHelpers: { 'https://index.docker.io/v1/': 'hub', 'registry.example.com': 'good' } });
    assert.deepEqual(await resolveCredential('docker.io', s.opts()), { credential: basic('hub-user', 'hub-pass'), source: `${p} (credHelpers: hub)` });
    assert.deepEqual((await resolveCredential('Registry.Example.com', s.opts()))?.credential, basic('helper-user', 'helper-pass'));
  });
  it('"Username": "<token>" is an identity token', async () => {
    const s = sandbox();
    s.write('run/containers/auth.json', { credHelpers: { 'quay.io': 'token' } });
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, { kind: 'identity-token', token: 'refresh-token-1' });
  });
  it('a missing helper binary is an auth error naming the helper and the registry', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credsStore: 'nosuch' });
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /docker-credential-nosuch.*quay\.io.*not on PATH/);
  });
  it('a failing helper is an auth error that never carries the secret', async () => {
    const s = sandbox({ GITHUB_TOKEN: `gh-${LEAK}` });
    for (const helper of ['broken', 'garbled', 'chatty']) {
      s.write('home/.docker/config.json', { credHelpers: { 'quay.io': helper } });
      const e = await refused(resolveCredential('quay.io', s.opts()), 'auth', new RegExp(`docker-credential-${helper}.*quay\\.io`));
      assert.ok(!e.message.includes(LEAK), `${helper}: ${e.message}`);
    }
    s.write('home/.docker/config.json', { credHelpers: { 'quay.io': 'broken' } });
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /exit status 3/);
    s.write('home/.docker/config.json', { credHelpers: { 'quay.io': 'chatty' } });
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /token <redacted> was refused/);
  });
  it("a failing helper's plain message is shown", async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credsStore: 'locked' });
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /docker-credential-locked failed for quay\.io \(exit status 1\): pass store is locked/);
  });
  it('a helper that hangs is stopped', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credsStore: 'slow' });
    await refused(resolveCredential('quay.io', s.opts({ helperTimeoutMs: 200 })), 'auth', /docker-credential-slow did not answer for quay\.io/);
  });
  it('a helper name with a path in it is refused', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', { credsStore: '../../bin/sh' });
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /not a plain name/);
  });
});

describe('$GITHUB_TOKEN', () => {
  it('is used for ghcr.io and docker.pkg.github.com, as $GITHUB_ACTOR or github-actions', async () => {
    const s = sandbox({ GITHUB_TOKEN: 'ghs_abc', GITHUB_ACTOR: 'octocat' });
    assert.deepEqual(await resolveCredential('ghcr.io', s.opts()), { credential: basic('octocat', 'ghs_abc'), source: '$GITHUB_TOKEN (user octocat)' });
    assert.deepEqual((await resolveCredential('docker.pkg.github.com', s.opts()))?.credential, basic('octocat', 'ghs_abc'));
    const t = sandbox({ GITHUB_TOKEN: 'ghs_abc' });
    assert.deepEqual((await resolveCredential('ghcr.io', t.opts()))?.credential, basic('github-actions', 'ghs_abc'));
  });
  it('is not sent to other registries', async () => {
    const s = sandbox({ GITHUB_TOKEN: 'ghs_abc' });
    assert.equal(await resolveCredential('quay.io', s.opts()), undefined);
    assert.equal(await resolveCredential('docker.io', s.opts()), undefined);
    assert.equal(await resolveCredential('ghcr.io.evil.example', s.opts()), undefined);
  });
  it('$STRATA_GITHUB_TOKEN_HOSTS adds hosts', async () => {
    const s = sandbox({ GITHUB_TOKEN: 'ghs_abc', STRATA_GITHUB_TOKEN_HOSTS: ' containers.ghe.example.com , localhost:5000,' });
    assert.deepEqual((await resolveCredential('containers.ghe.example.com', s.opts()))?.credential, basic('github-actions', 'ghs_abc'));
    assert.deepEqual((await resolveCredential('localhost:5000', s.opts()))?.credential, basic('github-actions', 'ghs_abc'));
    assert.equal(await resolveCredential('localhost:5001', s.opts()), undefined);
  });
  it('comes after the credential files, and after --authfile', async () => {
    const s = sandbox({ GITHUB_TOKEN: 'ghs_abc' });
    s.write('home/.docker/config.json', auths({ 'ghcr.io': { auth: b64('docker:pw') } }));
    assert.deepEqual((await resolveCredential('ghcr.io', s.opts()))?.credential, basic('docker', 'pw'));
    const file = s.write('only.json', auths({}));
    assert.deepEqual((await resolveCredential('ghcr.io', s.opts({ authFile: file })))?.credential, basic('github-actions', 'ghs_abc'));
  });
  it('an empty $GITHUB_TOKEN is no token', async () => {
    const s = sandbox({ GITHUB_TOKEN: '' });
    assert.equal(await resolveCredential('ghcr.io', s.opts()), undefined);
  });
});

describe('unreadable credential files', () => {
  it('malformed JSON: an auth error naming the file and the position, without its contents', async () => {
    const s = sandbox();
    const p = s.write('home/.docker/config.json', `{\n  "auths": {\n    "quay.io": { "auth": "${LEAK}" ,, }\n  }\n}\n`);
    const e = await refused(resolveCredential('quay.io', s.opts()), 'auth', /not valid JSON \(syntax error at line 3, column \d+\)/);
    assert.ok(e.message.includes(p), e.message);
    assert.ok(!e.message.includes(LEAK), e.message);
    assert.equal(e.cause, undefined);
  });
  it('a truncated file and a short one', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', `{"auths": {"quay.io": {"auth": "${LEAK}`);
    const e = await refused(resolveCredential('quay.io', s.opts()), 'auth', /unexpected end of input at line 1/);
    assert.ok(!e.message.includes(LEAK), e.message);
    // Not 'xy' or the like: the message names the file, whose temporary path may hold any short string.
    s.write('home/.docker/config.json', 'garbage-not-json');
    const f = await refused(resolveCredential('quay.io', s.opts()), 'auth', /line 1, column 1\)/);
    assert.ok(!f.message.includes('garbage-not-json'), f.message);
    s.write('home/.docker/config.json', '');
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /not valid JSON/);
  });
  it('a file that is JSON but not a config', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', '[]');
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /not a JSON object/);
    s.write('home/.docker/config.json', '{"auths": []}');
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /"auths" is not an object/);
    s.write('home/.docker/config.json', '{"auths": {"quay.io": "x"}}');
    await refused(resolveCredential('quay.io', s.opts()), 'auth', /entry "quay\.io" is not an object/);
  });
  it('a malformed file the search does not reach is not read', async () => {
    const s = sandbox();
    s.write('run/containers/auth.json', auths({ 'quay.io': { auth: b64('runtime:pw') } }));
    s.write('home/.docker/config.json', '{ broken');
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('runtime', 'pw'));
  });
  it('a byte-order mark is allowed', async () => {
    const s = sandbox();
    s.write('home/.docker/config.json', `\uFEFF${JSON.stringify(auths({ 'quay.io': { auth: b64('bom:pw') } }))}`);
    assert.deepEqual((await resolveCredential('quay.io', s.opts()))?.credential, basic('bom', 'pw'));
  });
});

describe('redact', () => {
  it('replaces every occurrence, longest secret first, and URL-encoded forms', () => {
    assert.equal(redact('a s3cret b s3cret', ['s3cret']), 'a <redacted> b <redacted>');
    assert.equal(redact('tok=abcdef', ['abc', 'abcdef']), 'tok=<redacted>');
    assert.equal(redact('?p=a%2Fb%3D', ['a/b=']), '?p=<redacted>');
    assert.equal(redact('nothing here', ['', 'zzz']), 'nothing here');
  });
});
