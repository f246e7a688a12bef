// Closure → layer groups: dependency order, the --max-layers merge, explicit groups.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { DEFAULT_MAX_LAYERS, MAX_LAYERS_LIMIT, planLayers, topologicalOrder, validateMaxLayers } from '../../layers/plan.js';
import type { StorePathInfo } from '../../nix/json.js';

// Hash parts chosen so that bytewise path order differs from dependency order.
const P = (hashChar: string, name: string) => `/nix/store/${hashChar.repeat(32)}-${name}`;
const GLIBC = P('z', 'glibc');
const LIBA = P('a', 'liba');
const LIBB = P('b', 'libb');
const APP = P('0', 'app');
const TOOL = P('1', 'tool');
const DATA = P('9', 'data');

function info(path: string, references: string[] = []): StorePathInfo {
  return { path, narHash: `sha256-${Buffer.alloc(32).toString('base64')}`, narSize: 0, references: [...references].sort() };
}

// app → liba → glibc, app → libb → glibc, tool → glibc, data (no references); every path refers to itself too.
const CLOSURE: StorePathInfo[] = [
  info(APP, [APP, LIBA, LIBB]),
  info(LIBA, [GLIBC, LIBA]),
  info(LIBB, [GLIBC]),
  info(GLIBC, [GLIBC]),
  info(TOOL, [GLIBC, TOOL]),
  info(DATA),
];

const paths = (infos: StorePathInfo[]) => infos.map((i) => i.path);
const groupPaths = (gs: { paths: StorePathInfo[] }[]) => gs.map((g) => paths(g.paths));

describe('topologicalOrder', () => {
  it('puts dependencies first, ties broken by path', () => {
    // Ready at the start: data (9…) and glibc (z…), so data first. Placing glibc readies liba (a…),
    // libb (b…) and tool (1…), taken by path: tool, liba, libb. App (0…) waits for both libs.
    assert.deepEqual(paths(topologicalOrder(CLOSURE)), [DATA, GLIBC, TOOL, LIBA, LIBB, APP]);
  });
  it('is a function of the graph, not of the input order', () => {
    const reversed = [...CLOSURE].reverse();
    assert.deepEqual(paths(topologicalOrder(reversed)), paths(topologicalOrder(CLOSURE)));
    const shuffled = [CLOSURE[3]!, CLOSURE[0]!, CLOSURE[5]!, CLOSURE[2]!, CLOSURE[4]!, CLOSURE[1]!];
    assert.deepEqual(paths(topologicalOrder(shuffled)), paths(topologicalOrder(CLOSURE)));
  });
  it('places every path after all of its references', () => {
    const order = paths(topologicalOrder(CLOSURE));
    for (const i of CLOSURE) for (const r of i.references) if (r !== i.path) assert.ok(order.indexOf(r) < order.indexOf(i.path), `${r} before ${i.path}`);
  });
  it('ignores references outside the closure', () => {
    assert.deepEqual(paths(topologicalOrder([info(APP, [P('q', 'gone')])])), [APP]);
  });
  it('refuses a reference cycle', () => {
    assert.throws(
      () => topologicalOrder([info(LIBA, [LIBB]), info(LIBB, [LIBA]), info(GLIBC)]),
      (e: unknown) => e instanceof StrataError && e.code === 'nix-output' && /cycle/.test(e.message),
    );
  });
  it('handles an empty closure', () => {
    assert.deepEqual(topologicalOrder([]), []);
  });
});

describe('planLayers', () => {
  const stable = (maxLayers: number, explicit: string[][] = []) => groupPaths(planLayers(CLOSURE, { maxLayers, strategy: 'stable', roots: [APP], explicit }));
  it('gives each path its own layer, dependencies first (by height, then path), when there is room', () => {
    // Heights: data 0, glibc 0; tool, liba, libb 1; app 2.
    assert.deepEqual(stable(100), [[DATA], [GLIBC], [TOOL], [LIBA], [LIBB], [APP]]);
    assert.deepEqual(stable(6), [[DATA], [GLIBC], [TOOL], [LIBA], [LIBB], [APP]]);
  });
  it('merges small paths by tier when there is not: base and volatile apart, the root alone', () => {
    // liba and libb are used only by the root app: volatile. glibc is shared with tool: base.
    assert.deepEqual(stable(4), [[DATA, GLIBC], [TOOL], [LIBA, LIBB], [APP]]);
  });
  it('gives a layer to spare to the most depended-on small base path', () => {
    // glibc is in the closure of 5 paths; data, tool 1 each.
    assert.deepEqual(stable(5), [[DATA], [GLIBC], [TOOL], [LIBA, LIBB], [APP]]);
  });
  it('merges adjacent layers as a last resort', () => {
    assert.deepEqual(stable(3), [[DATA, GLIBC, TOOL], [LIBA, LIBB], [APP]]);
    assert.deepEqual(stable(1), [[DATA, GLIBC, TOOL, LIBA, LIBB, APP]]);
  });
  it('popularity: the most depended-on paths alone, the rest in one catch-all on top', () => {
    // Closure membership counts: glibc 5 (itself, liba, libb, tool, app), liba 2, libb 2, then 1 each.
    const pop = (maxLayers: number) => groupPaths(planLayers(CLOSURE, { maxLayers, strategy: 'popularity', roots: [APP] }));
    assert.deepEqual(pop(100), [[GLIBC], [LIBA], [LIBB], [APP], [TOOL], [DATA]]);
    assert.deepEqual(pop(3), [[GLIBC], [LIBA], [LIBB, APP, TOOL, DATA]]);
  });
  it('refuses no layers at all', () => {
    assert.throws(
      () => planLayers(CLOSURE, { maxLayers: 0, strategy: 'stable', roots: [] }),
      (e: unknown) => e instanceof StrataError && e.code === 'usage',
    );
  });
  it('an explicit group takes its closure; the strategy plans the rest', () => {
    // Without glibc and liba, tool and libb have height 0 among the rest.
    assert.deepEqual(stable(100, [[LIBA]]), [[GLIBC, LIBA], [TOOL], [DATA], [LIBB], [APP]]);
  });
  it('a higher group takes its closure less what lower groups hold', () => {
    assert.deepEqual(stable(100, [[LIBA], [APP]]), [[GLIBC, LIBA], [LIBB, APP], [TOOL], [DATA]]);
  });
  it('a group whose closure lower groups already hold is dropped', () => {
    assert.deepEqual(stable(100, [[APP], [LIBA]]), [[GLIBC, LIBA, LIBB, APP], [TOOL], [DATA]]);
  });
  it('explicit groups count against maxLayers too', () => {
    assert.deepEqual(stable(2, [[LIBA]]), [
      [GLIBC, LIBA],
      [TOOL, DATA, LIBB, APP],
    ]);
    assert.throws(
      () => stable(1, [[LIBA]]),
      (e: unknown) => e instanceof StrataError && e.code === 'description',
    );
  });
  it('every path lands in exactly one layer', () => {
    for (const strategy of ['stable', 'popularity'] as const) {
      for (const maxLayers of [3, 4, 100]) {
        for (const explicit of [[], [[TOOL]], [[APP], [DATA]]]) {
          const all = groupPaths(planLayers(CLOSURE, { maxLayers, strategy, roots: [APP], explicit })).flat();
          assert.deepEqual([...all].sort(), paths(CLOSURE).sort());
        }
      }
    }
  });
  it('refuses an explicit path outside the closure', () => {
    const gone = P('q', 'gone');
    assert.throws(
      () => planLayers(CLOSURE, { maxLayers: 100, strategy: 'stable', roots: [APP], explicit: [[gone]] }),
      (e: unknown) => e instanceof StrataError && e.code === 'description' && e.message.includes(gone),
    );
  });
});

describe('validateMaxLayers', () => {
  it('accepts 1 to 127', () => {
    assert.equal(validateMaxLayers(1), 1);
    assert.equal(validateMaxLayers(127), 127);
    assert.equal(validateMaxLayers(DEFAULT_MAX_LAYERS), DEFAULT_MAX_LAYERS);
    assert.equal(MAX_LAYERS_LIMIT, 127);
  });
  it('refuses 0, negatives, fractions, NaN and more than 127', () => {
    for (const n of [0, -1, 1.5, Number.NaN, 128, 1000, Infinity]) {
      assert.throws(
        () => validateMaxLayers(n),
        (e: unknown) => e instanceof StrataError && e.code === 'usage',
        String(n),
      );
    }
    assert.throws(() => validateMaxLayers(128), /127/);
  });
});
