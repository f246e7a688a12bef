// Layers the serve bridge made, kept. A compressed stream cannot be restarted
// mid-way, so without this every Range request (a resumed pull, bytes=-1)
// makes the whole layer again to send a few bytes. A making is written to a
// file in a directory the server owns while every request for that layer reads
// along (one making however many ask); made files are kept up to a total size,
// least recently used dropped first. A making every reader has left is stopped,
// and at most `jobs` makings per image run at once, the rest waiting their turn.
// A layer bigger than the whole cache is made for its request alone, as before.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Logger } from '../registry/server/log.js';

export interface LayerToMake {
  digest: string;
  size: number;
  /** The image it is made for: an image's makings share one bound. */
  image: string;
  /** A new making of the layer's bytes from `skip` on; destroying it stops the work. */
  make(skip: number): Readable;
}

export interface MadeLayersOptions {
  /** Most bytes kept on disk (makings in progress count at their full size); 0 keeps none. */
  maxBytes: number;
  /** Most makings at once per image. */
  jobs: number;
  log: Logger;
}

const READ_CHUNK = 256 * 1024;

/** A counting semaphore whose waiters can give up. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async take(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener('abort', quit);
          resolve();
        };
        const quit = () => {
          this.waiting.splice(this.waiting.indexOf(go), 1);
          reject(signal.reason as Error);
        };
        this.waiting.push(go);
        signal.addEventListener('abort', quit, { once: true });
      });
    }
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

interface Entry {
  layer: LayerToMake;
  path: string;
  /** Bytes in the file so far. */
  written: number;
  done: boolean;
  error?: Error;
  readers: number;
  /** When a reader last came or left, as a count of such events (clock milliseconds tie). */
  lastUsed: number;
  stop: AbortController;
  /** Readers waiting for more bytes. */
  wake: (() => void)[];
}

export class MadeLayers {
  private readonly entries = new Map<string, Entry>();
  private readonly slots = new Map<string, Slots>();
  private kept = 0;
  /** Files are numbered: a stopped making's file may still be being removed when the next one starts. */
  private files = 0;
  private diskFailed = false;
  private uses = 0;
  private dir: string | undefined;

  constructor(private readonly opts: MadeLayersOptions) {}

  /** Bytes [start, end] of the layer: from the kept file, or read along its making. */
  open(layer: LayerToMake, start: number, end: number): Readable {
    let e = this.entries.get(layer.digest);
    if (!e) {
      if (!this.reserve(layer.size)) return this.direct(layer, start, end);
      e = this.begin(layer);
    }
    return new Follower(this, e, start, end);
  }

  /** Stops every making and removes the kept files. */
  close(): void {
    for (const e of this.entries.values()) e.stop.abort();
    this.entries.clear();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** A reader left: when it was the last one and the layer is not made yet, its making stops. */
  leave(e: Entry): void {
    e.readers--;
    e.lastUsed = ++this.uses;
    if (e.readers === 0 && !e.done && !e.error) {
      e.stop.abort(new Error('every request for this layer went away'));
      this.drop(e);
    }
  }

  /** Room for `size` bytes, dropping made layers nobody reads, oldest use first; false if there is none. */
  private reserve(size: number): boolean {
    if (size > this.opts.maxBytes || this.diskFailed) return false;
    while (this.kept + size > this.opts.maxBytes) {
      let oldest: Entry | undefined;
      for (const e of this.entries.values()) if (e.done && e.readers === 0 && (!oldest || e.lastUsed < oldest.lastUsed)) oldest = e;
      if (!oldest) return false;
      this.drop(oldest);
    }
    this.kept += size;
    return true;
  }

  private drop(e: Entry): void {
    if (this.entries.get(e.layer.digest) !== e) return;
    this.entries.delete(e.layer.digest);
    this.kept -= e.layer.size;
    void rm(e.path, { force: true });
  }

  private begin(layer: LayerToMake): Entry {
    this.dir ??= mkdtempSync(join(tmpdir(), 'strata-serve-layers-'));
    const e: Entry = {
      layer,
      path: join(this.dir, `${++this.files}-${layer.digest.replace(':', '-')}`),
      written: 0,
      done: false,
      readers: 0,
      lastUsed: ++this.uses,
      stop: new AbortController(),
      wake: [],
    };
    this.entries.set(layer.digest, e);
    const wakeAll = () => e.wake.splice(0).forEach((w) => w());
    void (async () => {
      let file: FileHandle | undefined;
      let diskError: Error | undefined;
      const disk = <T>(p: Promise<T>) => p.catch((err: Error) => Promise.reject((diskError = err)));
      try {
        file = await disk(open(e.path, 'w'));
        const f = file;
        await this.make(layer, 0, layer.size, e.stop.signal, async (chunk) => {
          await disk(f.write(chunk));
          e.written += chunk.length;
          wakeAll();
        });
        e.done = true;
      } catch (err) {
        e.error = err as Error;
        this.drop(e);
        if (diskError && !this.diskFailed) {
          // A full or failing disk: from now on layers are made for each request, as without a cache.
          this.diskFailed = true;
          this.opts.log({ event: 'layer-cache', outcome: 'disabled', error: diskError.message });
        }
      } finally {
        await file?.close().catch(() => undefined);
        wakeAll();
      }
    })();
    return e;
  }

  /** A layer that is not kept: made for this request alone, from `start` on, and stopped when the request goes. */
  private direct(layer: LayerToMake, start: number, end: number): Readable {
    const out = new PassThrough();
    const stop = new AbortController();
    out.on('close', () => stop.abort(new Error('the request went away')));
    this.make(layer, start, end - start + 1, stop.signal, async (chunk) => {
      if (!out.write(chunk)) await once(out, 'drain', { signal: stop.signal });
    }).then(
      () => out.end(),
      (err: Error) => out.destroy(err),
    );
    return out;
  }

  /**
   * One making, in a slot of its image: `limit` bytes from `skip` on, each
   * chunk handed to `sink` (awaited, so a slow sink slows the making). A
   * whole layer is checked against its digest. Logged as one "layer" event.
   */
  private async make(layer: LayerToMake, skip: number, limit: number, signal: AbortSignal, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
    let slots = this.slots.get(layer.image);
    if (!slots) this.slots.set(layer.image, (slots = new Slots(this.opts.jobs)));
    const release = await slots.take(signal);
    if (signal.aborted) {
      release();
      throw signal.reason;
    }
    const start = new Date();
    const src = layer.make(skip);
    const onAbort = () => src.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    const hash = skip === 0 && limit === layer.size ? createHash('sha256') : undefined;
    let bytes = 0;
    let error: Error | undefined;
    // The last chunk is held back until the digest is checked: no reader gets a whole wrong layer.
    let last: Buffer | undefined;
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        const c = bytes + chunk.length > limit ? chunk.subarray(0, limit - bytes) : chunk;
        bytes += c.length;
        hash?.update(c);
        if (bytes >= limit) {
          last = c;
          break;
        }
        await sink(c);
      }
      if (signal.aborted) throw signal.reason;
      if (bytes < limit) throw new Error(`the layer ended after ${skip + bytes} of ${layer.size} bytes`);
      if (hash && `sha256:${hash.digest('hex')}` !== layer.digest)
        throw new Error('the layer made from the store is not the one the manifest names (its store paths changed)');
      await sink(last!);
    } catch (e) {
      error = signal.aborted ? (signal.reason as Error) : (e as Error);
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      src.destroy();
      release();
      const end = new Date();
      this.opts.log({
        event: 'layer',
        image: layer.image,
        digest: layer.digest,
        outcome: error ? (signal.aborted ? 'aborted' : 'failed') : 'made',
        ...(skip || limit !== layer.size ? { from: skip, length: limit } : {}),
        bytes,
        start: start.toISOString(),
        end: end.toISOString(),
        durationMs: end.getTime() - start.getTime(),
        ...(error && !signal.aborted ? { error: error.message } : {}),
      });
    }
  }
}

/** A request's bytes [start, end] of a kept layer, read from its file as far as the making has got. */
class Follower extends Readable {
  private pos: number;
  private file: FileHandle | undefined;
  private pumping = false;

  constructor(
    private readonly cache: MadeLayers,
    private readonly e: Entry,
    start: number,
    private readonly end: number,
  ) {
    super();
    this.pos = start;
    e.readers++;
  }

  override _read(): void {
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        if (this.destroyed) return;
        if (this.pos > this.end) {
          this.push(null);
          return;
        }
        const e = this.e;
        if (this.pos < e.written) {
          if (!this.file) {
            const file = await open(e.path, 'r');
            // Destroyed while it opened: _destroy found no file to close.
            if (this.destroyed) return void (await file.close());
            this.file = file;
          }
          const n = Math.min(READ_CHUNK, e.written - this.pos, this.end + 1 - this.pos);
          const buf = Buffer.allocUnsafe(n);
          const { bytesRead } = await this.file.read(buf, 0, n, this.pos);
          if (bytesRead === 0) throw new Error(`the kept layer ${e.layer.digest} is shorter than ${this.pos + 1} bytes`);
          this.pos += bytesRead;
          if (this.destroyed || !this.push(buf.subarray(0, bytesRead))) return;
        } else if (e.error) throw e.error;
        else if (e.done) throw new Error(`the layer ${e.layer.digest} ended at ${e.written} bytes`);
        else await new Promise<void>((resolve) => e.wake.push(resolve));
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.pumping = false;
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.cache.leave(this.e);
    const file = this.file;
    this.file = undefined;
    void (file ? file.close() : Promise.resolve()).then(
      () => cb(err),
      () => cb(err),
    );
  }
}
