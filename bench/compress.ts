// Compressor benchmark: throughput, ratio and peak RSS of each candidate, side by side.
//
//   npx tsc -p tsconfig.json
//   node dist/bench/compress.js FILE [--candidates DIR] [--only a,b] [--min-bytes N]
//
// Each candidate runs in its own child process (so peak RSS is its own), reading
// FILE in the default 64 KiB chunks (re-read until --min-bytes have gone through,
// to show memory stays flat however long the stream), through the compressor, into
// a sink that only hashes and counts. The sha256 column lets runs under different
// Node versions be compared byte for byte.
//
// Candidates that are not dependencies of Strata (fflate, zstd-codec) are loaded
// from the project if present, else from --candidates DIR, e.g. after
//   npm install --prefix /tmp/cand fflate@0.8.3 zstd-codec@0.1.5
// and are skipped if found in neither. Node's zlib is there for speed only.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { Zstd } from '@hpcc-js/wasm-zstd';
import { Deflate } from 'pako';
import { BlockCompressor, GZIP_LEVEL, ZSTD_LEVEL, compressorInfo, createCompressor, installedVersion } from '../layers/compress.js';
import { createNativeCompressor } from '../layers/native-compress.js';

interface Candidate {
  name: string;
  format: 'gzip' | 'zstd';
  /** Set for references whose bytes are not deterministic (speed only). */
  reference?: true;
  /** Version/settings string, or undefined when the package is not installed. */
  describe(): string | undefined;
  create(): Promise<Transform>;
}

interface Result {
  name: string;
  describe: string;
  inBytes: number;
  outBytes: number;
  seconds: number;
  maxRssKiB: number;
  sha256: string;
}

const projectRequire = createRequire(import.meta.url);
let candidatesRequire: NodeJS.Require | undefined;

/** require() of an optional candidate: from the project, else from --candidates. */
function optional(name: string): { req: NodeJS.Require; version: string } | undefined {
  for (const req of [projectRequire, candidatesRequire]) {
    if (!req) continue;
    try {
      req.resolve(name);
      return { req, version: installedVersion(name, req) };
    } catch {
      /* not there */
    }
  }
  return undefined;
}

// ---- adapters for the candidates that Strata does not ship ------------------

class PakoLegacyHash extends BlockCompressor {
  private readonly d = new Deflate({ level: GZIP_LEVEL, gzip: true, legacyHash: true, chunkSize: 65536 });
  constructor() {
    super();
    this.d.onData = (c: Uint8Array) => this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  }
  protected compressBlock(b: Uint8Array): void {
    if (!this.d.push(b, false)) throw new Error(this.d.msg);
  }
  protected finish(b: Uint8Array): void {
    if (!this.d.push(b, true)) throw new Error(this.d.msg);
  }
}

interface FflateGzip {
  ondata: (data: Uint8Array, final: boolean) => void;
  push(chunk: Uint8Array, final?: boolean): void;
}

class FflateGzipCompressor extends BlockCompressor {
  private readonly g: FflateGzip;
  constructor(GzipClass: new (opts: object) => FflateGzip) {
    super();
    this.g = new GzipClass({ level: GZIP_LEVEL, mtime: 0 });
    this.g.ondata = (c) => {
      this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    };
  }
  protected compressBlock(b: Uint8Array): void {
    this.g.push(b, false); // copied into fflate's own window buffer
  }
  protected finish(b: Uint8Array): void {
    this.g.push(b, true);
  }
}

interface ZstdCodecStream {
  begin(level: number): boolean;
  transform(chunk: Uint8Array, cb: (out: Uint8Array) => void): boolean;
  end(cb: (out: Uint8Array) => void): boolean;
  delete(): void;
}

class ZstdCodecCompressor extends BlockCompressor {
  private readonly s: ZstdCodecStream;
  private readonly cb = (out: Uint8Array): void => {
    this.push(Buffer.from(out));
  };
  constructor(StreamClass: new () => ZstdCodecStream) {
    super();
    this.s = new StreamClass();
    if (!this.s.begin(ZSTD_LEVEL)) throw new Error('zstd-codec begin failed');
  }
  protected compressBlock(b: Uint8Array): void {
    if (!this.s.transform(b, this.cb)) throw new Error('zstd-codec transform failed');
  }
  protected finish(b: Uint8Array): void {
    if (b.length > 0) this.compressBlock(b);
    if (!this.s.end(this.cb)) throw new Error('zstd-codec end failed');
    this.s.delete();
  }
}

/** @hpcc-js/wasm-zstd through its public API (shared context, JS-array copy of output). */
class HpccPublicCompressor extends BlockCompressor {
  constructor(private readonly z: Zstd) {
    super();
    z.reset();
    z.setCompressionLevel(ZSTD_LEVEL);
  }
  protected compressBlock(b: Uint8Array): void {
    this.push(Buffer.from(this.z.compressChunk(b)));
  }
  protected finish(b: Uint8Array): void {
    if (b.length > 0) this.compressBlock(b);
    this.push(Buffer.from(this.z.compressEnd()));
  }
}

function loadZstdCodec(req: NodeJS.Require): Promise<new () => ZstdCodecStream> {
  const mod = req('zstd-codec/lib/module.js') as { run(f: (binding: { ZstdCompressStreamBinding: new () => ZstdCodecStream }) => void): void };
  return new Promise((resolve) => mod.run((binding) => resolve(binding.ZstdCompressStreamBinding)));
}

const candidates: Candidate[] = [
  {
    name: 'strata gzip',
    format: 'gzip',
    describe: () => compressorInfo('gzip').id,
    create: () => Promise.resolve(createCompressor('gzip')),
  },
  {
    name: 'strata gzip native',
    format: 'gzip',
    describe: () => `${compressorInfo('gzip').id}, written by node ${process.version} zlib ${process.versions.zlib}`,
    create: () => Promise.resolve(createNativeCompressor('gzip')),
  },
  {
    name: 'pako legacyHash',
    format: 'gzip',
    describe: () => `pako@${installedVersion('pako')} gzip level=${GZIP_LEVEL} legacyHash=true`,
    create: () => Promise.resolve(new PakoLegacyHash()),
  },
  {
    name: 'fflate',
    format: 'gzip',
    describe: () => {
      const o = optional('fflate');
      return o && `fflate@${o.version} gzip level=${GZIP_LEVEL}`;
    },
    create: () => {
      const { Gzip } = optional('fflate')!.req('fflate') as { Gzip: new (opts: object) => FflateGzip };
      return Promise.resolve(new FflateGzipCompressor(Gzip));
    },
  },
  {
    name: 'node zlib gzip',
    format: 'gzip',
    reference: true,
    describe: () => `node ${process.version} zlib ${process.versions.zlib} gzip level=${GZIP_LEVEL}`,
    create: () => Promise.resolve(zlib.createGzip({ level: GZIP_LEVEL })),
  },
  {
    name: 'strata zstd',
    format: 'zstd',
    describe: () => compressorInfo('zstd').id,
    create: () => Promise.resolve(createCompressor('zstd')),
  },
  {
    name: 'strata zstd native',
    format: 'zstd',
    describe: () =>
      typeof zlib.createZstdCompress === 'function'
        ? `${compressorInfo('zstd').id}, written by node ${process.version} zstd ${process.versions.zstd}`
        : undefined,
    create: () => Promise.resolve(createNativeCompressor('zstd')),
  },
  {
    name: 'hpcc public API',
    format: 'zstd',
    describe: () => `@hpcc-js/wasm-zstd@${installedVersion('@hpcc-js/wasm-zstd')} compressChunk() level=${ZSTD_LEVEL}`,
    create: async () => new HpccPublicCompressor(await Zstd.load()),
  },
  {
    name: 'zstd-codec',
    format: 'zstd',
    describe: () => {
      const o = optional('zstd-codec');
      return o && `zstd-codec@${o.version} ZstdCompressStreamBinding level=${ZSTD_LEVEL}`;
    },
    create: async () => new ZstdCodecCompressor(await loadZstdCodec(optional('zstd-codec')!.req)),
  },
  {
    name: 'node zlib zstd',
    format: 'zstd',
    reference: true,
    describe: () =>
      typeof zlib.createZstdCompress === 'function' ? `node ${process.version} libzstd ${process.versions.zstd ?? '?'} level=${ZSTD_LEVEL}` : undefined,
    create: () => Promise.resolve(zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } })),
  },
];

/** FILE, read again and again until at least minBytes have been produced. */
function input(file: string, minBytes: number): Readable {
  return Readable.from(
    (async function* () {
      let n = 0;
      do {
        for await (const chunk of createReadStream(file)) {
          n += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      } while (n < minBytes);
    })(),
    { objectMode: false },
  );
}

async function runOne(c: Candidate, file: string, minBytes: number): Promise<Result> {
  const describe = c.describe();
  if (describe === undefined) throw new Error(`${c.name}: not installed`);
  const compressor = await c.create();
  const hash = createHash('sha256');
  let inBytes = 0;
  let outBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, done: TransformCallback) {
      inBytes += chunk.length;
      done(null, chunk);
    },
  });
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      outBytes += chunk.length;
      hash.update(chunk);
      done();
    },
  });
  const t0 = process.hrtime.bigint();
  await pipeline(input(file, minBytes), counter, compressor, sink);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    name: c.name,
    describe,
    inBytes,
    outBytes,
    seconds,
    maxRssKiB: process.resourceUsage().maxRSS,
    sha256: hash.digest('hex'),
  };
}

function runChild(script: string, args: string[]): Promise<Result | string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return resolve(`exit ${code}`);
      try {
        resolve(JSON.parse(line) as Result | string);
      } catch {
        resolve(`bad output: ${line}`);
      }
    });
  });
}

function parseArgs(argv: string[]): { file: string; only?: string[]; minBytes: number; run?: string; candidatesDir?: string } {
  let file: string | undefined;
  let only: string[] | undefined;
  let minBytes = 0;
  let run: string | undefined;
  let candidatesDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--only')
      only = next()
        .split(',')
        .map((s) => s.trim());
    else if (a === '--min-bytes') minBytes = Number(next());
    else if (a === '--run') run = next();
    else if (a === '--candidates') candidatesDir = next();
    else if (!a.startsWith('--') && file === undefined) file = a;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!file) {
    throw new Error('usage: node dist/bench/compress.js FILE [--candidates DIR] [--only name,name] [--min-bytes N]');
  }
  return { file, only, minBytes, run, candidatesDir };
}

const mib = (n: number): string => (n / 1048576).toFixed(0);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.candidatesDir) candidatesRequire = createRequire(join(args.candidatesDir, 'noop.js'));

  if (args.run !== undefined) {
    const c = candidates.find((x) => x.name === args.run);
    if (!c) throw new Error(`no candidate ${args.run}`);
    process.stdout.write(`${JSON.stringify(await runOne(c, args.file, args.minBytes))}\n`);
    return;
  }

  const script = fileURLToPath(import.meta.url);
  const size = statSync(args.file).size;
  console.log(
    `node ${process.version} on ${process.arch}, input ${args.file} (${size} bytes)` + (args.minBytes > size ? `, repeated to >= ${args.minBytes} bytes` : ''),
  );
  const header = ['candidate', 'MB/s', 'ratio', 'out bytes', 'peak RSS MiB', 'sha256 (first 16)', 'implementation'];
  const rows: string[][] = [];
  for (const c of candidates) {
    if (args.only && !args.only.includes(c.name)) continue;
    if (c.describe() === undefined) {
      rows.push([c.name, '-', '-', '-', '-', '-', 'not installed, skipped']);
      continue;
    }
    const childArgs = [args.file, '--run', c.name, '--min-bytes', String(args.minBytes)];
    if (args.candidatesDir) childArgs.push('--candidates', args.candidatesDir);
    const r = await runChild(script, childArgs);
    if (typeof r === 'string') {
      rows.push([c.name, '-', '-', '-', '-', '-', `failed: ${r}`]);
      continue;
    }
    rows.push([
      c.name,
      (r.inBytes / 1e6 / r.seconds).toFixed(1),
      (r.inBytes / r.outBytes).toFixed(3),
      String(r.outBytes),
      mib(r.maxRssKiB * 1024),
      c.reference ? `(${r.sha256.slice(0, 16)})` : r.sha256.slice(0, 16),
      r.describe + (c.reference ? ' [reference: speed only]' : ''),
    ]);
    console.error(`done: ${c.name}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log('MB/s = input MB (1e6 bytes) per second; ratio = input bytes / compressed bytes.');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
