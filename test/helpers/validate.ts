// Every image a test makes, held to the OCI image spec by the schemas Strata's
// own readers use (oci/schema.ts): an OCI layout's oci-layout and index.json,
// every index, manifest and container config it reaches, and every blob's
// digest and size against the descriptor that names it; an oci-archive is the
// same layout in a tar; a docker-archive's manifest.json, its configs, and each
// layer tar against the config's diff_ids. All problems are collected, one
// line each, so a failing test says everything that is wrong at once.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { checkOci, OciJsonError } from '../../oci/parse.js';
import { dockerArchiveManifest, imageConfig, imageIndex, imageManifest, ociLayout, type OciDescriptor } from '../../oci/schema.js';
import { MediaType } from '../../oci/types.js';

/** What a validation went through, for a test that wants to know it looked at something. */
export interface Validated {
  problems: string[];
  indexes: number;
  manifests: number;
  configs: number;
  blobs: number;
}

const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
const MANIFEST_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

function fresh(): Validated {
  return { problems: [], indexes: 0, manifests: 0, configs: 0, blobs: 0 };
}

/** `text` against `schema`, or undefined with the problem noted as `where: field value why`. */
function parsed<S extends z.ZodTypeAny>(v: Validated, schema: S, text: string | Buffer, where: string): z.output<S> | undefined {
  try {
    return checkOci(schema, text);
  } catch (e) {
    if (!(e instanceof OciJsonError)) throw e;
    v.problems.push(e.path.length ? `${where}: ${e.problem}` : `${where} ${e.problem}`);
    return undefined;
  }
}

/** The blob a descriptor names, its size and digest checked; its bytes when `read`. */
async function blob(v: Validated, dir: string, d: OciDescriptor, where: string, read: boolean): Promise<Buffer | undefined> {
  const file = join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
  if (!existsSync(file)) {
    v.problems.push(`${where}: blob ${d.digest} is not in the layout`);
    return undefined;
  }
  v.blobs++;
  const size = statSync(file).size;
  if (size !== d.size) v.problems.push(`${where}: blob ${d.digest} is ${size} bytes, its descriptor says ${d.size}`);
  const actual = await sha256File(file);
  if (actual !== d.digest) v.problems.push(`${where}: blob ${d.digest} hashes to ${actual}`);
  return read ? readFileSync(file) : undefined;
}

/** A manifest or index a descriptor names, and everything below it. */
async function walk(v: Validated, dir: string, d: OciDescriptor, where: string): Promise<void> {
  const isIndex = INDEX_TYPES.includes(d.mediaType);
  if (!isIndex && !MANIFEST_TYPES.includes(d.mediaType)) {
    // Anything else an index may name (an artifact's blob): only its bytes are checked.
    await blob(v, dir, d, where, false);
    return;
  }
  const bytes = await blob(v, dir, d, where, true);
  if (!bytes) return;
  const at = `${isIndex ? 'index' : 'manifest'} ${d.digest} (${where})`;
  const json = isIndex ? parsed(v, imageIndex, bytes, at) : parsed(v, imageManifest, bytes, at);
  if (!json) return;
  if (json.mediaType !== undefined && json.mediaType !== d.mediaType)
    v.problems.push(`${at}: mediaType ${json.mediaType} is not its descriptor's ${d.mediaType}`);
  if (isIndex) {
    v.indexes++;
    const children = (json as z.output<typeof imageIndex>).manifests;
    for (const [i, c] of children.entries()) await walk(v, dir, c, `${at} manifests[${i}]`);
    return;
  }
  v.manifests++;
  const m = json as z.output<typeof imageManifest>;
  const configBytes = await blob(v, dir, m.config, `${at} config`, true);
  for (const [i, l] of m.layers.entries()) await blob(v, dir, l, `${at} layers[${i}]`, false);
  if (!configBytes || !CONFIG_TYPES.includes(m.config.mediaType)) return;
  const config = parsed(v, imageConfig, configBytes, `config ${m.config.digest} (${at})`);
  if (!config) return;
  v.configs++;
  if (config.rootfs.diff_ids.length !== m.layers.length)
    v.problems.push(`config ${m.config.digest} (${at}): ${config.rootfs.diff_ids.length} diff_ids for ${m.layers.length} layers`);
}

/** An OCI layout directory (image-layout.md). */
export async function validateLayout(dir: string, v: Validated = fresh()): Promise<Validated> {
  const text = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : (v.problems.push(`${name} is missing`), undefined));
  const layoutFile = text('oci-layout');
  const layout = layoutFile && parsed(v, ociLayout, layoutFile, 'oci-layout');
  if (layout && layout.imageLayoutVersion !== '1.0.0') v.problems.push(`oci-layout: imageLayoutVersion ${layout.imageLayoutVersion} is not 1.0.0`);
  const indexFile = text('index.json');
  const index = indexFile && parsed(v, imageIndex, indexFile, 'index.json');
  if (!index) return v;
  v.indexes++;
  for (const [i, d] of index.manifests.entries()) await walk(v, dir, d, `index.json manifests[${i}]`);
  return v;
}

function extracted<T>(file: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-validate-'));
  execFileSync('tar', ['-xf', file, '-C', dir]);
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** An oci-archive: a tar of an OCI layout. */
export function validateOciArchive(file: string): Promise<Validated> {
  return extracted(file, (dir) => validateLayout(dir));
}

/** A docker-archive (docker save's format): manifest.json, each config, each layer tar against its diff_id. */
export function validateDockerArchive(file: string): Promise<Validated> {
  return extracted(file, async (dir) => {
    const v = fresh();
    // docker 25 and later also write an OCI layout beside manifest.json.
    if (existsSync(join(dir, 'index.json'))) await validateLayout(dir, v);
    if (!existsSync(join(dir, 'manifest.json'))) return (v.problems.push('manifest.json is missing'), v);
    const entries = parsed(v, dockerArchiveManifest, readFileSync(join(dir, 'manifest.json')), 'manifest.json');
    for (const [i, e] of (entries ?? []).entries()) {
      const at = `manifest.json[${i}]`;
      const member = (name: string) => (existsSync(join(dir, name)) ? join(dir, name) : (v.problems.push(`${at}: ${name} is not in the archive`), undefined));
      const configFile = member(e.Config);
      const config = configFile ? parsed(v, imageConfig, readFileSync(configFile), `${at} config ${e.Config}`) : undefined;
      if (config) v.configs++;
      const hex = /[a-f0-9]{64}/.exec(e.Config)?.[0];
      if (configFile && hex && (await sha256File(configFile)) !== `sha256:${hex}`)
        v.problems.push(`${at}: config ${e.Config} does not hash to the digest its name says`);
      if (config && config.rootfs.diff_ids.length !== e.Layers.length)
        v.problems.push(`${at}: ${config.rootfs.diff_ids.length} diff_ids for ${e.Layers.length} layers`);
      for (const [j, name] of e.Layers.entries()) {
        const layerFile = member(name);
        if (!layerFile) continue;
        v.blobs++;
        const diffID = config?.rootfs.diff_ids[j];
        const actual = await sha256File(layerFile);
        if (diffID && actual !== diffID) v.problems.push(`${at}: layer ${name} hashes to ${actual}, not diff_ids[${j}] ${diffID}`);
      }
      v.manifests++;
    }
    return v;
  });
}

/**
 * The local image an output reference names (oci:DIR[:TAG], oci-archive:FILE[:TAG],
 * docker-archive:FILE[:NAME:TAG]) validated; undefined for anything else (a
 * registry, a directory of SBOMs). The path is the longest prefix that exists.
 */
export async function validateOutput(ref: string): Promise<Validated | undefined> {
  const m = /^(oci|oci-archive|docker-archive):(.+)$/.exec(ref);
  if (!m) return undefined;
  const parts = m[2]!.split(':');
  let path: string | undefined;
  for (let n = parts.length; n > 0 && !path; n--) if (existsSync(parts.slice(0, n).join(':'))) path = parts.slice(0, n).join(':');
  if (!path) return { ...fresh(), problems: [`${ref}: nothing was written there`] };
  return m[1] === 'oci' ? validateLayout(path) : m[1] === 'oci-archive' ? validateOciArchive(path) : validateDockerArchive(path);
}

/** Throws one error listing every problem of the image at `ref`. */
export async function assertValidOutput(ref: string): Promise<Validated | undefined> {
  const v = await validateOutput(ref);
  if (v?.problems.length) throw new Error(`${ref} is not a valid image:\n  ${v.problems.join('\n  ')}`);
  return v;
}
