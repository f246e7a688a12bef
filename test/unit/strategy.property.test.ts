// Property tests of the layering invariants, on random closure graphs shaped like
// real ones (many tiny paths, a few huge ones), for both strategies.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { planLayers, type LayerGroup } from '../../layers/plan.js';
import type { Strategy } from '../../layers/strategy.js';
import type { StorePathInfo } from '../../nix/json.js';

const HASH_CHARS = '0123456789abcdfghijklmnpqrsvwxyz';

interface Case {
  closure: StorePathInfo[];
  roots: string[];
  maxLayers: number;
}

/** A DAG: node i may refer to nodes j < i; sizes log-uniform from bytes to hundreds of MB. */
const closureCase: fc.Arbitrary<Case> = fc
  .integer({ min: 1, max: 160 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 4 }),
      sizes: fc.array(fc.double({ min: 4, max: 28, noNaN: true }), { minLength: n, maxLength: n }),
      hashes: fc.array(fc.string({ unit: fc.constantFrom(...HASH_CHARS), minLength: 32, maxLength: 32 }), { minLength: n, maxLength: n }),
      rootCount: fc.integer({ min: 1, max: 3 }),
      maxLayers: fc.integer({ min: 1, max: 127 }),
    }),
  )
  .map(({ n, edges, sizes, hashes, rootCount, maxLayers }) => {
    const paths = hashes.map((h, i) => `/nix/store/${h}-p${i}`);
    const refs = paths.map((p) => new Set([p]));
    for (const [a, b] of edges) if (a !== b) refs[Math.max(a, b)]!.add(paths[Math.min(a, b)]!);
    const closure = paths.map((path, i) => ({
      path,
      narHash: `sha256-${Buffer.alloc(32, i).toString('base64')}`,
      narSize: Math.round(2 ** sizes[i]!),
      references: [...refs[i]!].sort(),
    }));
    const roots = paths.slice(Math.max(0, n - rootCount));
    return { closure, roots, maxLayers };
  });

const plan = (c: Case, strategy: Strategy, closure = c.closure): LayerGroup[] => planLayers(closure, { maxLayers: c.maxLayers, strategy, roots: c.roots });
const names = (gs: LayerGroup[]) => gs.map((g) => g.paths.map((p) => p.path));

for (const strategy of ['stable', 'popularity'] as const) {
  describe(`${strategy} layering invariants`, () => {
    it('puts every path in exactly one layer, within the layer limit', () => {
      fc.assert(
        fc.property(closureCase, (c) => {
          const gs = plan(c, strategy);
          assert.ok(gs.length <= c.maxLayers, `${gs.length} layers > ${c.maxLayers}`);
          assert.ok(
            gs.every((g) => g.paths.length > 0),
            'no empty layer',
          );
          const all = gs.flatMap((g) => g.paths.map((p) => p.path));
          assert.equal(all.length, c.closure.length);
          assert.deepEqual([...all].sort(), c.closure.map((p) => p.path).sort());
        }),
        { numRuns: 300 },
      );
    });

    it('keeps dependency order: no path sits below a path it refers to', () => {
      fc.assert(
        fc.property(closureCase, (c) => {
          const layerOf = new Map<string, number>();
          plan(c, strategy).forEach((g, i) => g.paths.forEach((p) => layerOf.set(p.path, i)));
          for (const p of c.closure) for (const r of p.references) assert.ok(layerOf.get(r)! <= layerOf.get(p.path)!, `${r} above ${p.path}`);
        }),
        { numRuns: 300 },
      );
    });

    it('is a function of the graph: shuffled input gives the same plan', () => {
      fc.assert(
        fc.property(closureCase, fc.integer(), (c, seed) => {
          const rnd = mulberry32(seed);
          const shuffled = shuffle(c.closure, rnd).map((p) => ({ ...p, references: shuffle(p.references, rnd) }));
          assert.deepEqual(names(plan(c, strategy, shuffled)), names(plan(c, strategy)));
        }),
        { numRuns: 200 },
      );
    });

    it('gives every path its own layer when they all fit', () => {
      fc.assert(
        fc.property(closureCase, (c) => {
          fc.pre(c.closure.length <= c.maxLayers);
          assert.ok(plan(c, strategy).every((g) => g.paths.length === 1));
        }),
        { numRuns: 200 },
      );
    });
  });
}

describe('stable layering', () => {
  it('keeps the image roots in layers of their own when at least the roots and one more layer fit', () => {
    fc.assert(
      fc.property(closureCase, (c) => {
        // The fallback merge of adjacent layers applies only when tiers alone exceed the limit.
        fc.pre(c.maxLayers >= 64);
        const roots = new Set(c.roots);
        for (const g of plan(c, 'stable')) if (g.paths.some((p) => roots.has(p.path))) assert.equal(g.paths.length, 1);
      }),
      { numRuns: 300 },
    );
  });

  it('merges tiny paths and leaves large ones alone', () => {
    // 300 tiny libraries (1 KiB), each used by one of three large ones (100 MB), one app on top; 20 layers.
    const P = (i: number, name: string) =>
      `/nix/store/${HASH_CHARS[i % 32]!.repeat(16)}${String(i)
        .padStart(16, '0')
        .replace(/[^0-9]/g, '0')
        .split('')
        .map((d) => HASH_CHARS[Number(d)])
        .join('')}-${name}`;
    const tiny = Array.from({ length: 300 }, (_, i) => ({ path: P(i, `tiny${i}`), narHash: 'sha256-x', narSize: 1024, references: [] as string[] }));
    const large = [0, 1, 2].map((i) => ({
      path: P(1000 + i, `large${i}`),
      narHash: 'sha256-y',
      narSize: 100e6,
      references: tiny.slice(i * 100, i * 100 + 100).map((t) => t.path),
    }));
    const app = { path: P(2000, 'app'), narHash: 'sha256-z', narSize: 5000, references: large.map((l) => l.path) };
    const gs = planLayers([...tiny, ...large, app], { maxLayers: 20, strategy: 'stable', roots: [app.path] });
    assert.ok(gs.length <= 20);
    for (const l of [...large, app]) {
      const g = gs.find((x) => x.paths.some((p) => p.path === l.path))!;
      assert.equal(g.paths.filter((p) => p.narSize >= 5000).length, 1, `${l.path} shares its layer with another large path or the app`);
    }
    // Each tiny library is used by one large path only, so it joins that path's layer.
    for (const g of gs) if (g.paths.some((p) => p.narSize === 1024)) assert.ok(g.paths.length > 1, 'a tiny path alone');
    assert.equal(gs.length, 4);
  });
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
