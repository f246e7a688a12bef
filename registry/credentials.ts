// Where registry credentials come from, the way skopeo/podman (containers/image
// pkg/docker/config) and the docker CLI (cli/config) find them, so a user who
// ran `podman login`, `docker login` or set up a credential helper needs
// nothing more for Strata.
//
// Lookup order for a registry (first hit wins):
//  1. --username with --password-stdin.
//  2. Credential files. With --authfile, only that file. Otherwise, in order,
//     each that exists:
//       $REGISTRY_AUTH_FILE
//       $XDG_RUNTIME_DIR/containers/auth.json (Linux; /run/containers/$UID/auth.json
//         when XDG_RUNTIME_DIR is unset; ~/.config/containers/auth.json elsewhere)
//       ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json
//       ${DOCKER_CONFIG:-~/.docker}/config.json
//       ~/.dockercfg (legacy format: the file is the "auths" map itself)
//     Within one file: credHelpers[registry] → that helper; then "auths"; then
//     credsStore → that helper. A helper saying "credentials not found" is a
//     miss and the search goes on, as does an empty "auths" entry (what docker
//     login writes next to a credsStore).
//  3. $GITHUB_TOKEN for ghcr.io, docker.pkg.github.com and the hosts in
//     $STRATA_GITHUB_TOKEN_HOSTS.
//
// "auths" keys: an exact key wins ("host", or with a repository "host/ns/repo",
// then "host/ns", then "host", the containers-auth.json(5) namespace lookup);
// otherwise any key that names the same host once normalised: a scheme and the
// path after it are dropped (https://host/v1/ → host), and docker.io,
// index.docker.io and registry-1.docker.io are one registry. Namespaced keys
// are matched exactly, never normalised, and never in ~/.dockercfg.
//
// Deliberate differences from the tools this follows:
//  - docker consults "auths" only when no credsStore is set; here a non-empty
//    "auths" entry is used before the credsStore is asked (docker login never
//    writes both for one host, so only hand-written files see the difference).
//  - podman/skopeo treat $REGISTRY_AUTH_FILE like --authfile (the only file);
//    here it is the first file of the search and the others still follow.
//  - For Docker Hub a helper is asked for https://index.docker.io/v1/ (docker's
//    key) and, if that is not found, for docker.io (the key podman login uses).
import { execFile, type ExecFileException } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../base/errors.js';

export type Credential =
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token: "Username": "<token>" from a helper, or "identitytoken" in a config file. */
  | { kind: 'identity-token'; token: string }
  /** A bearer token sent as is ("registrytoken" in a docker config file). */
  | { kind: 'registry-token'; token: string };

export interface CredentialOptions {
  /** Default: process.env. Also the environment (and PATH) credential helpers run with. */
  env?: NodeJS.ProcessEnv;
  /** From --username and --password-stdin: both or neither. */
  username?: string;
  password?: string;
  /** --authfile: the only file consulted when given. */
  authFile?: string;
  /** Default: os.homedir(). */
  home?: string;
  /** How long a credential helper may take; default 30 s. */
  helperTimeoutMs?: number;
}

export interface FoundCredential {
  credential: Credential;
  /** Where it came from, for humans, e.g. "/root/.docker/config.json (credHelpers: pass)". Never the secret. */
  source: string;
}

const DEFAULT_HELPER_TIMEOUT_MS = 30_000;
const GITHUB_TOKEN_HOSTS = ['ghcr.io', 'docker.pkg.github.com'];
/** The key docker uses for Docker Hub in helpers and config files. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

/**
 * The credential for `registry` (a normalised host[:port]; Docker Hub is
 * docker.io), or undefined for anonymous access. `repository` (e.g.
 * "org/app"), when given, lets namespaced "auths" keys (host/org/app, host/org)
 * win over the host's own entry.
 */
export async function resolveCredential(registry: string, opts: CredentialOptions = {}, repository?: string): Promise<FoundCredential | undefined> {
  const env = opts.env ?? process.env;

  if (opts.username !== undefined || opts.password !== undefined) {
    if (opts.password === undefined) throw new StrataError('usage', '--username needs --password-stdin');
    if (opts.username === undefined) throw new StrataError('usage', '--password-stdin needs --username');
    if (opts.username === '') throw new StrataError('usage', '--username is empty');
    if (opts.password === '') throw new StrataError('usage', 'the password read by --password-stdin is empty');
    return { credential: { kind: 'basic', username: opts.username, password: opts.password }, source: '--username and --password-stdin' };
  }

  const home = opts.home ?? os.homedir();
  const ctx: LookupContext = {
    registry,
    repository: repository?.replace(/^\/+|\/+$/g, '') || undefined,
    env,
    timeoutMs: opts.helperTimeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS,
    knownSecrets: [env.GITHUB_TOKEN ?? ''],
  };
  for (const file of authFiles(opts, env, home)) {
    const config = await readConfig(file);
    if (!config) continue;
    const found = await lookInFile(file, config, ctx);
    if (found) return found;
  }

  const token = env.GITHUB_TOKEN;
  if (token && githubTokenHosts(env).has(registry.toLowerCase())) {
    const username = env.GITHUB_ACTOR || 'github-actions';
    return { credential: { kind: 'basic', username, password: token }, source: `$GITHUB_TOKEN (user ${username})` };
  }
  return undefined;
}

/** text with every occurrence of each non-empty secret (and its URL-encoded form) replaced by <redacted>. */
export function redact(text: string, secrets: string[]): string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    forms.add(s);
    const enc = encodeURIComponent(s);
    if (enc !== s) forms.add(enc);
  }
  // Longest first, so a secret that contains another is replaced whole.
  let out = text;
  for (const f of [...forms].sort((a, b) => b.length - a.length)) out = out.split(f).join('<redacted>');
  return out;
}

// ---------------------------------------------------------------------------

interface AuthFile {
  path: string;
  /** ~/.dockercfg: the top level is the auths map. */
  legacy: boolean;
  /** --authfile: a missing file is an error, not a miss. */
  explicit: boolean;
}

interface ConfigContents {
  auths: Record<string, unknown>;
  credHelpers: Record<string, unknown>;
  credsStore: string | undefined;
}

interface LookupContext {
  registry: string;
  repository: string | undefined;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  knownSecrets: string[];
}

function authFiles(opts: CredentialOptions, env: NodeJS.ProcessEnv, home: string): AuthFile[] {
  if (opts.authFile !== undefined) {
    if (opts.authFile === '') throw new StrataError('usage', '--authfile is empty');
    return [{ path: path.resolve(opts.authFile), legacy: false, explicit: true }];
  }
  const files: AuthFile[] = [];
  const add = (p: string, legacy = false): void => {
    const abs = path.resolve(p);
    if (!files.some((f) => f.path === abs)) files.push({ path: abs, legacy, explicit: false });
  };
  if (env.REGISTRY_AUTH_FILE) add(env.REGISTRY_AUTH_FILE);
  if (process.platform === 'linux') {
    if (env.XDG_RUNTIME_DIR) add(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
    else if (typeof process.getuid === 'function') add(`/run/containers/${process.getuid()}/auth.json`);
  } else {
    add(path.join(home, '.config', 'containers', 'auth.json'));
  }
  add(path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers', 'auth.json'));
  add(path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'));
  add(path.join(home, '.dockercfg'), true);
  return files;
}

function githubTokenHosts(env: NodeJS.ProcessEnv): Set<string> {
  const extra = (env.STRATA_GITHUB_TOKEN_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  return new Set([...GITHUB_TOKEN_HOSTS, ...extra]);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The parsed file, or undefined when it does not exist. */
async function readConfig(file: AuthFile): Promise<ConfigContents | undefined> {
  let text: string;
  try {
    text = await readFile(file.path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (file.explicit) throw new StrataError('auth', `--authfile ${file.path} does not exist`);
      return undefined;
    }
    throw new StrataError('auth', `cannot read credentials file ${file.path}: ${code ?? String(e)}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // V8's message can quote the file's text, so it is not passed on; the position is found here.
    throw new StrataError('auth', `credentials file ${file.path} is not valid JSON (${describeJsonError(text)})`);
  }
  if (!isObject(data)) throw new StrataError('auth', `credentials file ${file.path} is not a JSON object`);

  if (file.legacy) return { auths: data, credHelpers: {}, credsStore: undefined };
  const { auths = {}, credHelpers = {}, credsStore } = data;
  if (!isObject(auths)) throw new StrataError('auth', `credentials file ${file.path}: "auths" is not an object`);
  if (!isObject(credHelpers)) throw new StrataError('auth', `credentials file ${file.path}: "credHelpers" is not an object`);
  if (credsStore !== undefined && typeof credsStore !== 'string') throw new StrataError('auth', `credentials file ${file.path}: "credsStore" is not a string`);
  return { auths, credHelpers, credsStore: credsStore || undefined };
}

async function lookInFile(file: AuthFile, config: ConfigContents, ctx: LookupContext): Promise<FoundCredential | undefined> {
  const helper = pickCredHelper(file, config.credHelpers, ctx.registry);
  if (helper) {
    const source = `${file.path} (credHelpers: ${helper})`;
    const credential = await askHelper(helper, source, ctx);
    if (credential) return { credential, source };
  }

  for (const [key, entry] of authCandidates(config.auths, ctx.registry, ctx.repository, file.legacy)) {
    const credential = decodeEntry(file, key, entry);
    if (credential) return { credential, source: `${file.path} (auths: ${key})` };
  }

  if (config.credsStore) {
    const source = `${file.path} (credsStore: ${config.credsStore})`;
    const credential = await askHelper(config.credsStore, source, ctx);
    if (credential) return { credential, source };
  }
  return undefined;
}

/** docker.io, index.docker.io and registry-1.docker.io are one registry; host names are case-insensitive. */
function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h === 'docker.io' || h === 'registry-1.docker.io' ? 'index.docker.io' : h;
}

/**
 * The registry an "auths" key names: a scheme and everything after the host
 * go (https://host/v1/ → host); without a scheme, a path is a namespace and
 * is kept (except in the legacy file, whose keys are always URLs or hosts).
 */
function normaliseKey(key: string, cutPath: boolean): string {
  const stripped = key.replace(/^https?:\/\//i, '');
  const host = cutPath || stripped !== key ? stripped.split('/')[0]! : stripped;
  return normaliseHost(host);
}

function pickCredHelper(file: AuthFile, credHelpers: Record<string, unknown>, registry: string): string | undefined {
  let key: string | undefined = Object.hasOwn(credHelpers, registry) ? registry : undefined;
  if (key === undefined) {
    const want = normaliseHost(registry);
    key = Object.keys(credHelpers).find((k) => normaliseKey(k, true) === want);
  }
  if (key === undefined) return undefined;
  const helper = credHelpers[key];
  if (typeof helper !== 'string') throw new StrataError('auth', `credentials file ${file.path}: credHelpers entry "${key}" is not a string`);
  return helper || undefined;
}

/** The "auths" entries that may hold the registry's credential, best first. */
function* authCandidates(auths: Record<string, unknown>, registry: string, repository: string | undefined, legacy: boolean): Generator<[string, unknown]> {
  const tried = new Set<string>();
  const keys: string[] = [];
  if (repository && !legacy) {
    let name = `${registry}/${repository}`;
    for (;;) {
      keys.push(name);
      const slash = name.lastIndexOf('/');
      if (slash < 0) break;
      name = name.slice(0, slash);
    }
  } else {
    keys.push(registry);
  }
  for (const k of keys) {
    if (Object.hasOwn(auths, k)) {
      tried.add(k);
      yield [k, auths[k]];
    }
  }
  const want = normaliseHost(registry);
  for (const k of Object.keys(auths)) {
    if (!tried.has(k) && normaliseKey(k, legacy) === want) yield [k, auths[k]];
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

/** One "auths" entry as a credential; undefined for an empty entry. */
function decodeEntry(file: AuthFile, key: string, entry: unknown): Credential | undefined {
  const where = `credentials file ${file.path}, entry "${key}"`;
  if (!isObject(entry)) throw new StrataError('auth', `${where} is not an object`);
  const str = (name: string): string => {
    const v = entry[name];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new StrataError('auth', `${where}: "${name}" is not a string`);
    return v;
  };
  const registryToken = str('registrytoken');
  if (registryToken) return { kind: 'registry-token', token: registryToken };
  const identityToken = str('identitytoken');
  if (identityToken) return { kind: 'identity-token', token: identityToken };
  const auth = str('auth').trim();
  if (auth) {
    if (!BASE64.test(auth)) throw new StrataError('auth', `${where}: "auth" is not base64`);
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new StrataError('auth', `${where}: "auth" is not base64 of username:password`);
    // containers/image trims NULs some old writers left after the password.
    const password = decoded.slice(colon + 1).replace(/^\0+|\0+$/g, '');
    if (password) return { kind: 'basic', username: decoded.slice(0, colon), password };
    return undefined;
  }
  const username = str('username');
  const password = str('password');
  if (username && password) return { kind: 'basic', username, password };
  return undefined;
}

// --- credential helpers ------------------------------------------------------

interface HelperRun {
  error: ExecFileException | null;
  stdout: string;
  stderr: string;
}

function runHelper(program: string, serverUrl: string, ctx: LookupContext): Promise<HelperRun> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      ['get'],
      { env: ctx.env, timeout: ctx.timeoutMs, maxBuffer: 1 << 20, windowsHide: true, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ error, stdout, stderr }),
    );
    // A helper that exits without reading its input must not crash Strata with EPIPE.
    child.stdin?.on('error', () => {});
    // docker's helper client sends the server URL without a newline; so does this.
    child.stdin?.end(serverUrl);
  });
}

function isNotFound(run: HelperRun): boolean {
  return /credentials not found/i.test(run.stdout) || /credentials not found/i.test(run.stderr);
}

/**
 * A short line from a failed helper's output that cannot carry its answer:
 * nothing that looks like JSON, at most 200 characters, known secrets redacted.
 */
function safeHelperMessage(run: HelperRun, secrets: string[]): string {
  for (const text of [run.stderr, run.stdout]) {
    const line = text
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean);
    if (!line) continue;
    if (/^[{[]/.test(line) || /"?secret"?\s*:/i.test(line)) return '';
    return redact(line.length > 200 ? `${line.slice(0, 200)}…` : line, secrets);
  }
  return '';
}

async function askHelper(name: string, source: string, ctx: LookupContext): Promise<Credential | undefined> {
  const { registry } = ctx;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new StrataError('auth', `credential helper name "${name}" in ${source.replace(/ \(.*$/, '')} is not a plain name`);
  }
  const program = `docker-credential-${name}`;
  const serverUrls = normaliseHost(registry) === 'index.docker.io' ? [DOCKER_HUB_SERVER, 'docker.io'] : [registry];
  for (const serverUrl of serverUrls) {
    const run = await runHelper(program, serverUrl, ctx);
    const { error } = run;
    if (error) {
      if (error.code === 'ENOENT') {
        throw new StrataError('auth', `credential helper ${program} for ${registry} (from ${source}) is not on PATH`);
      }
      if (error.killed && error.signal) {
        throw new StrataError('auth', `credential helper ${program} did not answer for ${registry} within ${Math.round(ctx.timeoutMs / 1000)} s`);
      }
      if (isNotFound(run)) continue;
      if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
        throw new StrataError('auth', `credential helper ${program} printed too much for ${registry}`);
      }
      const status = typeof error.code === 'number' ? `exit status ${error.code}` : error.signal ? `killed by ${error.signal}` : String(error.code ?? 'failed');
      const detail = safeHelperMessage(run, ctx.knownSecrets);
      throw new StrataError('auth', `credential helper ${program} failed for ${registry} (${status})${detail ? `: ${detail}` : ''}`);
    }
    let answer: unknown;
    try {
      answer = JSON.parse(run.stdout);
    } catch {
      throw new StrataError('auth', `credential helper ${program} answered for ${registry} with something that is not JSON`);
    }
    if (!isObject(answer)) throw new StrataError('auth', `credential helper ${program} answered for ${registry} with something that is not a JSON object`);
    const username = typeof answer.Username === 'string' ? answer.Username : '';
    const secret = typeof answer.Secret === 'string' ? answer.Secret : '';
    if (!secret) continue; // nothing usable: a miss
    if (username === '<token>') return { kind: 'identity-token', token: secret };
    return { kind: 'basic', username, password: secret };
  }
  return undefined;
}

// --- where a JSON text goes wrong --------------------------------------------

/** "line L, column C" of the first syntax error in text (which JSON.parse refused). */
function describeJsonError(text: string): string {
  let offset: number;
  try {
    offset = jsonErrorOffset(text);
  } catch {
    return 'syntax error';
  }
  if (offset < 0) return 'syntax error';
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return offset >= text.length ? `unexpected end of input at line ${line}, column ${column}` : `syntax error at line ${line}, column ${column}`;
}

/** The offset of the first JSON syntax error, -1 if none. A small RFC 8259 checker. */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntax(i);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expect = (c: string): void => {
    if (text[i] !== c) fail();
    i++;
  };
  const str = (): void => {
    expect('"');
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9A-Fa-f]/.test(text[i] ?? '')) fail();
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail();
      }
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        str();
        ws();
        expect(':');
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}');
        return;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']');
        return;
      }
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (e) {
    if (e instanceof JsonSyntax) return e.offset;
    throw e;
  }
}

class JsonSyntax {
  constructor(readonly offset: number) {}
}
