// Closure → layer groups: dependency order, the --max-layers merge, explicit groups.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StrataError } from '../../src/errors.js';
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
  it('gives each path its own layer, in dependency order, when there is room', () => {
    assert.deepEqual(groupPaths(planLayers(CLOSURE, { maxLayers: 100 })), [[DATA], [GLIBC], [TOOL], [LIBA], [LIBB], [APP]]);
    assert.deepEqual(groupPaths(planLayers(CLOSURE, { maxLayers: 6 })), [[DATA], [GLIBC], [TOOL], [LIBA], [LIBB], [APP]]);
  });
  it('merges what does not fit into the last layer', () => {
    assert.deepEqual(groupPaths(planLayers(CLOSURE, { maxLayers: 5 })), [[DATA], [GLIBC], [TOOL], [LIBA], [LIBB, APP]]);
    assert.deepEqual(groupPaths(planLayers(CLOSURE, { maxLayers: 3 })), [[DATA], [GLIBC], [TOOL, LIBA, LIBB, APP]]);
    assert.deepEqual(groupPaths(planLayers(CLOSURE, { maxLayers: 1 })), [[DATA, GLIBC, TOOL, LIBA, LIBB, APP]]);
  });
  it('refuses no layers at all', () => {
    assert.throws(() => planLayers(CLOSURE, { maxLayers: 0 }), (e: unknown) => e instanceof StrataError && e.code === 'usage');
  });
  it('an explicit group takes its closure', () => {
    const plan = groupPaths(planLayers(CLOSURE, { maxLayers: 100, explicit: [[LIBA]] }));
    assert.deepEqual(plan, [[GLIBC, LIBA], [DATA], [TOOL], [LIBB], [APP]]);
  });
  it('a higher group takes its closure less what lower groups hold', () => {
    const plan = groupPaths(planLayers(CLOSURE, { maxLayers: 100, explicit: [[LIBA], [APP]] }));
    assert.deepEqual(plan, [[GLIBC, LIBA], [LIBB, APP], [DATA], [TOOL]]);
  });
  it('a group whose closure lower groups already hold is dropped', () => {
    const plan = groupPaths(planLayers(CLOSURE, { maxLayers: 100, explicit: [[APP], [LIBA]] }));
    assert.deepEqual(plan, [[GLIBC, LIBA, LIBB, APP], [DATA], [TOOL]]);
  });
  it('explicit groups count against maxLayers too', () => {
    const plan = groupPaths(planLayers(CLOSURE, { maxLayers: 2, explicit: [[LIBA]] }));
    assert.deepEqual(plan, [[GLIBC, LIBA], [DATA, TOOL, LIBB, APP]]);
  });
  it('every path lands in exactly one layer', () => {
    for (const maxLayers of [1, 2, 4, 100]) {
      for (const explicit of [[], [[TOOL]], [[APP], [DATA]]]) {
        const all = groupPaths(planLayers(CLOSURE, { maxLayers, explicit })).flat();
        assert.equal(all.length, CLOSURE.length);
        assert.deepEqual([...all].sort(), paths(CLOSURE).sort());
      }
    }
  });
  it('refuses an explicit path outside the closure', () => {
    const gone = P('q', 'gone');
    assert.throws(
      () => planLayers(CLOSURE, { maxLayers: 100, explicit: [[gone]] }),
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
      assert.throws(() => validateMaxLayers(n), (e: unknown) => e instanceof StrataError && e.code === 'usage', String(n));
    }
    assert.throws(() => validateMaxLayers(128), /127/);
  });
});
