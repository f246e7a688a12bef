// Parsers for `nix path-info --json` and `nix build --json`, against real Nix
// 2.8 output captured on the dev machine and the newer formats documented in
// Nix's manual, release notes and tests (see test/fixtures/nix/SOURCES.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { decodeNixBase32, encodeNixBase32, normaliseHash, parseBuildJson, parsePathInfoJson, type StorePathInfo } from '../../nix/json.js';

// Tests run from their sources: the fixtures are beside this folder.
function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/nix/${name}`, import.meta.url), 'utf8');
}

// Values from the offline flake built with Nix 2.8 (SOURCES.md).
const HELLO = '/nix/store/5ny4hqagm20kmrisivssc3blx9z66af5-hello';
const HELLO_DRV = '/nix/store/1xhp1m3n2cfkb6szds7b9lkw2wn264z2-hello.drv';
const DEP = '/nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-dep';
const DEP_DRV = '/nix/store/8bdi7yr7knsfjnkra16mrp519i7icnx1-dep.drv';
const FILE = '/nix/store/6mflmd81wwq36afjsmk4vzil7lq4ixii-nixjson-file.txt';
const FOO = '/nix/store/nsf3hsiclg73rbp31clqsq4mnd8icj3p-foo';
const BAR = '/nix/store/5apr8lzyq1bzdpkymd0j966g9znb392k-bar';
const BAZ = '/nix/store/hwdwg0ib34hhjgsjs7swk2g6ci6a8cid-baz';

const helloInfo: StorePathInfo = {
  path: HELLO,
  narHash: 'sha256-2c5Ywdv/in2L7NFBoxyZdain/iVUYg5mneTvqAM1n7U=',
  narSize: 1983208,
  references: [DEP, HELLO],
};
const depInfo: StorePathInfo = {
  path: DEP,
  narHash: 'sha256-qYKxqEAiC5hc3NIARlL/u0uWzAO35ZyXDlEbU00UgG4=',
  narSize: 288,
  references: [],
};

// The store object of Nix's own unit-test data and manual examples.
const docFoo: StorePathInfo = {
  path: '/nix/store/n5wkd9frr45pa74if5gpz9j7mifg27fh-foo',
  narHash: 'sha256-FePFYIlMuycIXPZbWi7LGEiMmZSX9FMbaQenWBzm1Sc=',
  narSize: 34878,
  references: ['/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-bar', '/nix/store/n5wkd9frr45pa74if5gpz9j7mifg27fh-foo'],
};

describe('nix base-32', () => {
  // Pairs printed by `nix hash to-base32` / `to-base16` / `to-sri` (Nix 2.8) on
  // this machine, and by Nix's own test data (src/libutil-tests/data/hash/).
  const pairs: Array<{ hex: string; nix32: string; sri: string }> = [
    {
      hex: 'd9ce58c1dbff8a7d8becd141a31c9975a8a7fe2554620e669de4efa803359fb5',
      nix32: '1dcz6l1sivz4kmk0wqjl4pzaga3mk4fa6hfixj5pv2pzvg0miknr',
      sri: 'sha256-2c5Ywdv/in2L7NFBoxyZdain/iVUYg5mneTvqAM1n7U=',
    },
    {
      hex: 'a982b1a840220b985cdcd2004652ffbb4b96cc03b7e59c970e511b534d14806e',
      nix32: '0vl02i6m66si1sbrrrdp0g69cjxvzx94c06jvif9h2r282lb30m9',
      sri: 'sha256-qYKxqEAiC5hc3NIARlL/u0uWzAO35ZyXDlEbU00UgG4=',
    },
    {
      hex: '1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13',
      nix32: '04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw',
      sri: 'sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=',
    },
    {
      // sha256 of "hello\n"; the nix32 form is the `ca` Nix 2.8 printed for it
      hex: '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03',
      nix32: '00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq',
      sri: 'sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=',
    },
    {
      // src/libutil-tests/data/hash/sha256-{base16,nix32,base64}.json
      hex: 'f0e4c2f76c58916ec258f246851bea091d14d4247a2fc3e18694461b1816e13b',
      nix32: '0fz12qc1nillhvhw6bvs4ka18789x8dqaipjb316x4aqdkvw5r7h',
      sri: 'sha256-8OTC92xYkW7CWPJGhRvqCR0U1CR6L8PhhpRGGxgW4Ts=',
    },
  ];

  it('decodes and encodes real sha256 pairs', () => {
    for (const { hex, nix32, sri } of pairs) {
      const bytes = decodeNixBase32(nix32, 32);
      assert.equal(Buffer.from(bytes).toString('hex'), hex);
      assert.equal(encodeNixBase32(Buffer.from(hex, 'hex')), nix32);
      assert.equal(normaliseHash(`sha256:${nix32}`), sri);
      assert.equal(normaliseHash(`sha256:${hex}`), sri);
      // "sha256:<base64>", the spelling of rl-2.33.md for format 1
      assert.equal(normaliseHash(`sha256:${sri.slice('sha256-'.length)}`), sri);
      assert.equal(normaliseHash(sri), sri);
    }
  });

  it('handles the other digest sizes (md5, sha1, sha512 of "hello\\n")', () => {
    assert.equal(Buffer.from(decodeNixBase32('4425hx5d1mc9y39llj4k4nm55i', 16)).toString('hex'), 'b1946ac92492d2347c6235b4d2611184');
    assert.equal(normaliseHash('sha1:iwjz551fyw0cxcjgf4l6c879zabd6wpm'), 'sha1-9XLTlvrpIGYocU+yzgD3LpTyJY8=');
    assert.equal(normaliseHash('sha1:f572d396fae9206628714fb2ce00f72e94f2258f'), 'sha1-9XLTlvrpIGYocU+yzgD3LpTyJY8=');
    assert.equal(
      normaliseHash('sha512:0lrc0dwnvipqviibf7qfm1y492qvjwb1zhkcyi05cndmva1mr5gjcgrnz1x36djmk0sfg8djd2n0qv68vib2jg590mwznar9jcjphp7'),
      'sha512-58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ==',
    );
  });

  it('matches the manual and third-party pairs', () => {
    // doc/manual/source/protocols/binary-cache/narinfo.md vs the JSON test data's narHash
    assert.equal(normaliseHash('sha256:09ymwqf5i9q7d4dm7x4pjjcqqj0qrcp5lnznbh42gfsci5hcbqqm'), docFoo.narHash);
    // Nix's test data: ca "fixed:r:sha256:1lr187…" in v1, "sha256-EMIJ…" in v2
    assert.equal(normaliseHash('sha256:1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh'), 'sha256-EMIJ+giQ/gLIWoxmPKjno3zHZrxbGymgzGGyZvZBIdM=');
    // Mic92/niks3 client/nixstore_test.go
    assert.equal(normaliseHash('sha256:020ay2q1av2xs4n842rb3d7vz8qms1dcb87a5yd6azaci20x11lz'), 'sha256-n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=');
  });

  it('rejects malformed digests', () => {
    assert.throws(() => decodeNixBase32('e'.repeat(52), 32), /invalid character 'e'/);
    assert.throws(() => decodeNixBase32('0'.repeat(51), 32), /must be 52 characters/);
    // 52 digits carry 260 bits; the top 4 must be zero
    assert.throws(() => decodeNixBase32('z' + '0'.repeat(51), 32), /bits beyond/);
    assert.throws(() => normaliseHash('sha256:abc'), /wrong length/);
    assert.throws(() => normaliseHash('sha256-abc'), /base-64/);
    assert.throws(() => normaliseHash('sha1-2c5Ywdv/in2L7NFBoxyZdain/iVUYg5mneTvqAM1n7U='), /20/);
    assert.throws(() => normaliseHash('whirlpool:00'), /unknown hash algorithm/);
    assert.throws(() => normaliseHash('2c5Ywdv/in2L7NFBoxyZdain/iVUYg5mneTvqAM1n7U='), /algorithm prefix/);
    assert.throws(() => normaliseHash(42), /neither a string/);
  });

  it('normalises the structured {algorithm, format, hash} object', () => {
    const sri = 'sha256-8OTC92xYkW7CWPJGhRvqCR0U1CR6L8PhhpRGGxgW4Ts=';
    // the three files of src/libutil-tests/data/hash/
    assert.equal(normaliseHash({ algorithm: 'sha256', format: 'base16', hash: 'f0e4c2f76c58916ec258f246851bea091d14d4247a2fc3e18694461b1816e13b' }), sri);
    assert.equal(normaliseHash({ algorithm: 'sha256', format: 'nix32', hash: '0fz12qc1nillhvhw6bvs4ka18789x8dqaipjb316x4aqdkvw5r7h' }), sri);
    assert.equal(normaliseHash({ algorithm: 'sha256', format: 'base64', hash: '8OTC92xYkW7CWPJGhRvqCR0U1CR6L8PhhpRGGxgW4Ts=' }), sri);
    assert.throws(() => normaliseHash({ algorithm: 'sha256', format: 'rot13', hash: 'x' }), /unknown hash format/);
  });
});

describe('parsePathInfoJson: Nix 2.8 (captured)', () => {
  it('one path, with a self-reference', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.8.json')), [helloInfo]);
  });

  it('--recursive', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.8-recursive.json')), [depInfo, helloInfo]);
  });

  it('--closure-size, with a content-addressed path, sorted by path', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.8-closure-size.json')), [
      helloInfo,
      { path: FILE, narHash: 'sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=', narSize: 120, references: [] },
    ]);
  });

  it('"valid": false is an error naming the path', () => {
    assert.throws(
      () => parsePathInfoJson(fixture('path-info-2.8-invalid.json')),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(e.message, `nix path-info --json: not valid (not in the store): ${BAZ}`);
        return true;
      },
    );
  });

  it('Nix 2.3-style "sha256:<nix32>" narHash is normalised', () => {
    const text = fixture('path-info-2.8.json').replace(
      'sha256-2c5Ywdv/in2L7NFBoxyZdain/iVUYg5mneTvqAM1n7U=',
      'sha256:1dcz6l1sivz4kmk0wqjl4pzaga3mk4fa6hfixj5pv2pzvg0miknr',
    );
    assert.deepEqual(parsePathInfoJson(text), [helloInfo]);
  });

  it('empty and unordered input', () => {
    assert.deepEqual(parsePathInfoJson('[]\n'), []);
    const reversed = JSON.stringify(JSON.parse(fixture('path-info-2.8-recursive.json')).reverse());
    assert.deepEqual(parsePathInfoJson(reversed), [depInfo, helloInfo]);
  });
});

describe('parsePathInfoJson: Nix 2.19 – 2.32 (object keyed by path)', () => {
  it('--recursive', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.19-recursive.json')), [depInfo, helloInfo]);
  });

  it('null is an error naming the path', () => {
    assert.throws(() => parsePathInfoJson(fixture('path-info-2.19-invalid.json')), {
      message: `nix path-info --json: not valid (not in the store): ${BAZ}`,
    });
  });

  it('the valid entries of the same output (hashes as in tests/functional/path-info.sh)', () => {
    const map = JSON.parse(fixture('path-info-2.19-invalid.json')) as Record<string, unknown>;
    delete map[BAZ];
    assert.deepEqual(parsePathInfoJson(JSON.stringify(map)), [
      { path: BAR, narHash: 'sha256-9fhYGu9fqxcQC2Kc81qh2RMo1QcLBUBo8U+pPn+jthQ=', narSize: 120, references: [] },
      { path: FOO, narHash: 'sha256-QvtAMbUl/uvi+LCObmqOhvNOapHdA2raiI4xG5zI5pA=', narSize: 120, references: [] },
    ]);
    assert.deepEqual(parsePathInfoJson('{}'), []);
  });
});

describe('parsePathInfoJson: Nix 2.33+ (versioned)', () => {
  it('--json-format 1 (and plain --json): keyed by path, version 1 entries', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.33-format1.json')), [docFoo]);
  });

  it('--json-format 2: base names under "info", with storeDir', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.33-format2.json')), [docFoo]);
  });

  it('--json-format 3 (2.35): structured signatures', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-2.35-format3.json')), [docFoo]);
  });

  it('development versions: narHash as an {algorithm, format, hash} object', () => {
    assert.deepEqual(parsePathInfoJson(fixture('path-info-dev-hash-object.json')), [docFoo]);
  });

  it('null under "info" is an error naming the full path', () => {
    const doc = JSON.parse(fixture('path-info-2.33-format2.json')) as { info: Record<string, unknown> };
    doc.info['hwdwg0ib34hhjgsjs7swk2g6ci6a8cid-baz'] = null;
    assert.throws(() => parsePathInfoJson(JSON.stringify(doc)), {
      message: `nix path-info --json: not valid (not in the store): ${BAZ}`,
    });
  });

  it('another store directory', () => {
    const text = fixture('path-info-2.33-format2.json');
    assert.throws(() => parsePathInfoJson(text, '/gnu/store'), /store directory is \/nix\/store, expected \/gnu\/store/);
    const moved = text.replaceAll('/nix/store', '/opt/nix/store');
    assert.deepEqual(parsePathInfoJson(moved, '/opt/nix/store'), [
      {
        ...docFoo,
        path: '/opt/nix/store/n5wkd9frr45pa74if5gpz9j7mifg27fh-foo',
        references: ['/opt/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-bar', '/opt/nix/store/n5wkd9frr45pa74if5gpz9j7mifg27fh-foo'],
      },
    ]);
  });

  it('an unknown format version is refused', () => {
    const doc = JSON.parse(fixture('path-info-2.35-format3.json')) as { version: number };
    doc.version = 4;
    assert.throws(() => parsePathInfoJson(JSON.stringify(doc)), /unsupported path-info JSON format version 4/);
  });
});

describe('parsePathInfoJson: errors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /unexpected output: empty output/],
    ['not JSON', 'warning: foo', /unexpected output: not JSON/],
    ['a number', '42', /expected a JSON array or object/],
    ['missing narSize', `{"${HELLO}": {"narHash": "${helloInfo.narHash}", "references": []}}`, /5ny4hqagm20kmrisivssc3blx9z66af5-hello: narSize: /],
    ['bad narHash', `{"${HELLO}": {"narHash": "sha256:zz", "narSize": 1, "references": []}}`, /narHash: 'zz' has the wrong length/],
    ['sha512 narHash', `{"${HELLO}": {"narHash": "sha512:${'0'.repeat(103)}", "narSize": 1, "references": []}}`, /expected a sha256 hash/],
    ['not a store path', `{"/tmp/x": {"narHash": "${helloInfo.narHash}", "narSize": 1, "references": []}}`, /'\/tmp\/x' is not a store path in \/nix\/store/],
    [
      'bad reference',
      `{"${HELLO}": {"narHash": "${helloInfo.narHash}", "narSize": 1, "references": ["/usr/lib"]}}`,
      /references: '\/usr\/lib' is not a store path/,
    ],
    ['listed twice', fixture('path-info-2.8.json').replace(/^\[(.*)\]$/s, '[$1,$1]'), /listed twice/],
  ];
  for (const [name, text, pattern] of cases) {
    it(name, () => {
      assert.throws(
        () => parsePathInfoJson(text),
        (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.match(e.message, /^nix path-info --json: /);
          assert.match(e.message, pattern);
          assert.doesNotMatch(e.message, /\n/);
          return true;
        },
      );
    });
  }
});

describe('parseBuildJson', () => {
  it('Nix 2.8: one derivation', () => {
    assert.deepEqual(parseBuildJson(fixture('build-2.8.json')), [{ drvPath: HELLO_DRV, outputs: { out: HELLO } }]);
  });

  it('Nix 2.8: two installables, in order', () => {
    assert.deepEqual(parseBuildJson(fixture('build-2.8-two.json')), [
      { drvPath: DEP_DRV, outputs: { out: DEP } },
      { drvPath: HELLO_DRV, outputs: { out: HELLO } },
    ]);
  });

  it('Nix 2.8: a store-path installable is {"path"}', () => {
    assert.deepEqual(parseBuildJson(fixture('build-2.8-store-path.json')), [{ outputs: { out: HELLO } }]);
  });

  it('Nix 2.18+: a store-path installable is a bare string', () => {
    assert.deepEqual(parseBuildJson(fixture('build-2.18-store-path.json')), [{ outputs: { out: HELLO } }]);
  });

  it('Nix 2.12+: build statistics are ignored', () => {
    assert.deepEqual(parseBuildJson(fixture('build-2.12-stats.json')), [
      {
        drvPath: '/nix/store/xzdqz67xba18hljhycp0hwfigzrs2z69-foo.drv',
        outputs: { out: '/nix/store/rh9mc9l2gkpq8kn2sgzndr6ll7ffjh6l-foo' },
      },
    ]);
  });

  it('several outputs, names sorted', () => {
    const text = JSON.stringify([{ drvPath: HELLO_DRV, outputs: { out: HELLO, dev: DEP } }]);
    const [result] = parseBuildJson(text);
    assert.deepEqual(Object.keys(result?.outputs ?? {}), ['dev', 'out']);
  });

  it('a derivation built by a derivation (drvPath object)', () => {
    const text = JSON.stringify([{ drvPath: { drvPath: DEP_DRV, output: 'out', outputPath: HELLO_DRV }, outputs: { out: HELLO } }]);
    assert.deepEqual(parseBuildJson(text), [{ drvPath: HELLO_DRV, outputs: { out: HELLO } }]);
  });

  const cases: Array<[string, string, RegExp]> = [
    ['empty', ' \n', /empty output/],
    ['an object', '{}', /expected a JSON array/],
    ['a number item', '[1]', /\[0\]/],
    ['null output path', JSON.stringify([{ drvPath: HELLO_DRV, outputs: { out: null } }]), /output 'out' of .*hello\.drv has no path/],
    ['no outputs', JSON.stringify([{ drvPath: HELLO_DRV, outputs: {} }]), /has no outputs/],
    ['drvPath not a .drv', JSON.stringify([{ drvPath: HELLO, outputs: { out: HELLO } }]), /is not a \.drv/],
    ['output not a store path', JSON.stringify([{ drvPath: HELLO_DRV, outputs: { out: '/tmp/x' } }]), /outputs\.out: '\/tmp\/x' is not a store path/],
  ];
  for (const [name, text, pattern] of cases) {
    it(`error: ${name}`, () => {
      assert.throws(
        () => parseBuildJson(text),
        (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.match(e.message, /^nix build --json: unexpected output: /);
          assert.match(e.message, pattern);
          return true;
        },
      );
    });
  }
});
