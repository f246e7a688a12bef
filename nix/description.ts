// The image description: what goes into an image besides its closure. It comes
// from the flake's lib.image (JSON written by Nix), or is derived from a plain
// package; CLI flags override either.
import { readdir, stat } from 'node:fs/promises';
import { z } from 'zod';
import type { ContainerConfig } from '../oci/types.js';
import type { PackageMeta, Realised } from './installable.js';
import { parseStoreName } from './store-name.js';
import { StrataError } from '../base/errors.js';

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface ImageDescription {
  name: string;
  tag?: string;
  /** Store paths whose closure is the image. */
  contents: string[];
  /** Store paths whose trees are linked at / (a symlink farm, like buildEnv). */
  copyToRoot: string[];
  config: ContainerConfig;
  /** Explicit layer groups of store paths, bottom first. */
  layers: string[][];
  annotations: Record<string, string>;
  tmp: boolean;
  users: UserEntry[];
  /** A PEM bundle (a file, or a package with etc/ssl/certs/ca-bundle.crt). */
  caCertificates?: string;
  /** An image whose layers go under Strata's: docker://REF, oci:DIR[:TAG] or oci-archive:FILE[:TAG]. */
  fromImage?: string;
}

const STORE_PATH_RE = /\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+/g;

const stringMap = z.record(z.string(), z.string());
const envSchema = z.union([z.array(z.string()), stringMap]);
const configSchema = z
  .object({
    Entrypoint: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    Env: envSchema.nullish(),
    WorkingDir: z.string().nullish(),
    User: z.string().nullish(),
    ExposedPorts: z.union([z.array(z.string()), z.record(z.string(), z.object({}))]).nullish(),
    Labels: stringMap.nullish(),
    Volumes: z.union([z.array(z.string()), z.record(z.string(), z.object({}))]).nullish(),
    StopSignal: z.string().nullish(),
  })
  .strict();

const descriptionSchema = z
  .object({
    strataImage: z.literal(1),
    name: z.string().min(1),
    tag: z.string().nullish(),
    contents: z.array(z.string()).default([]),
    copyToRoot: z.array(z.string()).default([]),
    config: configSchema.default({}),
    layers: z.array(z.array(z.string())).default([]),
    annotations: stringMap.default({}),
    tmp: z.boolean().default(true),
    users: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
            uid: z.number().int().min(0),
            gid: z.number().int().min(0),
            home: z.string().optional(),
            shell: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
    caCertificates: z.string().nullish(),
    fromImage: z.string().min(1).nullish(),
  })
  .strict();

function asList(v: string[] | Record<string, unknown> | null | undefined): string[] | undefined {
  if (!v) return undefined;
  return Array.isArray(v) ? [...v] : Object.keys(v);
}

function emptyObjects(keys: string[] | undefined): Record<string, Record<string, never>> | undefined {
  return keys?.length ? Object.fromEntries(keys.map((k) => [k, {}])) : undefined;
}

function normaliseConfig(c: z.infer<typeof configSchema>): ContainerConfig {
  const env = c.Env ? (Array.isArray(c.Env) ? c.Env : Object.entries(c.Env).map(([k, v]) => `${k}=${v}`)) : undefined;
  const cfg: ContainerConfig = {};
  if (c.Entrypoint) cfg.Entrypoint = c.Entrypoint;
  if (c.Cmd) cfg.Cmd = c.Cmd;
  if (env?.length) cfg.Env = env;
  if (c.WorkingDir) cfg.WorkingDir = c.WorkingDir;
  if (c.User) cfg.User = c.User;
  const ports = emptyObjects(asList(c.ExposedPorts)?.map(normalisePort));
  if (ports) cfg.ExposedPorts = ports;
  if (c.Labels && Object.keys(c.Labels).length) cfg.Labels = c.Labels;
  const vols = emptyObjects(asList(c.Volumes));
  if (vols) cfg.Volumes = vols;
  if (c.StopSignal) cfg.StopSignal = c.StopSignal;
  return cfg;
}

export function normalisePort(p: string): string {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(p);
  if (!m || Number(m[1]) > 65535) throw new StrataError('description', `'${p}' is not a port (PORT or PORT/tcp|udp|sctp)`);
  return `${m[1]}/${m[2] ?? 'tcp'}`;
}

/** Parses the JSON that lib.image wrote. */
export function parseDescriptionJson(json: unknown): ImageDescription {
  const r = descriptionSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new StrataError('description', `invalid image description: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const d = r.data;
  const users: UserEntry[] = d.users.map((u) => ({
    name: u.name,
    uid: u.uid,
    gid: u.gid,
    home: u.home ?? (u.uid === 0 ? '/root' : `/home/${u.name}`),
    shell: u.shell ?? '/sbin/nologin',
  }));
  return {
    name: d.name,
    ...(d.tag ? { tag: d.tag } : {}),
    contents: d.contents,
    copyToRoot: d.copyToRoot,
    config: normaliseConfig(d.config),
    layers: d.layers,
    annotations: d.annotations,
    tmp: d.tmp,
    users,
    ...(d.caCertificates ? { caCertificates: d.caCertificates } : {}),
    ...(d.fromImage ? { fromImage: d.fromImage } : {}),
  };
}

/** The description of a plain package: its closure, its main program as entrypoint. */
export async function describePackage(outputs: string[], meta: PackageMeta): Promise<ImageDescription> {
  const main = outputs[0]!;
  const storeName = main.split('/').pop()!.slice(33);
  const name = meta.pname ?? parseStoreName(meta.name ?? storeName).name;
  const config: ContainerConfig = {};
  const bins = await readdir(`${main}/bin`).catch(() => [] as string[]);
  const program =
    [meta.mainProgram, meta.pname, parseStoreName(meta.name ?? storeName).name].find((p) => p && bins.includes(p)) ?? (bins.length === 1 ? bins[0] : undefined);
  if (meta.mainProgram && program !== meta.mainProgram) {
    throw new StrataError('description', `meta.mainProgram '${meta.mainProgram}' is not in ${main}/bin`);
  }
  if (program) config.Entrypoint = [`${main}/bin/${program}`];
  if (bins.length) config.Env = [`PATH=${main}/bin`];
  return { name: sanitizeName(name), contents: outputs, copyToRoot: [], config, layers: [], annotations: {}, tmp: true, users: [] };
}

function sanitizeName(n: string): string {
  return (
    n
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '') || 'image'
  );
}

export async function describe(r: Realised): Promise<ImageDescription> {
  return r.description !== undefined ? parseDescriptionJson(r.description) : describePackage(r.outputs, r.meta);
}

/** Every store path the image needs: contents, root links, certificates and paths the config names. */
export function closureRoots(d: ImageDescription): string[] {
  const named = JSON.stringify(d.config).match(STORE_PATH_RE) ?? [];
  const all = [...d.contents, ...d.copyToRoot, ...d.layers.flat(), ...(d.caCertificates ? [d.caCertificates] : []), ...named];
  return [...new Set(all.map((p) => p.split('/').slice(0, 4).join('/')))].sort();
}

export interface ConfigOverrides {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  labels?: string[];
  annotations?: string[];
  ports?: string[];
  /** --from: the base image, over the description's fromImage. */
  fromImage?: string;
}

export function keyValue(kv: string, what: string, code: 'usage' | 'description' = 'usage'): [string, string] {
  const i = kv.indexOf('=');
  if (i <= 0) throw new StrataError(code, `${what} '${kv}' is not KEY=VALUE`);
  return [kv.slice(0, i), kv.slice(i + 1)];
}

/** Applies CLI flags over a description. Env and labels merge by key; lists replace. */
export function applyOverrides(d: ImageDescription, o: ConfigOverrides): ImageDescription {
  const config: ContainerConfig = { ...d.config };
  if (o.entrypoint) config.Entrypoint = o.entrypoint;
  if (o.cmd) config.Cmd = o.cmd;
  if (o.workdir) config.WorkingDir = o.workdir;
  if (o.user) config.User = o.user;
  if (o.env?.length) {
    const env = new Map((config.Env ?? []).map((e) => keyValue(e, 'config.Env entry', 'description')));
    for (const e of o.env) {
      const [k, v] = keyValue(e, '--env');
      env.set(k, v);
    }
    config.Env = [...env].map(([k, v]) => `${k}=${v}`);
  }
  if (o.labels?.length) config.Labels = { ...config.Labels, ...Object.fromEntries(o.labels.map((l) => keyValue(l, '--label'))) };
  if (o.ports?.length) config.ExposedPorts = { ...config.ExposedPorts, ...emptyObjects(o.ports.map(normalisePort)) };
  const annotations = { ...d.annotations, ...Object.fromEntries((o.annotations ?? []).map((a) => keyValue(a, '--annotation'))) };
  return { ...d, config, annotations, ...(o.fromImage ? { fromImage: o.fromImage } : {}) };
}

/**
 * A user named by config.User must exist in the image's /etc/passwd. A base
 * image's own /etc/passwd may define it, unless `users` replaces that file.
 */
export function checkUser(d: ImageDescription): void {
  const user = d.config.User?.split(':')[0];
  if (!user || /^\d+$/.test(user) || user === 'root') return;
  if (d.users.some((u) => u.name === user) || d.copyToRoot.length > 0 || (d.fromImage && d.users.length === 0)) return;
  throw new StrataError('description', `config.User '${user}' is not a numeric uid and no 'users' entry of the description defines it`);
}

export async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
