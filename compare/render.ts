// `strata diff`'s report as text for people: one section per level, each
// difference on a line of its own, store paths named with the files that make
// them differ. `--json` prints the DiffReport itself instead.
import type { DiffReport, ImageDiff, LayerPair } from './report.js';
import type { FieldChange } from './fields.js';
import type { FileFacts } from './layer-files.js';
import type { FileChange, LayerIndexes, StorePathChange } from './store-paths.js';

export interface RenderOptions {
  /** Files listed per store path (and outside the store) before "… and N more"; 0 lists all. */
  limit: number;
}

const short = (d: string | undefined) => (d ? d.slice(0, 'sha256:'.length + 12) : '?');

function value(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

function field(c: FieldChange): string {
  if (c.onlyInA || c.onlyInB) {
    const parts = [
      c.onlyInA?.length ? `only A has ${c.onlyInA.map(value).join(', ')}` : '',
      c.onlyInB?.length ? `only B has ${c.onlyInB.map(value).join(', ')}` : '',
    ];
    return `${c.path}: ${parts.filter(Boolean).join('; ')}`;
  }
  if (!('b' in c)) return `${c.path}: only in A, ${value(c.a)}`;
  if (!('a' in c)) return `${c.path}: only in B, ${value(c.b)}`;
  return `${c.path}: ${value(c.a)} → ${value(c.b)}`;
}

function mode(m: number): string {
  return `0${m.toString(8).padStart(3, '0')}`;
}

function fact(k: keyof FileFacts, f: FileFacts): string {
  switch (k) {
    case 'mode':
      return mode(f.mode);
    case 'sha256':
      return short(f.sha256);
    case 'mtime':
      return new Date(f.mtime * 1000).toISOString().replace('.000Z', 'Z');
    case 'target':
      return f.target === undefined ? '(none)' : value(f.target);
    default:
      return String(f[k]);
  }
}

const FACT_NAMES: Record<keyof FileFacts, string> = {
  type: 'type',
  mode: 'mode',
  uid: 'uid',
  gid: 'gid',
  size: 'size',
  sha256: 'content',
  target: 'target',
  mtime: 'mtime',
};

function describeFile(f: FileFacts): string {
  if (f.type === 'file') return `file, ${f.size} bytes, ${mode(f.mode)}`;
  if (f.type === 'symlink' || f.type === 'link') return `${f.type} to ${value(f.target)}`;
  return `${f.type}, ${mode(f.mode)}`;
}

function layers(l: LayerIndexes): string {
  if (l.a !== undefined && l.b !== undefined) return l.a === l.b ? `layer ${l.a}` : `layer ${l.a} of A, ${l.b} of B`;
  return l.a !== undefined ? `layer ${l.a} of A` : `layer ${l.b} of B`;
}

function fileLine(f: FileChange, where: boolean): string {
  const name = f.path === '' ? '(the store path itself)' : f.path;
  const at = where ? ` (${layers(f.layer)})` : '';
  if (f.change === 'added') return `+ ${name}${at}: ${describeFile(f.b!)}`;
  if (f.change === 'removed') return `- ${name}${at}: ${describeFile(f.a!)}`;
  return `~ ${name}${at}: ${f.facts.map((k) => `${FACT_NAMES[k]} ${fact(k, f.a!)} → ${fact(k, f.b!)}`).join(', ')}`;
}

function fileLines(files: FileChange[], where: boolean, o: RenderOptions): string[] {
  const shown = o.limit > 0 ? files.slice(0, o.limit) : files;
  const lines = shown.map((f) => fileLine(f, where));
  if (shown.length < files.length) lines.push(`… and ${files.length - shown.length} more (--limit 0 lists them all)`);
  return lines;
}

function storePathLines(s: StorePathChange, o: RenderOptions): string[] {
  const head =
    s.change === 'added'
      ? `+ ${s.b} (${layers(s.layer)}, ${s.fileCount.b} entries): only in B`
      : s.change === 'removed'
        ? `- ${s.a} (${layers(s.layer)}, ${s.fileCount.a} entries): only in A`
        : s.change === 'moved'
          ? `= ${s.a}: the same files, in ${layers(s.layer)}`
          : s.a === s.b
            ? `~ ${s.a} (${layers(s.layer)}): ${s.files.length} ${s.files.length === 1 ? 'entry differs' : 'entries differ'}`
            : `~ ${s.name}: ${s.a} → ${s.b} (${layers(s.layer)}): ${s.files.length ? `${s.files.length} ${s.files.length === 1 ? 'entry differs' : 'entries differ'}` : 'the same files under another hash'}`;
  return [head, ...fileLines(s.files, false, o).map((l) => `    ${l}`)];
}

function layerLine(p: LayerPair): string {
  const side = (x: LayerPair['a']) => `${short(x?.digest ?? x?.diffID)}`;
  switch (p.status) {
    case 'only-in-a':
      return `layer ${p.a!.layer} of A is not in B: ${side(p.a)} (tar ${short(p.a!.diffID)})`;
    case 'only-in-b':
      return `layer ${p.b!.layer} of B is not in A: ${side(p.b)} (tar ${short(p.b!.diffID)})`;
    case 'recompressed':
      return `${layers({ a: p.a!.layer, b: p.b!.layer })}: the same tar ${short(p.a!.diffID)}, compressed differently: ${side(p.a)} (${p.a!.mediaType ?? 'docker-archive'}) → ${side(p.b)} (${p.b!.mediaType ?? 'docker-archive'})`;
    default:
      return `${layers({ a: p.a!.layer, b: p.b!.layer })}: ${side(p.a)} → ${side(p.b)} (tar ${short(p.a!.diffID)} → ${short(p.b!.diffID)})`;
  }
}

function imageLines(d: ImageDiff, o: RenderOptions): string[] {
  const out = [`${d.platform}: ${d.identical ? `identical, ${d.a.digest}` : `${d.a.digest} → ${d.b.digest}`}`];
  const section = (title: string, lines: string[]) => {
    if (lines.length) out.push(`  ${title}`, ...lines.map((l) => `    ${l}`));
  };
  if (d.note) out.push(`  note: ${d.note}`);
  if (d.identical) return out;
  section('manifest:', d.manifest.map(field));
  if (d.a.config === d.b.config) out.push(`  config: the same, ${d.a.config}`);
  else if (!d.config.length) out.push(`  config: ${d.a.config} → ${d.b.config}: only its diffIDs, for the layers below`);
  else section(`config: ${d.a.config} → ${d.b.config}`, d.config.map(field));
  const count = (s: LayerPair['status']) => d.layers.filter((l) => l.status === s).length;
  const inA = d.layers.filter((l) => l.a).length;
  const inB = d.layers.filter((l) => l.b).length;
  const summary = [
    `${inA} in A, ${inB} in B`,
    `${count('identical')} identical`,
    ...(count('recompressed') ? [`${count('recompressed')} recompressed`] : []),
  ].join(', ');
  section(
    `layers: ${summary}`,
    d.layers.filter((l) => l.status !== 'identical').flatMap((l) => [layerLine(l), ...l.descriptor.map((c) => `  descriptor ${field(c)}`)]),
  );
  section(
    'store paths:',
    d.storePaths.flatMap((s) => storePathLines(s, o)),
  );
  section('files outside the store:', fileLines(d.files, true, o));
  section('likely cause:', d.hints);
  return out;
}

export function renderDiff(r: DiffReport, names: { a: string; b: string }, o: RenderOptions): string {
  const out = [`A: ${names.a} (${r.a.kind} ${r.a.digest})`, `B: ${names.b} (${r.b.kind} ${r.b.digest})`];
  const note = r.images.find((i) => i.note)?.note;
  out.push(r.identical ? `identical: ${r.a.digest}${note ? ` (${note})` : ''}` : 'A and B differ');
  if (r.index && !r.identical) {
    const lines = [...r.index.fields.map(field), ...r.index.onlyInA.map((p) => `only A has ${p}`), ...r.index.onlyInB.map((p) => `only B has ${p}`)];
    if (lines.length) out.push('index:', ...lines.map((l) => `  ${l}`));
  }
  if (!r.identical || r.images.some((i) => !i.identical)) for (const d of r.images) out.push(...imageLines(d, o));
  return out.join('\n');
}
