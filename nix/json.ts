// Parsers for the JSON that `nix path-info --json` and `nix build --json` print,
// across the Nix versions Strata supports (2.8 up to the newest 2.3x). Each
// shape is documented in test/fixtures/nix/SOURCES.md; in short:
//
// path-info:
//   - Nix < 2.19 (and Lix): an array of objects, each with `path`; an invalid
//     path is `{"path": ..., "valid": false}`.
//   - Nix 2.19 – 2.32, and 2.33+ with `--json-format 1` (the default there, with
//     a deprecation warning): an object keyed by absolute store path; an invalid
//     path maps to `null`. From 2.33 each entry also carries `version: 1` and
//     `storeDir`.
//   - Nix 2.33+ with `--json-format 2` (2.35+: also `3`):
//     `{"version": N, "storeDir": "/nix/store", "info": {<basename>: {...} | null}}`
//     where keys and references are store path base names (no store directory).
//   narHash is SRI in every released format we know of, but older Nix (2.3) and
//   some tools print `sha256:<nix32>`, `sha256:<hex>` or `sha256:<base64>`, and
//   development versions of Nix printed `{"algorithm","format","hash"}` objects;
//   all of them are normalised to SRI here.
//
// build:
//   - `[{"drvPath": ..., "outputs": {"out": ...}}]`, from 2.12 with optional
//     `startTime`/`stopTime`/`cpuUser`/`cpuSystem`; a store-path installable is
//     `{"path": ...}` in 2.8 and a bare string in newer Nix.
import { z } from 'zod';

export interface StorePathInfo {
  /** Absolute store path, e.g. /nix/store/<hash>-<name>. */
  path: string;
  /** Always SRI: 'sha256-<base64>'. */
  narHash: string;
  narSize: number;
  /** Absolute store paths, sorted bytewise, without duplicates; may include `path` itself. */
  references: string[];
}

export interface NixBuildResult {
  /** The derivation that was built; absent for a store-path installable. */
  drvPath?: string;
  /** Output name → absolute store path. */
  outputs: Record<string, string>;
}

// ---------------------------------------------------------------------------
// Hashes

/** Nix's base-32 alphabet: digits and lowercase letters without e, o, t, u. */
const NIX32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

/** Digest sizes in bytes of the algorithms Nix knows. */
const HASH_SIZES: Readonly<Record<string, number>> = {
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha512: 64,
  blake3: 32,
};

/** Length of the Nix base-32 rendering of `byteLength` bytes (52 for SHA-256). */
export function nixBase32Length(byteLength: number): number {
  return Math.floor((byteLength * 8 - 1) / 5) + 1;
}

/**
 * Nix base-32 encoding. Unlike RFC 4648 it reads the digest as one
 * little-endian number and prints its 5-bit digits from the most significant
 * one, so the last character holds the low 5 bits of the first byte.
 */
export function encodeNixBase32(bytes: Uint8Array): string {
  const len = nixBase32Length(bytes.length);
  let out = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const lo = (bytes[i] ?? 0) >> j;
    const hi = i + 1 < bytes.length ? (bytes[i + 1] ?? 0) << (8 - j) : 0;
    out += NIX32_ALPHABET[(lo | hi) & 0x1f];
  }
  return out;
}

/** Inverse of encodeNixBase32; throws on a wrong length, a bad character, or stray high bits. */
export function decodeNixBase32(text: string, byteLength: number): Uint8Array {
  const len = nixBase32Length(byteLength);
  if (text.length !== len) {
    throw new Error(`nix base-32 digest of ${byteLength} bytes must be ${len} characters, got ${text.length}`);
  }
  const out = new Uint8Array(byteLength);
  for (let n = 0; n < len; n++) {
    const ch = text[len - n - 1] ?? '';
    const digit = NIX32_ALPHABET.indexOf(ch);
    if (digit < 0 || ch === '') throw new Error(`invalid character '${ch}' in nix base-32 digest`);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] = (out[i] ?? 0) | ((digit << j) & 0xff);
    const carry = digit >> (8 - j);
    if (i + 1 < byteLength) out[i + 1] = (out[i + 1] ?? 0) | carry;
    else if (carry !== 0) throw new Error('nix base-32 digest has bits beyond its length');
  }
  return out;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const HEX_RE = /^[0-9a-fA-F]*$/;

function decodeDigest(algorithm: string, format: string, digest: string): Uint8Array {
  const size = HASH_SIZES[algorithm];
  if (size === undefined) throw new Error(`unknown hash algorithm '${algorithm}'`);
  let bytes: Uint8Array;
  switch (format) {
    case 'base16':
      if (digest.length !== size * 2 || !HEX_RE.test(digest)) {
        throw new Error(`'${digest}' is not a base-16 ${algorithm} digest`);
      }
      bytes = Buffer.from(digest, 'hex');
      break;
    case 'nix32':
      bytes = decodeNixBase32(digest, size);
      break;
    case 'base64': {
      const buf = Buffer.from(digest, 'base64');
      // Buffer's decoder skips junk; insist on the canonical padded form.
      if (!BASE64_RE.test(digest) || buf.toString('base64') !== digest) {
        throw new Error(`'${digest}' is not canonical base-64`);
      }
      bytes = buf;
      break;
    }
    default:
      throw new Error(`unknown hash format '${format}'`);
  }
  if (bytes.length !== size) {
    throw new Error(`${algorithm} digest has ${bytes.length} bytes, expected ${size}`);
  }
  return bytes;
}

/** Guess a digest's encoding from its length, as Nix does for `<algo>:<digest>`. */
function formatByLength(algorithm: string, digest: string): string {
  const size = HASH_SIZES[algorithm];
  if (size === undefined) throw new Error(`unknown hash algorithm '${algorithm}'`);
  if (digest.length === size * 2) return 'base16';
  if (digest.length === nixBase32Length(size)) return 'nix32';
  if (digest.length === Math.ceil(size / 3) * 4) return 'base64';
  throw new Error(`'${digest}' has the wrong length for a ${algorithm} digest`);
}

function toSRI(algorithm: string, bytes: Uint8Array): string {
  return `${algorithm}-${Buffer.from(bytes).toString('base64')}`;
}

const hashObjectSchema = z.object({
  algorithm: z.string(),
  format: z.string(),
  hash: z.string(),
});

/**
 * Normalise any hash rendering Nix prints to SRI ('<algo>-<base64>'):
 * SRI itself, `<algo>:<base16|nix32|base64>`, or the structured
 * `{"algorithm", "format", "hash"}` object. Throws a one-line Error otherwise.
 */
export function normaliseHash(value: unknown): string {
  if (typeof value === 'string') {
    const sri = /^([a-z0-9]+)-(.*)$/.exec(value);
    if (sri && HASH_SIZES[sri[1] ?? ''] !== undefined) {
      const [, algorithm = '', digest = ''] = sri;
      return toSRI(algorithm, decodeDigest(algorithm, 'base64', digest));
    }
    const colon = /^([a-z0-9]+):(.*)$/.exec(value);
    if (colon) {
      const [, algorithm = '', digest = ''] = colon;
      return toSRI(algorithm, decodeDigest(algorithm, formatByLength(algorithm, digest), digest));
    }
    throw new Error(`'${value}' is not a hash with an algorithm prefix`);
  }
  const parsed = hashObjectSchema.safeParse(value);
  if (!parsed.success) throw new Error('hash is neither a string nor an {algorithm, format, hash} object');
  const { algorithm, format, hash } = parsed.data;
  if (format === 'sri') {
    const sri = normaliseHash(hash);
    if (!sri.startsWith(`${algorithm}-`)) throw new Error(`SRI hash '${hash}' is not ${algorithm}`);
    return sri;
  }
  const aliases: Record<string, string> = { base32: 'nix32', hex: 'base16' };
  return toSRI(algorithm, decodeDigest(algorithm, aliases[format] ?? format, hash));
}

// ---------------------------------------------------------------------------
// Store paths

/** `<32 nix32 chars>-<name>` with Nix's allowed name characters. */
const STORE_BASENAME_RE = /^[0123456789abcdfghijklmnpqrsvwxyz]{32}-[A-Za-z0-9+\-._?=]+$/;

/** Bytewise (UTF-8) order, as the rest of Strata sorts paths. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** An absolute store path from a full path or a base name; throws if it is neither. */
function absoluteStorePath(p: string, storeDir: string): string {
  const prefix = `${storeDir}/`;
  const base = p.startsWith(prefix) ? p.slice(prefix.length) : p;
  if (!STORE_BASENAME_RE.test(base)) throw new Error(`'${p}' is not a store path in ${storeDir}`);
  return prefix + base;
}

function oneLine(s: string, max = 120): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** "where: a.b[0]: message" from the first issue zod reports. */
function describeZodError(error: z.ZodError, where = ''): string {
  const issue = error.issues[0];
  let at = '';
  for (const seg of issue?.path ?? []) {
    at += typeof seg === 'number' ? `[${seg}]` : `${at === '' ? '' : '.'}${String(seg)}`;
  }
  return [where, at, oneLine(issue?.message ?? 'invalid')].filter((part) => part !== '').join(': ');
}

/** Throws the one-line error every parser here uses for output it cannot read. */
function unexpected(what: string, detail: string): never {
  throw new Error(`${what}: unexpected output: ${detail}`);
}

function parseJsonText(text: string, what: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') unexpected(what, 'empty output');
  try {
    return JSON.parse(trimmed);
  } catch (e) {
    return unexpected(what, `not JSON (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
}

function storePathOrFail(what: string, p: string, storeDir: string, where: string): string {
  try {
    return absoluteStorePath(p, storeDir);
  } catch (e) {
    return unexpected(what, `${where}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------
// nix path-info --json

/** Store object info: the fields Strata reads, in every version of the format. */
const pathInfoEntrySchema = z
  .object({
    version: z.number().int().optional(),
    path: z.string().optional(),
    storeDir: z.string().optional(),
    narHash: z.unknown(),
    narSize: z.number().int().nonnegative(),
    references: z.array(z.string()),
  })
  .passthrough();

/** Nix < 2.19: one object per path, `valid: false` for a path not in the store. */
const legacyArraySchema = z.array(z.object({ path: z.string(), valid: z.boolean().optional() }).passthrough());

/** Nix 2.33+ with `--json-format 2` or `3`. */
const versionedSchema = z
  .object({
    version: z.number().int(),
    storeDir: z.string(),
    info: z.record(z.string(), z.unknown()),
  })
  .passthrough();

/** Nix 2.19+ (and 2.33+ `--json-format 1`): absolute store path → info or null. */
const pathMapSchema = z.record(z.string(), z.unknown());

/** Entry format versions this parser understands (see store-object-info-v1..v3). */
const SUPPORTED_ENTRY_VERSIONS = new Set([1, 2, 3]);

/**
 * Parse `nix path-info --json [--recursive]` output from any supported Nix.
 * Returns one entry per path, sorted bytewise by path. Throws a one-line Error
 * naming the path(s) when Nix reports paths that are not valid.
 */
export function parsePathInfoJson(text: string, storeDir = '/nix/store'): StorePathInfo[] {
  const what = 'nix path-info --json';
  const root = parseJsonText(text, what);
  const pathOf = (p: string, where: string): string => storePathOrFail(what, p, storeDir, where);

  // Each entry: the absolute path, and its info or null for "not valid".
  const entries: Array<{ path: string; raw: unknown }> = [];

  if (Array.isArray(root)) {
    const parsed = legacyArraySchema.safeParse(root);
    if (!parsed.success) unexpected(what, describeZodError(parsed.error));
    for (const item of parsed.data) {
      entries.push({ path: pathOf(item.path, 'path'), raw: item.valid === false ? null : item });
    }
  } else if (root !== null && typeof root === 'object' && 'version' in root) {
    const parsed = versionedSchema.safeParse(root);
    if (!parsed.success) unexpected(what, describeZodError(parsed.error));
    const { version, info } = parsed.data;
    if (version < 2 || !SUPPORTED_ENTRY_VERSIONS.has(version)) {
      unexpected(what, `unsupported path-info JSON format version ${version} (this Strata reads 1 to 3)`);
    }
    if (parsed.data.storeDir !== storeDir) {
      unexpected(what, `store directory is ${parsed.data.storeDir}, expected ${storeDir}`);
    }
    for (const [key, raw] of Object.entries(info)) entries.push({ path: pathOf(key, `key '${key}'`), raw });
  } else {
    const parsed = pathMapSchema.safeParse(root);
    if (!parsed.success) unexpected(what, 'expected a JSON array or object');
    for (const [key, raw] of Object.entries(parsed.data)) entries.push({ path: pathOf(key, `key '${key}'`), raw });
  }

  const invalid = entries.filter((e) => e.raw === null).map((e) => e.path);
  if (invalid.length > 0) {
    invalid.sort(compareUtf8);
    throw new Error(`${what}: not valid (not in the store): ${invalid.join(', ')}`);
  }

  const out: StorePathInfo[] = [];
  const seen = new Set<string>();
  for (const { path, raw } of entries) {
    if (seen.has(path)) unexpected(what, `${path} is listed twice`);
    seen.add(path);
    const parsed = pathInfoEntrySchema.safeParse(raw);
    if (!parsed.success) unexpected(what, describeZodError(parsed.error, path));
    const info = parsed.data;
    if (info.version !== undefined && !SUPPORTED_ENTRY_VERSIONS.has(info.version)) {
      unexpected(what, `${path}: unsupported store object info version ${info.version} (this Strata reads 1 to 3)`);
    }
    if (info.storeDir !== undefined && info.storeDir !== storeDir) {
      unexpected(what, `${path}: store directory is ${info.storeDir}, expected ${storeDir}`);
    }
    if (info.path !== undefined && pathOf(info.path, `${path}: path`) !== path) {
      unexpected(what, `${path}: entry names a different path, ${info.path}`);
    }
    let narHash: string;
    try {
      narHash = normaliseHash(info.narHash);
    } catch (e) {
      return unexpected(what, `${path}: narHash: ${(e as Error).message}`);
    }
    if (!narHash.startsWith('sha256-')) unexpected(what, `${path}: narHash: expected a sha256 hash, got ${narHash}`);
    const references = [...new Set(info.references.map((r) => pathOf(r, `${path}: references`)))];
    references.sort(compareUtf8);
    out.push({ path, narHash, narSize: info.narSize, references });
  }
  out.sort((a, b) => compareUtf8(a.path, b.path));
  return out;
}

// ---------------------------------------------------------------------------
// nix build --json

/** A derivation that was built, plus optional statistics (startTime, stopTime, cpuUser, cpuSystem) since 2.12. */
const builtSchema = z
  .object({
    // A string, or for a derivation made by another derivation (dynamic derivations)
    // {"drvPath", "output", "outputPath"}, whose outputPath is the .drv that was built.
    drvPath: z.union([z.string(), z.object({ output: z.string(), outputPath: z.string().nullable() }).passthrough()]),
    outputs: z.record(z.string(), z.string().nullable()),
    startTime: z.number().optional(),
    stopTime: z.number().optional(),
    cpuUser: z.number().optional(),
    cpuSystem: z.number().optional(),
  })
  .passthrough();

/** Nix 2.8: a store-path installable is {"path": ...}. */
const opaqueSchema = z.object({ path: z.string() }).passthrough();

/**
 * Parse `nix build --json` output: one result per built installable, in Nix's
 * order. A store-path installable (`{"path": p}` in 2.8, a bare `p` in newer
 * Nix) becomes `{outputs: {out: p}}`. Output names are sorted.
 */
export function parseBuildJson(text: string, storeDir = '/nix/store'): NixBuildResult[] {
  const what = 'nix build --json';
  const root = parseJsonText(text, what);
  if (!Array.isArray(root)) unexpected(what, 'expected a JSON array');
  const pathOf = (p: string, where: string): string => storePathOrFail(what, p, storeDir, where);

  return (root as unknown[]).map((item, index): NixBuildResult => {
    const where = `[${index}]`;
    if (typeof item === 'string') return { outputs: { out: pathOf(item, where) } };
    if (item !== null && typeof item === 'object' && !('drvPath' in item)) {
      const opaque = opaqueSchema.safeParse(item);
      if (!opaque.success) unexpected(what, `${where}: expected a store path, {"path"} or {"drvPath", "outputs"}`);
      return { outputs: { out: pathOf(opaque.data.path, `${where}.path`) } };
    }
    const parsed = builtSchema.safeParse(item);
    if (!parsed.success) unexpected(what, describeZodError(parsed.error, where));
    const built = parsed.data;
    let drvPath: string;
    if (typeof built.drvPath === 'string') {
      drvPath = pathOf(built.drvPath, `${where}.drvPath`);
    } else {
      const { output, outputPath } = built.drvPath;
      if (outputPath === null) unexpected(what, `${where}.drvPath: output '${output}' has no path`);
      drvPath = pathOf(outputPath, `${where}.drvPath.outputPath`);
    }
    if (!drvPath.endsWith('.drv')) unexpected(what, `${where}.drvPath: ${drvPath} is not a .drv`);
    const names = Object.keys(built.outputs).sort(compareUtf8);
    if (names.length === 0) unexpected(what, `${where}: ${drvPath} has no outputs`);
    const outputs: Record<string, string> = {};
    for (const name of names) {
      const p = built.outputs[name];
      if (p === null || p === undefined) unexpected(what, `${where}: output '${name}' of ${drvPath} has no path`);
      outputs[name] = pathOf(p, `${where}.outputs.${name}`);
    }
    return { drvPath, outputs };
  });
}
