// Deterministic layer compressors.
//
// Every byte that leaves here reaches a digest. A compressor's id (in every
// layer key and the manifest's annotations) names a byte format, fixed by a
// pinned pure-JS / WebAssembly implementation whose output depends only on the
// input bytes and the settings below:
//
//   gzip: pako (pure JS port of zlib), level 6, fixed 10-byte header.
//   zstd: @hpcc-js/wasm-zstd (libzstd compiled to WebAssembly), level 3.
//
// The runtime's own zlib or libzstd writes the same format, faster, where the
// reproducibility suite has proven that version on that platform and a check
// at start-up agrees (native-compress.ts); everywhere else the pinned one does.
//
// Input is re-cut into fixed BLOCK_SIZE blocks before it reaches a compressor,
// so the output does not depend on how the upstream stream happened to chunk
// its bytes (the zstd binding flushes at every call; see ZstdCompressor).
// Measurements and the choice: docs/benchmarks/compression.md.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { Zstd } from '@hpcc-js/wasm-zstd';
import { Deflate } from 'pako';
import type { Compression } from '../oci/layer-types.js';
import { createNativeCompressor, implementationFor } from './native-compress.js';

// Defined in oci/layer-types.ts (with the media types); re-exported for the callers that import it from here.
export type { Compression };

export interface CompressorInfo {
  compression: Compression;
  /** Implementation, exact version and settings, e.g. for an image annotation. */
  id: string;
}

/** Bytes handed to the compressor per call: 1 MiB, a multiple of zstd's 128 KiB block. */
export const BLOCK_SIZE = 1 << 20;
export const GZIP_LEVEL = 6;
export const ZSTD_LEVEL = 3;
/** libzstd inside the pinned @hpcc-js/wasm-zstd; checked when the module loads. */
export const LIBZSTD_VERSION = '1.5.7';

const PAKO_OPTIONS = {
  level: GZIP_LEVEL,
  gzip: true,
  windowBits: 15,
  memLevel: 8,
  strategy: 0, // Z_DEFAULT_STRATEGY
  legacyHash: false,
  chunkSize: 64 * 1024, // size of the output chunks; does not change the bytes
} as const;

const require = createRequire(import.meta.url);
const versions = new Map<string, string>();

/**
 * Version of the installed package `name`, from its own package.json (found by
 * walking up from the file it resolves to, since some packages export no
 * `./package.json`).
 */
export function installedVersion(name: string, req: NodeJS.Require = require): string {
  const cached = req === require ? versions.get(name) : undefined;
  if (cached) return cached;
  let dir = dirname(req.resolve(name));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === name && typeof pkg.version === 'string') {
        if (req === require) versions.set(name, pkg.version);
        return pkg.version;
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find package.json of ${name}`);
    dir = up;
  }
}

export function compressorInfo(c: Compression): CompressorInfo {
  switch (c) {
    case 'gzip': {
      const o = PAKO_OPTIONS;
      return {
        compression: 'gzip',
        id:
          `pako@${installedVersion('pako')} gzip level=${o.level} windowBits=${o.windowBits} ` +
          `memLevel=${o.memLevel} strategy=default legacyHash=${o.legacyHash} header=mtime:0,os:3`,
      };
    }
    case 'zstd':
      return {
        compression: 'zstd',
        id:
          `@hpcc-js/wasm-zstd@${installedVersion('@hpcc-js/wasm-zstd')} libzstd@${LIBZSTD_VERSION} ` +
          `zstd level=${ZSTD_LEVEL} checksum=0 flush-every=${BLOCK_SIZE}`,
      };
    case 'none':
      return { compression: 'none', id: 'none' };
    default:
      throw new Error(`unknown compression: ${String(c satisfies never)}`);
  }
}

/**
 * The compressor a layer is made with: the runtime's library where it is
 * proven to write the pinned one's bytes (native-compress.ts), else the pinned one.
 */
export async function openCompressor(c: Exclude<Compression, 'none'>): Promise<Transform> {
  return (await implementationFor(c)).native ? createNativeCompressor(c) : createCompressor(c);
}

/** The pinned compressor: bytes in, compressed bytes out, with back-pressure. */
export function createCompressor(c: Compression): Transform {
  switch (c) {
    case 'gzip':
      return new GzipCompressor();
    case 'zstd':
      return new ZstdCompressor();
    case 'none':
      return new PassThrough();
    default:
      throw new Error(`unknown compression: ${String(c satisfies never)}`);
  }
}

/**
 * Re-cuts the incoming bytes into blocks of exactly `blockSize` bytes (the last
 * one shorter, possibly empty) and hands each to the compressor synchronously,
 * so the calls a compressor sees depend only on the bytes, never on the chunking.
 * Work happens inside _transform, so Transform's own back-pressure applies: a
 * slow reader stops the writes once the readable side holds a highWaterMark.
 */
export abstract class BlockCompressor extends Transform {
  private pending: Buffer | undefined;
  private fill = 0;

  constructor(private readonly blockSize: number = BLOCK_SIZE) {
    super();
  }

  /** Compresses one full block; may push output. The block is not kept after the call. */
  protected abstract compressBlock(block: Uint8Array): void;
  /** Compresses the last, shorter (possibly empty) block and ends the format. */
  protected abstract finish(last: Uint8Array): void;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      const bs = this.blockSize;
      let off = 0;
      if (this.fill > 0) {
        const n = Math.min(bs - this.fill, chunk.length);
        chunk.copy(this.pending!, this.fill, 0, n);
        this.fill += n;
        off = n;
        if (this.fill === bs) {
          this.compressBlock(this.pending!);
          this.fill = 0;
        }
      }
      while (chunk.length - off >= bs) {
        this.compressBlock(chunk.subarray(off, off + bs));
        off += bs;
      }
      if (off < chunk.length) {
        this.pending ??= Buffer.allocUnsafe(bs);
        chunk.copy(this.pending, 0, off);
        this.fill = chunk.length - off;
      }
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.finish(this.pending ? this.pending.subarray(0, this.fill) : new Uint8Array(0));
      this.pending = undefined;
      this.fill = 0;
      done();
    } catch (e) {
      done(e as Error);
    }
  }
}

/** gzip through pako's Deflate. With no gzip header object set, pako writes
 * 1f 8b 08, flags 0, mtime 0, XFL 0 (level 6), OS 3 — no name, no comment. */
class GzipCompressor extends BlockCompressor {
  private readonly deflate = new Deflate(PAKO_OPTIONS);

  constructor() {
    super();
    this.deflate.onData = (c: Uint8Array) => {
      // pako never writes into an output buffer it has handed out.
      this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    };
    this.deflate.onEnd = () => {};
  }

  private check(ok: boolean): void {
    if (!ok || this.deflate.err !== 0) throw new Error(`pako deflate failed: ${this.deflate.msg || this.deflate.err}`);
  }

  protected compressBlock(block: Uint8Array): void {
    this.check(this.deflate.push(block, false));
  }

  protected finish(last: Uint8Array): void {
    this.check(this.deflate.push(last, true));
  }
}

// ---- zstd -----------------------------------------------------------------
//
// @hpcc-js/wasm-zstd's public streaming API has two problems for us: one
// shared compression context per process (two layers at once would interleave
// in it), and it copies every output byte through a JS array (~5x slower). So
// this reaches one level under it — the emscripten module and the embind class
// it wraps — and makes one context per stream. The package is pinned exactly;
// the shape is checked at load and the unit tests pin the output bytes.
// The binding's compressChunk() ends with ZSTD_e_flush, which is why input is
// fed in fixed BLOCK_SIZE blocks (a flush on a 128 KiB block boundary costs
// nothing in size).

interface ZstdContext {
  setCompressionLevel(level: number): void;
  compressChunk(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  compressEnd(dst: number, dstCapacity: number): number;
  delete(): void;
}

interface ZstdClass {
  new (): ZstdContext;
  compressBound(size: number): number;
  CStreamOutSize(): number;
  isError(code: number): number;
  getErrorName(code: number): string;
  version(): string;
}

interface EmscriptenHeap {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
}

interface ZstdRuntime {
  mod: EmscriptenHeap;
  cls: ZstdClass;
}

let zstdRuntime: Promise<ZstdRuntime> | undefined;

function loadZstd(): Promise<ZstdRuntime> {
  zstdRuntime ??= Zstd.load().then(
    (z) => {
      const inner = z as unknown as { _mainModule?: { _module?: EmscriptenHeap }; _zstdClass?: ZstdClass };
      const mod = inner._mainModule?._module;
      const cls = inner._zstdClass;
      const fns = (o: object | undefined, names: string[]): boolean =>
        o !== undefined && names.every((n) => typeof (o as Record<string, unknown>)[n] === 'function');
      if (
        !mod ||
        !cls ||
        !(mod.HEAPU8 instanceof Uint8Array) ||
        !fns(mod, ['_malloc', '_free']) ||
        !fns(cls, ['compressBound', 'CStreamOutSize', 'isError', 'getErrorName', 'version']) ||
        !fns(cls.prototype as object | undefined, ['setCompressionLevel', 'compressChunk', 'compressEnd', 'delete'])
      ) {
        throw new Error(`@hpcc-js/wasm-zstd@${installedVersion('@hpcc-js/wasm-zstd')} does not have the internals Strata's zstd compressor uses`);
      }
      const version = cls.version();
      if (version !== LIBZSTD_VERSION) {
        throw new Error(`@hpcc-js/wasm-zstd carries libzstd ${version}, Strata expects ${LIBZSTD_VERSION}`);
      }
      return { mod, cls };
    },
    (e: unknown) => {
      zstdRuntime = undefined;
      throw e;
    },
  );
  return zstdRuntime;
}

class ZstdCompressor extends BlockCompressor {
  private rt: ZstdRuntime | undefined;
  private ctx: ZstdContext | undefined;
  private src = 0;
  private dst = 0;
  private cap = 0;

  override _construct(done: (error?: Error | null) => void): void {
    loadZstd().then(
      (rt) => {
        try {
          this.rt = rt;
          this.ctx = new rt.cls();
          this.ctx.setCompressionLevel(ZSTD_LEVEL);
          this.cap = rt.cls.compressBound(BLOCK_SIZE) + rt.cls.CStreamOutSize();
          this.src = rt.mod._malloc(BLOCK_SIZE);
          this.dst = rt.mod._malloc(this.cap);
          if (!this.src || !this.dst) throw new Error('zstd: out of WebAssembly memory');
          done();
        } catch (e) {
          done(e as Error);
        }
      },
      (e: unknown) => done(e instanceof Error ? e : new Error(String(e))),
    );
  }

  private pushOutput(n: number): void {
    const { cls, mod } = this.rt!;
    if (cls.isError(n)) throw new Error(`zstd compression failed: ${cls.getErrorName(n)}`);
    // HEAPU8 is re-read after every call: a memory growth replaces it.
    if (n > 0) this.push(Buffer.from(mod.HEAPU8.subarray(this.dst, this.dst + n)));
  }

  protected compressBlock(block: Uint8Array): void {
    if (block.length === 0) return;
    this.rt!.mod.HEAPU8.set(block, this.src);
    this.pushOutput(this.ctx!.compressChunk(this.dst, this.cap, this.src, block.length));
  }

  protected finish(last: Uint8Array): void {
    this.compressBlock(last);
    this.pushOutput(this.ctx!.compressEnd(this.dst, this.cap));
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    if (this.rt) {
      if (this.src) this.rt.mod._free(this.src);
      if (this.dst) this.rt.mod._free(this.dst);
      this.ctx?.delete();
      this.src = this.dst = 0;
      this.ctx = undefined;
      this.rt = undefined;
    }
    done(err);
  }
}
