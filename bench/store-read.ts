// Reading store paths for layers: from the filesystem (Strata's walk, which
// serialises a NAR on the way to check the NAR hash) versus `nix-store --dump`
// hashed only, a lower bound for any reader that would parse the NAR into tar
// entries (a NAR reader did, 1.4x faster than the walk on one large path and
// slower over closures; removed, see docs/benchmarks/store-read.md). Side by
// side, alternating, in one run.
//   node dist/bench/store-read.js [STORE_PATH…]   (default: adds /usr/lib/python3.11
//   and /usr/lib/x86_64-linux-gnu to the store first)
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { walkStorePath } from '../layers/store-walk.js';
import { tarStream } from '../layers/tar.js';
import { parsePathInfoJson } from '../nix/json.js';

const ROUNDS = 3;

function sink(): { stream: Writable; bytes: () => number } {
  let n = 0;
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        n += chunk.length;
        cb();
      },
    }),
    bytes: () => n,
  };
}

async function viaFilesystem(path: string, narHash: string): Promise<number> {
  const s = sink();
  await pipeline(tarStream(walkStorePath({ path, narHash }), { mtime: 0 }), s.stream);
  return s.bytes();
}

async function viaNarDump(path: string, narHash: string): Promise<number> {
  const child = spawn('nix-store', ['--dump', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const h = createHash('sha256');
  let n = 0;
  for await (const chunk of child.stdout) {
    h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  if (`sha256-${h.digest('base64')}` !== narHash) throw new Error(`NAR hash mismatch for ${path}`);
  return n;
}

async function time(fn: () => Promise<number>): Promise<{ ms: number; bytes: number }> {
  const t = process.hrtime.bigint();
  const bytes = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, bytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  let paths = process.argv.slice(2);
  if (paths.length === 0) {
    paths = ['/usr/lib/python3.11', '/usr/lib/x86_64-linux-gnu'].map((p) => spawnSync('nix-store', ['--add', p], { encoding: 'utf8' }).stdout.trim());
  }
  const infos = parsePathInfoJson(
    spawnSync('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '--json', ...paths], { encoding: 'utf8' }).stdout,
  );
  console.log(`| store path | NAR size | files (fs walk) | fs walk + NAR check + tar, MB/s | nix-store --dump + sha256, MB/s | ratio fs/dump |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const info of infos) {
    let files = 0;
    for await (const e of walkStorePath(info)) if (e.type === 'file') files++;
    const fs: number[] = [];
    const dump: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      fs.push((await time(() => viaFilesystem(info.path, info.narHash))).ms);
      dump.push((await time(() => viaNarDump(info.path, info.narHash))).ms);
    }
    const mb = info.narSize / 1e6;
    const fsRate = mb / (median(fs) / 1000);
    const dumpRate = mb / (median(dump) / 1000);
    console.log(
      `| ${info.path.slice(44)} | ${mb.toFixed(0)} MB | ${files} | ${fsRate.toFixed(0)} | ${dumpRate.toFixed(0)} | ${(fsRate / dumpRate).toFixed(2)} |`,
    );
  }
}

await main();
