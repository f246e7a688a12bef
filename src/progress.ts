// Progress of push, pull and copy: one stream of events, rendered as bars on a
// terminal, as short lines in CI logs, as NDJSON for tools, or not at all (warnings only).
import cliProgress from 'cli-progress';
import type { Progress, ProgressEvent } from '../base/events.js';
import { shortDigest } from '../base/digest.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };

/** JSON mode writes at most one blob-progress per blob per this many ms (and always the last one). */
export const JSON_PROGRESS_INTERVAL_MS = 250;

/** 512 B, 12.3 MiB, 1.0 GiB. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n,
    u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** The line for an event in plain mode (and above the bars in tty mode); undefined when it has none. */
function lineFor(e: ProgressEvent, label: (id: string) => string): string | undefined {
  switch (e.type) {
    case 'blob-done':
      return `${e.action} ${shortDigest(e.digest)} ${label(e.id)} (${humanBytes(e.size)})`;
    case 'retry':
      return `retry ${e.step} in ${Math.round(e.delayMs / 100) / 10}s (attempt ${e.attempt}): ${e.reason}`;
    case 'manifest':
      return `manifest ${e.ref} ${e.digest}`;
    case 'message':
      return e.text;
    case 'warning':
      return `strata: warning: ${e.text}`;
    default:
      return undefined;
  }
}

/** What 'auto' means for this stream and environment. */
export function resolveMode(mode: ProgressMode, stream: ProgressStream, env: NodeJS.ProcessEnv): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  const ci = (env.CI ?? '').toLowerCase();
  return stream.isTTY === true && ci !== 'true' && ci !== '1' && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export function createProgress(mode: ProgressMode, opts: { stream?: ProgressStream; env?: NodeJS.ProcessEnv } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const m = resolveMode(mode, stream, opts.env ?? process.env);
  const inner = m === 'quiet' ? quiet(stream) : m === 'plain' ? plain(stream) : m === 'json' ? json(stream) : tty(stream);
  let closed = false;
  return {
    emit(e) {
      if (!closed) inner.emit(e);
    },
    close() {
      if (!closed) {
        closed = true;
        inner.close();
      }
    },
  };
}

/** Quiet shows warnings only: they were printed whatever the progress mode before they became events. */
function quiet(stream: ProgressStream): Progress {
  return {
    emit(e) {
      if (e.type === 'warning') stream.write(`${lineFor(e, (id) => id)}\n`);
    },
    close() {},
  };
}

function plain(stream: ProgressStream): Progress {
  const labels = new Map<string, string>();
  return {
    emit(e) {
      if (e.type === 'blob-start') {
        labels.set(e.id, e.label);
        return;
      }
      const text = lineFor(e, (id) => labels.get(id) ?? id);
      if (e.type === 'blob-done') labels.delete(e.id);
      if (text !== undefined) stream.write(`${text}\n`);
    },
    close() {},
  };
}

function json(stream: ProgressStream): Progress {
  const lastWritten = new Map<string, number>();
  const pending = new Map<string, ProgressEvent>();
  const write = (e: ProgressEvent) => stream.write(`${JSON.stringify(e)}\n`);
  const flush = (id: string) => {
    const p = pending.get(id);
    if (p) {
      pending.delete(id);
      write(p);
    }
  };
  return {
    emit(e) {
      if (e.type === 'blob-progress') {
        const now = Date.now(),
          t = lastWritten.get(e.id);
        if (t !== undefined && now - t < JSON_PROGRESS_INTERVAL_MS) {
          pending.set(e.id, e);
          return;
        }
        lastWritten.set(e.id, now);
        pending.delete(e.id);
      } else if (e.type === 'blob-done') {
        flush(e.id);
        lastWritten.delete(e.id);
      }
      write(e);
    },
    close() {
      for (const id of [...pending.keys()]) flush(id);
    },
  };
}

/** Middle-truncates to exactly `w` columns (padding when shorter): both the layer number and the store path's name stay. */
function fit(s: string, w: number): string {
  if (s.length <= w) return s.padEnd(w);
  const head = Math.ceil((w - 1) / 2);
  return `${s.slice(0, head)}…${s.slice(s.length - (w - 1 - head))}`;
}

const BAR = 15;
interface Payload {
  label: string;
  state: string;
  known: boolean;
}

function tty(stream: ProgressStream): Progress {
  const width = () => Math.max(30, (stream.columns ?? 80) - 1);
  const format: cliProgress.GenericFormatter = (_o, p, payload: Payload) => {
    const w = width();
    const bytes = payload.known ? `${humanBytes(p.value)} / ${humanBytes(p.total)}` : humanBytes(p.value);
    const filled = Math.round(p.progress * BAR);
    const bar = w < 70 ? '' : payload.known ? ` [${'='.repeat(filled)}${'-'.repeat(BAR - filled)}]` : ' '.repeat(BAR + 3);
    const tail = `${bar} ${bytes.padStart(21)} ${payload.state.padEnd(10)}`; // fixed columns while states change
    return `${fit(payload.label, Math.max(10, w - tail.length))}${tail}`.slice(0, w).trimEnd();
  };
  // Redraws are throttled to `fps`; forceRedraw because lines logged above the bars shift them down.
  const mb = new cliProgress.MultiBar({ stream, format, fps: 6, forceRedraw: true, hideCursor: true, linewrap: true, gracefulExit: false });
  // The redraw timer must not keep the process alive if a caller forgets close().
  const unref = () => (mb as unknown as { timer?: NodeJS.Timeout | null }).timer?.unref?.();
  mb.on('start', unref);
  mb.on('update-post', unref);
  const bars = new Map<string, { bar: cliProgress.SingleBar; payload: Payload; doneLine?: string }>();
  const labelOf = (id: string) => bars.get(id)?.payload.label ?? id;
  let started = false,
    stopped = false;
  const onExit = () => progress.close();

  const get = (id: string, label?: string, size?: number) => {
    let b = bars.get(id);
    if (b) return b;
    // More bars than rows cannot be redrawn: retire the oldest finished one into the log above.
    if (bars.size >= Math.max(1, (stream.rows ?? 24) - 2)) {
      const old = [...bars].find(([, x]) => x.doneLine !== undefined);
      if (old) {
        mb.log(`${old[1].doneLine}\n`);
        bars.delete(old[0]);
        mb.remove(old[1].bar);
      }
    }
    const payload: Payload = { label: label ?? id, state: '', known: size !== undefined };
    b = { bar: mb.create(size ?? 0, 0, payload), payload };
    bars.set(id, b);
    if (!started) {
      started = true;
      process.once('exit', onExit);
    }
    return b;
  };

  const progress: Progress = {
    emit(e) {
      if (stopped) return;
      switch (e.type) {
        case 'blob-start': {
          const b = get(e.id, e.label, e.size);
          b.payload.known = e.size !== undefined;
          b.bar.setTotal(e.size ?? 0);
          b.bar.update(0, { label: e.label, state: '' });
          return;
        }
        case 'blob-progress':
          get(e.id).bar.update(e.bytes);
          return;
        case 'blob-done': {
          const b = get(e.id, undefined, e.size);
          b.payload.known = true;
          b.bar.setTotal(e.size);
          b.bar.update(e.size, { state: e.action });
          b.doneLine = lineFor(e, labelOf);
          return;
        }
        default: {
          if (e.type === 'retry' && e.id !== undefined) bars.get(e.id)?.bar.update({ state: `retry ${e.attempt}` });
          const text = lineFor(e, labelOf);
          if (text === undefined) return;
          if (started) mb.log(`${text}\n`);
          else stream.write(`${text}\n`);
        }
      }
    },
    close() {
      if (stopped) return;
      stopped = true;
      if (!started) return;
      process.removeListener('exit', onExit);
      mb.update(); // flushes lines logged since the last redraw
      mb.stop(); // final state of every bar, cursor shown again
    },
  };
  return progress;
}
