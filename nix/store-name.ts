// Store path names split as Nix splits derivation names, for the image name of
// a plain package (nix/description.ts) and the package names and versions of
// an SBOM (src/sbom.ts): one rule, so both name a package the same way.

/**
 * Output names nixpkgs gives a derivation's other outputs; Nix appends
 * `-<output>` to their store names (`openssl-3.0.13-bin`), which would
 * otherwise end up in the version.
 */
const OUTPUT_NAMES = new Set(['bin', 'dev', 'devdoc', 'doc', 'info', 'lib', 'man', 'out', 'static', 'debug']);

export interface StoreName {
  name: string;
  version?: string;
  /** The output, when the name ends in one of the usual output names after a version. */
  output?: string;
}

/**
 * A store path's name (or a derivation's name) split as Nix's parseDrvName
 * does (DrvName::DrvName in libexpr/names.cc): the version starts after the
 * first '-' that is followed by something other than a letter (`hello-2.12` →
 * hello 2.12; `golden-launcher` has none). A leading store hash is dropped. A
 * trailing `-bin`, `-dev`, `-lib`… after a version is the output, not part of
 * the version; without a version it cannot be told from the name (`foo-dev`
 * stays the name).
 */
export function parseStoreName(basename: string): StoreName {
  const full = /^[0-9a-df-np-sv-z]{32}-/.test(basename) ? basename.slice(33) : basename;
  const dash = /-[^a-zA-Z]/.exec(full);
  if (!dash) return { name: full };
  const name = full.slice(0, dash.index);
  const version = full.slice(dash.index + 1);
  const output = /-([a-z]+)$/.exec(version);
  if (output && output.index > 0 && OUTPUT_NAMES.has(output[1]!)) return { name, version: version.slice(0, output.index), output: output[1]! };
  return { name, version };
}
