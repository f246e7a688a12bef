// What long operations report as they go: the events every layer below the
// command line emits, and the sink it gives them to. Rendering is the CLI's
// business (src/progress.ts); library code never writes to stderr itself.

export type BlobAction = 'uploaded' | 'exists' | 'mounted' | 'downloaded' | 'copied' | 'reused';
export type ProgressEvent =
  | { type: 'blob-start'; id: string; label: string; size?: number }
  | { type: 'blob-progress'; id: string; bytes: number }
  | { type: 'blob-done'; id: string; digest: string; size: number; action: BlobAction }
  | { type: 'retry'; id?: string; step: string; attempt: number; reason: string; delayMs: number }
  | { type: 'manifest'; ref: string; digest: string }
  | { type: 'message'; text: string }
  /** Something the user should know that does not stop the work (a cache entry that lied). Shown even with --progress quiet. */
  | { type: 'warning'; text: string };
export interface Progress {
  emit(e: ProgressEvent): void;
  close(): void;
}
