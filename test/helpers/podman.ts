// Independent clients for what Strata pushes: podman pulls (as root, into a
// throw-away store of its own, from plain-HTTP loopback registries) and
// skopeo. Both run asynchronously: the proxies and token servers they talk to
// live in the test's own event loop, which spawnSync would freeze.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir, tempDir } from './strata.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects (see `code`). */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 64 << 20, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

let skopeoHome: string | undefined;

/** No registries.conf or auth file of the machine's: skopeo sees only the credentials a test gives it. */
export function isolatedEnv(): NodeJS.ProcessEnv {
  if (!skopeoHome) {
    const dir = (skopeoHome = tempDir('strata-skopeo-'));
    writeFileSync(join(dir, 'registries.conf'), '');
    writeFileSync(join(dir, 'auth.json'), '{"auths":{}}\n');
    process.on('exit', () => removeDir(dir));
  }
  return { ...process.env, CONTAINERS_REGISTRIES_CONF: join(skopeoHome, 'registries.conf'), REGISTRY_AUTH_FILE: join(skopeoHome, 'auth.json') };
}

/** skopeo with these arguments (in an isolated environment); resolves to its stdout, rejects with its stderr. */
export async function skopeo(args: string[]): Promise<string> {
  const r = await run('skopeo', args, isolatedEnv());
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export interface PodmanPullOptions {
  /** user:password for the registry. */
  creds?: string;
  /** Keep the store (default: removed after the inspect). */
  keep?: boolean;
}

export interface PodmanPulled {
  /** Digest of the manifest that podman pulled. */
  digest: string;
  /** sha256:… of the image's config (podman's image id). */
  configDigest: string;
  /** Where the store is, when kept. */
  store?: string;
}

/** Pulls `ref` (HOST:PORT/NAME:TAG or @DIGEST) over plain HTTP with podman into a store of its own. */
export async function podmanPull(ref: string, opts: PodmanPullOptions = {}): Promise<PodmanPulled> {
  const store = tempDir('strata-podman-');
  const registriesConf = join(store, 'registries.conf');
  const containersConf = join(store, 'containers.conf');
  writeFileSync(registriesConf, '');
  writeFileSync(containersConf, '');
  writeFileSync(join(store, 'auth.json'), '{"auths":{}}\n');
  // No registries.conf, containers.conf or auth file of the machine's: only what the test gives.
  const env = {
    ...isolatedEnv(),
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    CONTAINERS_CONF: containersConf,
    REGISTRY_AUTH_FILE: join(store, 'auth.json'),
  };
  const podman = (args: string[]) => (inChroot() ? runOutsideChroot(args, env) : run('podman', args, env));
  const global = [
    '--root',
    join(store, 'root'),
    '--runroot',
    join(store, 'run'),
    '--tmpdir',
    join(store, 'tmp'),
    '--storage-driver',
    'vfs',
    '--events-backend',
    'none',
    '--cgroup-manager',
    'cgroupfs',
  ];
  try {
    const pull = await podman([...global, 'pull', '--quiet', '--tls-verify=false', ...(opts.creds ? ['--creds', opts.creds] : []), ref]);
    if (pull.code !== 0) throw new Error(`podman pull ${ref} failed (${pull.code}): ${pull.stderr}`);
    const id = pull.stdout.trim().split('\n').pop() ?? '';
    const inspect = await podman([...global, 'image', 'inspect', '--format', '{{.Id}} {{.Digest}}', id]);
    if (inspect.code !== 0) throw new Error(`podman image inspect failed (${inspect.code}): ${inspect.stderr}`);
    const [configId, digest] = inspect.stdout.trim().split(' ');
    return { digest: digest ?? '', configDigest: `sha256:${configId}`, ...(opts.keep ? { store } : {}) };
  } finally {
    if (!opts.keep) removeDir(store);
  }
}

/** True when the root directory is not a mount point, as in a plain chroot (the test of .ci/setup). */
function inChroot(): boolean {
  try {
    return !readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === '/');
  } catch {
    return false;
  }
}

/**
 * podman applies layers in a private mount namespace, where it makes "/"
 * private, and that fails (EINVAL) when "/" is no mount point, as in a plain
 * chroot. There podman runs chrooted into a bind mount of "/", which is one.
 * The mount point is removed with rmdir alone: never recursively, it held "/".
 */
async function runOutsideChroot(args: string[], env: NodeJS.ProcessEnv): Promise<ExecResult> {
  const view = mkdtempSync(join(tmpdir(), 'strata-podman-view-'));
  try {
    const script = 'mount --rbind / "$0" || exit 125; chroot "$0" "$@"; s=$?; umount -l "$0"; exit $s';
    return await run('unshare', ['--mount', '--propagation', 'unchanged', 'sh', '-c', script, view, 'podman', ...args], env);
  } finally {
    rmdirSync(view);
  }
}
