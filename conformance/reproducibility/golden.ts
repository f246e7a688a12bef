// The golden digests the suite compares against, committed beside it. A
// value changes only in a commit that says why (run.js --update re-records).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CASES } from './cases.js';
import { repoRoot } from './strata.js';

export const GOLDEN_FILE = join(repoRoot, 'conformance', 'reproducibility', 'golden.json');

/** What a check compares: the manifest digest, the docker-archive's config digest (its image ID), or an archive file's sha256. */
export const MEASURES = ['manifest', 'config', 'ociArchive', 'dockerArchive'] as const;
export type Measure = (typeof MEASURES)[number];
/** Every field of a case, in the file's order. */
export const FIELDS = ['busybox', ...MEASURES] as const;

export type GoldenCase = Partial<Record<Measure, string>> & {
  /** hello only: sha256 of the busybox its digests were recorded with. */
  busybox?: string;
};

export interface Golden {
  about: string;
  cases: Record<string, GoldenCase>;
}

const ABOUT =
  'Golden digests of every example, per case: manifest (the manifest digest every transport must give), config (docker-archive config digest), ' +
  'ociArchive and dockerArchive (sha256 of the archive files), busybox (hello: sha256 of the busybox it was recorded with). ' +
  'Checked by conformance/reproducibility; a value changes only in a commit that says why (run.js --update re-records).';

export function readGolden(file = GOLDEN_FILE): Golden {
  const golden = JSON.parse(readFileSync(file, 'utf8')) as Golden;
  if (!golden || typeof golden.cases !== 'object') throw new Error(`${file}: no "cases"`);
  return golden;
}

/** Written in the suite's case order with fields in a fixed order, so a diff shows only what changed. */
export function writeGolden(golden: Golden, file = GOLDEN_FILE): void {
  const known = CASES.map((c) => c.id).filter((id) => golden.cases[id]);
  const others = Object.keys(golden.cases).filter((id) => !known.includes(id));
  const ordered = (entry: GoldenCase): GoldenCase => Object.fromEntries(FIELDS.filter((k) => entry[k] !== undefined).map((k) => [k, entry[k]]));
  const cases = Object.fromEntries([...known, ...others].map((id) => [id, ordered(golden.cases[id]!)]));
  writeFileSync(file, `${JSON.stringify({ about: ABOUT, cases }, null, 2)}\n`);
}
