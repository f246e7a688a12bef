// The suite's settings, read from the same environment variables as the
// upstream OCI conformance suite, so a CI job written for one runs the other.
//
//   OCI_ROOT_URL               the registry, e.g. http://127.0.0.1:5000 (required)
//   OCI_NAMESPACE              where test repositories go (default conformance/test)
//   OCI_CROSSMOUNT_NAMESPACE   where mount targets go (default OCI_NAMESPACE)
//   OCI_USERNAME, OCI_PASSWORD credentials for Basic auth or a Bearer token service
//   OCI_TEST_PULL, OCI_TEST_PUSH, OCI_TEST_CONTENT_DISCOVERY,
//   OCI_TEST_CONTENT_MANAGEMENT
//                              1 picks a workflow; when none is set, all run

export const WORKFLOWS = ['pull', 'push', 'content-discovery', 'content-management'] as const;
export type WorkflowId = (typeof WORKFLOWS)[number];

export interface Config {
  rootUrl: URL;
  namespace: string;
  crossmountNamespace: string;
  credentials?: { username: string; password: string };
  workflows: WorkflowId[];
  /** Per request, headers and body alike. */
  timeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const SELECTORS: Record<WorkflowId, string> = {
  pull: 'OCI_TEST_PULL',
  push: 'OCI_TEST_PUSH',
  'content-discovery': 'OCI_TEST_CONTENT_DISCOVERY',
  'content-management': 'OCI_TEST_CONTENT_MANAGEMENT',
};

// The spec's <name> grammar; the suite appends "/<check>-<random>" to the namespace.
const NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;

function flag(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new ConfigError(`${name} must be 1 or 0, not "${v}"`);
}

function namespace(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = env[name] || fallback;
  if (!NAME.test(v)) throw new ConfigError(`${name} "${v}" is not a repository name (lowercase path components)`);
  return v;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const root = env.OCI_ROOT_URL;
  if (!root) throw new ConfigError('OCI_ROOT_URL is not set (e.g. OCI_ROOT_URL=http://127.0.0.1:5000)');
  let rootUrl: URL;
  try {
    rootUrl = new URL(root);
  } catch {
    throw new ConfigError(`OCI_ROOT_URL "${root}" is not a URL`);
  }
  if (rootUrl.protocol !== 'http:' && rootUrl.protocol !== 'https:') throw new ConfigError(`OCI_ROOT_URL must be http:// or https://, not ${rootUrl.protocol}`);

  const ns = namespace(env, 'OCI_NAMESPACE', 'conformance/test');
  const { OCI_USERNAME: username, OCI_PASSWORD: password } = env;
  if (Boolean(username) !== Boolean(password)) throw new ConfigError('OCI_USERNAME and OCI_PASSWORD go together');

  const picked = WORKFLOWS.filter((w) => flag(env, SELECTORS[w]) === true);
  return {
    rootUrl,
    namespace: ns,
    crossmountNamespace: namespace(env, 'OCI_CROSSMOUNT_NAMESPACE', ns),
    ...(username && password ? { credentials: { username, password } } : {}),
    workflows: picked.length > 0 ? picked : [...WORKFLOWS],
    timeoutMs: 30_000,
  };
}
