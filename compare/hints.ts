// What the differences of two images usually mean, said once at the end of
// the report: the causes users of reproducible images meet most (another
// SOURCE_DATE_EPOCH, other inputs, a build that is not reproducible, another
// Strata version), each only when the differences fit it.
import type { ImageDiff } from './report.js';
import { StrataAnnotation } from '../oci/types.js';

export function hintsFor(d: ImageDiff): string[] {
  if (d.identical) return [];
  const hints: string[] = [];
  const files = [...d.storePaths.flatMap((s) => s.files), ...d.files];
  const created = d.config.find((c) => c.path === 'created');
  const samePaths = d.storePaths.every((s) => s.change === 'changed' && s.a === s.b) && d.layers.every((l) => l.a && l.b);
  if (created && files.length && samePaths && files.every((f) => f.change === 'changed' && f.facts.every((k) => k === 'mtime'))) {
    hints.push(
      `every file differs only in its mtime, and created is ${JSON.stringify(created.a)} in A, ${JSON.stringify(created.b)} in B: they were made with another SOURCE_DATE_EPOCH (nix develop shells export one)`,
    );
  }
  const strataKeys: string[] = [StrataAnnotation.compressor, StrataAnnotation.layerFormat];
  const tool = d.manifest.filter((c) => strataKeys.some((k) => c.path === `annotations[${JSON.stringify(k)}]`));
  if (tool.length) hints.push(`the ${tool.map((c) => c.path).join(' and ')} differ: they were made with other compression settings or another Strata version`);
  const rebuilt = d.storePaths.filter((s) => s.change === 'changed' && s.a === s.b && s.files.some((f) => f.facts.some((k) => k !== 'mtime')));
  for (const s of rebuilt) {
    hints.push(
      `${s.a} has other contents in A and B under the same store path: its build is not reproducible (nix build --rebuild shows it), or it was garbage-collected and built again with other bytes`,
    );
  }
  const renamed = d.storePaths.filter((s) => s.a && s.b && s.a !== s.b);
  if (renamed.length || d.storePaths.some((s) => s.change === 'added' || s.change === 'removed')) {
    hints.push(
      `the images hold other store paths (${renamed.length} with another hash, ${d.storePaths.filter((s) => s.change === 'added' || s.change === 'removed').length} only on one side): they were built from other inputs (flake.lock, system, overrides)`,
    );
  }
  return hints;
}
