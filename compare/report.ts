// What `strata diff` reports: the shape its renderers, its hints and --json
// share. Kept apart from the comparison so hints can read a report without
// importing the code that makes one.
import type { Digest } from '../base/digest.js';
import type { FieldChange } from './fields.js';
import type { CompareTarget } from './model.js';
import type { FileChange, StorePathChange } from './store-paths.js';

export interface LayerSide {
  /** Position in the image: 1 is the bottom layer, the manifest's first. */
  layer: number;
  digest?: Digest;
  diffID: Digest;
  mediaType?: string;
  size?: number;
}

export interface LayerPair {
  /** identical: same blob; recompressed: same tar, other blob; differs: paired by position, other tar. */
  status: 'identical' | 'recompressed' | 'differs' | 'only-in-a' | 'only-in-b';
  a?: LayerSide;
  b?: LayerSide;
  /** Descriptor fields that differ (media type, annotations) of a pair. */
  descriptor: FieldChange[];
}

export interface ImageDiff {
  platform: string;
  identical: boolean;
  a: { digest: Digest; config: Digest };
  b: { digest: Digest; config: Digest };
  /** Set when one side has no manifest (a docker-archive): then the images are compared by config. */
  note?: string;
  manifest: FieldChange[];
  config: FieldChange[];
  layers: LayerPair[];
  storePaths: StorePathChange[];
  /** Files outside /nix/store. */
  files: FileChange[];
  /** What the differences likely mean (compare/hints.ts). */
  hints: string[];
}

export interface IndexDiff {
  fields: FieldChange[];
  onlyInA: string[];
  onlyInB: string[];
}

export interface DiffReport {
  identical: boolean;
  a: { digest: Digest; kind: CompareTarget['kind'] };
  b: { digest: Digest; kind: CompareTarget['kind'] };
  /** Both sides indexes: their fields and platforms. */
  index?: IndexDiff;
  /** One per platform compared (one for two images). */
  images: ImageDiff[];
}
