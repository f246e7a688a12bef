// WWW-Authenticate parsing (RFC 7235) for the header forms registries send,
// and token scopes.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { StrataError } from '../../base/errors.js';
import { parseWwwAuthenticate, scopeFor } from '../../registry/challenge.js';

describe('parseWwwAuthenticate: what registries send', () => {
  it('Docker Hub', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io' } },
    ]);
  });
  it('GHCR, with a scope', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:user/image:pull' } },
    ]);
  });
  it('distribution: a comma inside a quoted scope, and an error', () => {
    assert.deepEqual(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:samalba/my-app:pull,push",error="insufficient_scope"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example.com/token',
            service: 'registry.example.com',
            scope: 'repository:samalba/my-app:pull,push',
            error: 'insufficient_scope',
          },
        },
      ],
    );
  });
  it('distribution with htpasswd: Basic', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  });
  it('spaces after commas and around "=", unquoted values (even ones that are not tokens)', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm = "https://r/token" ,  service=r.example.com,scope=repository:a/b:pull'), [
      { scheme: 'bearer', params: { realm: 'https://r/token', service: 'r.example.com', scope: 'repository:a/b:pull' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm=https://r/token?x=1,service=s'), [
      { scheme: 'bearer', params: { realm: 'https://r/token?x=1', service: 's' } },
    ]);
  });
  it('a scheme alone', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer'), [{ scheme: 'bearer', params: {} }]);
    assert.deepEqual(parseWwwAuthenticate('  Negotiate  '), [{ scheme: 'negotiate', params: {} }]);
  });
  it('nothing', () => {
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate(' , ,'), []);
  });
});

describe('parseWwwAuthenticate: RFC 7235', () => {
  it('several challenges in one header (or headers joined with ", ")', () => {
    assert.deepEqual(parseWwwAuthenticate('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'), [
      { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'basic', params: { realm: 'simple' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Basic realm="a", Bearer realm="https://t",service="s"'), [
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'https://t', service: 's' } },
    ]);
  });
  it('a scheme without parameters between others', () => {
    assert.deepEqual(parseWwwAuthenticate('Negotiate, Basic realm="x", Bearer'), [
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: {} },
    ]);
  });
  it('token68', () => {
    assert.deepEqual(parseWwwAuthenticate('Negotiate YIIB/wYJKoZIhvcSAQICAQBuggHs+A==, Basic realm="x"'), [
      { scheme: 'negotiate', params: {}, token68: 'YIIB/wYJKoZIhvcSAQICAQBuggHs+A==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate('Custom abc'), [{ scheme: 'custom', params: {}, token68: 'abc' }]);
  });
  it('scheme and parameter names are case-insensitive (lower-cased); values are not', () => {
    assert.deepEqual(parseWwwAuthenticate('BEARER Realm="https://Auth/Token",SERVICE="Reg"'), [
      { scheme: 'bearer', params: { realm: 'https://Auth/Token', service: 'Reg' } },
    ]);
  });
  it('escapes in quoted strings: \\" and \\\\ and any escaped character', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="a \\"b\\" c\\\\d\\e"'), [{ scheme: 'basic', params: { realm: 'a "b" c\\de' } }]);
  });
  it('commas, equals signs and spaces inside quotes do not split', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://t/?a=1,b=2", scope="x, Basic realm=y"'), [
      { scheme: 'bearer', params: { realm: 'https://t/?a=1,b=2', scope: 'x, Basic realm=y' } },
    ]);
  });
  it('an empty quoted value', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="",service="s"'), [{ scheme: 'bearer', params: { realm: '', service: 's' } }]);
  });
  it('the first of a repeated parameter wins', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="one", realm="two"'), [{ scheme: 'bearer', params: { realm: 'one' } }]);
  });
  it('malformed input: what can be read is kept, nothing throws', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://t'), [{ scheme: 'bearer', params: { realm: 'https://t' } }]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm=a b, service="s"'), [{ scheme: 'bearer', params: { realm: 'a', service: 's' } }]);
    assert.deepEqual(parseWwwAuthenticate('"junk", Basic realm="x"'), [{ scheme: 'basic', params: { realm: 'x' } }]);
    assert.deepEqual(parseWwwAuthenticate('Basic;x, Bearer realm="r"'), [
      { scheme: 'basic', params: {} },
      { scheme: 'bearer', params: { realm: 'r' } },
    ]);
  });
});

describe('parseWwwAuthenticate: properties', () => {
  const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
  const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 8 });
  const value = fc.string({ unit: fc.constantFrom(...' ,=;:/"\\abcXYZ019\t'), maxLength: 12 });
  const challenge = fc.record({
    scheme: token,
    params: fc.uniqueArray(fc.tuple(token, value), { selector: ([k]) => k, maxLength: 4 }),
    sep: fc.constantFrom(',', ', ', ' , ', ',\t'),
    upper: fc.boolean(),
  });
  const quote = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;

  it('round-trips any list of challenges with quoted parameters', () => {
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 4 }), (cs) => {
        const header = cs
          .map((c) => {
            const scheme = c.upper ? c.scheme.toUpperCase() : c.scheme;
            const params = c.params.map(([k, v]) => `${c.upper ? k.toUpperCase() : k}=${quote(v)}`).join(c.sep);
            return params ? `${scheme} ${params}` : scheme;
          })
          .join(', ');
        const expected = cs.map((c) => ({ scheme: c.scheme, params: Object.fromEntries(c.params) }));
        assert.deepEqual(parseWwwAuthenticate(header), expected, header);
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws and always ends, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...' ,="\\\tab=/+~Bearer'), maxLength: 40 }), (h) => {
        for (const c of parseWwwAuthenticate(h)) assert.match(c.scheme, /^[a-z0-9!#$%&'*+\-.^_`|~]+$/);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('scopeFor', () => {
  it('repository:NAME:ACTIONS', () => {
    assert.equal(scopeFor('library/alpine', ['pull']), 'repository:library/alpine:pull');
    assert.equal(scopeFor('org/team/app', ['pull', 'push']), 'repository:org/team/app:pull,push');
    assert.equal(scopeFor('a', ['delete']), 'repository:a:delete');
    assert.equal(scopeFor('a', ['*']), 'repository:a:*');
  });
  it('actions are de-duplicated and ordered', () => {
    assert.equal(scopeFor('org/app', ['push', 'pull', 'push']), 'repository:org/app:pull,push');
  });
  it('refuses a name that is not a repository, and no actions', () => {
    for (const bad of ['', 'Org/App', 'a:b', 'a//b', '/a', 'a b']) {
      assert.throws(
        () => scopeFor(bad, ['pull']),
        (e: unknown) => e instanceof StrataError && e.code === 'reference',
        bad,
      );
    }
    assert.throws(
      () => scopeFor('a', []),
      (e: unknown) => e instanceof StrataError && e.code === 'usage',
    );
  });
});
