// Canonical JSON: the bytes of configs and manifests, and so their digests.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { canonicalJson } from '../../base/canonical.js';

describe('canonicalJson', () => {
  it('sorts keys and writes no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: 2, c: [3, 4] }), '{"a":2,"b":1,"c":[3,4]}');
  });
  it('sorts at every depth, inside arrays too', () => {
    const v = { z: { y: { b: 1, a: 2 }, x: [{ d: 1, c: 2 }, [{ f: 1, e: 2 }]] }, a: null };
    assert.equal(canonicalJson(v), '{"a":null,"z":{"x":[{"c":2,"d":1},[{"e":2,"f":1}]],"y":{"a":2,"b":1}}}');
  });
  it('sorts bytewise: uppercase before lowercase, UTF-8 order rather than UTF-16', () => {
    // U+FFFD is EF BF BD in UTF-8 and U+1F600 is F0 9F 98 80: bytewise U+FFFD comes first,
    // although in UTF-16 units (0xFFFD vs 0xD83D) it would come last.
    const v = { '\u{1F600}': 1, '\uFFFD': 2, b: 3, B: 4, 'a-b': 5, a_b: 6, é: 7 };
    assert.equal(canonicalJson(v), '{"B":4,"a-b":5,"a_b":6,"b":3,"é":7,"\uFFFD":2,"\u{1F600}":1}');
    // JS's default sort would put the emoji before U+FFFD.
    assert.deepEqual(Object.keys(v).sort().slice(-2), ['\u{1F600}', '\uFFFD']);
  });
  it('sorts prefix keys before their extensions', () => {
    assert.equal(canonicalJson({ ab: 1, a: 2, 'a.b': 3 }), '{"a":2,"a.b":3,"ab":1}');
  });
  it('drops undefined members at every depth, keeps null', () => {
    assert.equal(canonicalJson({ a: undefined, b: null, c: { d: undefined, e: 1 } }), '{"b":null,"c":{"e":1}}');
  });
  it('keeps array order and scalars as JSON does', () => {
    assert.equal(canonicalJson([3, 1, 2]), '[3,1,2]');
    assert.equal(canonicalJson('x"y'), '"x\\"y"');
    assert.equal(canonicalJson(2), '2');
    assert.equal(canonicalJson(true), 'true');
    assert.equal(canonicalJson(null), 'null');
    assert.equal(canonicalJson({}), '{}');
  });
  it('depends only on the value, not on insertion order', () => {
    const a = { x: 1, y: { p: 1, q: 2 } };
    const b = { y: { q: 2, p: 1 }, x: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
  });
  it('does not change its input', () => {
    const v = { b: 1, a: { d: 1, c: 2 } };
    canonicalJson(v);
    assert.deepEqual(Object.keys(v), ['b', 'a']);
    assert.deepEqual(Object.keys(v.a), ['d', 'c']);
  });
  it('sorts integer-like keys bytewise too', () => {
    assert.equal(canonicalJson({ '9': 1, '10': 2, a: 3 }), '{"10":2,"9":1,"a":3}');
  });
});
