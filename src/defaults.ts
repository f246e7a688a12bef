// The defaults of Strata's commands, in one place: the CLI shows and applies
// them, and the commands apply the same ones when called without the CLI (the
// action, tests), so `strata build` and `build()` cannot disagree.
// A default that belongs to a library (retries, max layers, the GC's grace) is
// defined beside the code it governs and only gathered here.
import { DEFAULT_MAX_LAYERS } from '../layers/plan.js';
import type { Strategy } from '../layers/strategy.js';
import type { Compression, ManifestFormat } from '../oci/layer-types.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY } from '../registry/retry.js';
import { DEFAULT_GRACE_MS } from '../registry/server/layout.js';

export const defaults = {
  /** Layer compression of a built image (pinned pako gzip: every runtime reads it). */
  compression: 'gzip' as Compression,
  /** docker-archive's layers: the format holds uncompressed layers only. */
  dockerArchiveCompression: 'none' as Compression,
  format: 'oci' as ManifestFormat,
  layering: 'stable' as Strategy,
  maxLayers: DEFAULT_MAX_LAYERS,
  /** Blobs transferred at once by a push or copy. */
  concurrency: 4,
  /** Attempts per registry request, and the total time of one manifest, token or error-body request. */
  retries: DEFAULT_RETRY.attempts,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
  /** @sigstore/sign's defaults: the public-good instance. */
  fulcioURL: 'https://fulcio.sigstore.dev',
  rekorURL: 'https://rekor.sigstore.dev',
  serve: {
    listen: '127.0.0.1:5000',
    log: 'json' as 'json' | 'none',
    /** How long a pull waits for a build before 503 and Retry-After. */
    buildWaitMs: 5 * 60_000,
    /** How long a failed build is remembered (doubled while it keeps failing). */
    buildBackoffMs: 30_000,
    /** Disk kept for made layers, so range requests do not make a layer again. */
    layerCacheBytes: 2 * 2 ** 30,
    /** Layers of one image made at once. */
    layerJobs: 2,
  },
  /** strata gc keeps what was written this recently (pushes in progress). */
  gcGraceMs: DEFAULT_GRACE_MS,
} as const;
