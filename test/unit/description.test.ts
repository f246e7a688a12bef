// The image description: lib.image's JSON, CLI overrides over it, the store
// paths it names, its users, and Nix's name parsing.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { applyOverrides, checkUser, closureRoots, normalisePort, parseDescriptionJson, type ImageDescription } from '../../nix/description.js';
import { parseStoreName } from '../../nix/store-name.js';
import { StrataError } from '../../base/errors.js';

const HELLO = '/nix/store/5ny4hqagm20kmrisivssc3blx9z66af5-hello-2.12';
const DEP = '/nix/store/0cdnxsjznm42gy4sp2qwpjxsw242ncq2-dep';
const CACERT = '/nix/store/6mflmd81wwq36afjsmk4vzil7lq4ixii-nss-cacert-3.98';
const ROOTFS = '/nix/store/nsf3hsiclg73rbp31clqsq4mnd8icj3p-rootfs';

function descriptionError(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StrataError, `expected a StrataError, got ${String(e)}`);
    assert.equal(e.code, 'description');
    assert.ok(!e.message.includes('\n'), `message is one line: ${JSON.stringify(e.message)}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

function base(over: Partial<ImageDescription> = {}): ImageDescription {
  return { name: 'app', contents: [], copyToRoot: [], config: {}, layers: [], annotations: {}, tmp: true, users: [], ...over };
}

describe('parseDescriptionJson', () => {
  it('reads a full description', () => {
    const d = parseDescriptionJson({
      strataImage: 1,
      name: 'hello',
      tag: 'v1',
      contents: [HELLO],
      copyToRoot: [ROOTFS],
      config: {
        Entrypoint: [`${HELLO}/bin/hello`],
        Cmd: ['--greeting', 'hi'],
        Env: ['PATH=/bin', 'LANG=C.UTF-8'],
        WorkingDir: '/work',
        User: 'app',
        ExposedPorts: ['8080', '53/udp'],
        Labels: { 'org.example': 'x' },
        Volumes: ['/data'],
        StopSignal: 'SIGTERM',
      },
      layers: [[DEP]],
      annotations: { 'org.opencontainers.image.source': 'https://example.com' },
      tmp: false,
      users: [
        { name: 'app', uid: 1000, gid: 100 },
        { name: 'admin', uid: 0, gid: 0, home: '/admin', shell: '/bin/sh' },
      ],
      caCertificates: CACERT,
      fromImage: 'docker://docker.io/library/debian:12',
    });
    assert.deepEqual(d, {
      name: 'hello',
      tag: 'v1',
      contents: [HELLO],
      copyToRoot: [ROOTFS],
      config: {
        Entrypoint: [`${HELLO}/bin/hello`],
        Cmd: ['--greeting', 'hi'],
        Env: ['PATH=/bin', 'LANG=C.UTF-8'],
        WorkingDir: '/work',
        User: 'app',
        ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
        Labels: { 'org.example': 'x' },
        Volumes: { '/data': {} },
        StopSignal: 'SIGTERM',
      },
      layers: [[DEP]],
      annotations: { 'org.opencontainers.image.source': 'https://example.com' },
      tmp: false,
      users: [
        { name: 'app', uid: 1000, gid: 100, home: '/home/app', shell: '/sbin/nologin' },
        { name: 'admin', uid: 0, gid: 0, home: '/admin', shell: '/bin/sh' },
      ],
      caCertificates: CACERT,
      fromImage: 'docker://docker.io/library/debian:12',
    });
  });

  it('fills defaults for a minimal description', () => {
    assert.deepEqual(parseDescriptionJson({ strataImage: 1, name: 'x' }), base({ name: 'x' }));
  });

  it('treats null (Nix null) as absent', () => {
    const d = parseDescriptionJson({
      strataImage: 1,
      name: 'x',
      tag: null,
      caCertificates: null,
      fromImage: null,
      config: { Cmd: null, Env: null, User: null },
    });
    assert.deepEqual(d, base({ name: 'x' }));
    assert.ok(!('tag' in d) && !('caCertificates' in d) && !('fromImage' in d));
  });

  it('drops empty lists and maps from the config', () => {
    const d = parseDescriptionJson({ strataImage: 1, name: 'x', config: { Env: [], ExposedPorts: [], Labels: {}, Volumes: {}, WorkingDir: '' } });
    assert.deepEqual(d.config, {});
  });

  it('root without a home gets /root', () => {
    const d = parseDescriptionJson({ strataImage: 1, name: 'x', users: [{ name: 'toor', uid: 0, gid: 0 }] });
    assert.equal(d.users[0]!.home, '/root');
  });

  it('Env as an attrset becomes KEY=VALUE in the order of the JSON, which Nix writes sorted', () => {
    // builtins.toJSON writes attrsets with their names sorted.
    const fromNix = JSON.parse('{"strataImage":1,"name":"x","config":{"Env":{"A":"1","LANG":"C","PATH":"/bin:/usr/bin","Z":"a=b"}}}') as unknown;
    assert.deepEqual(parseDescriptionJson(fromNix).config.Env, ['A=1', 'LANG=C', 'PATH=/bin:/usr/bin', 'Z=a=b']);
    // The function does not reorder: the same JSON text always gives the same list.
    const unsorted = '{"strataImage":1,"name":"x","config":{"Env":{"B":"1","A":"2"}}}';
    assert.deepEqual(parseDescriptionJson(JSON.parse(unsorted)).config.Env, ['B=1', 'A=2']);
    assert.deepEqual(parseDescriptionJson(JSON.parse(unsorted)).config.Env, parseDescriptionJson(JSON.parse(unsorted)).config.Env);
  });

  it('ExposedPorts and Volumes as attrsets of empty objects', () => {
    const d = parseDescriptionJson({ strataImage: 1, name: 'x', config: { ExposedPorts: { '80': {}, '443/tcp': {} }, Volumes: { '/v': {} } } });
    assert.deepEqual(d.config.ExposedPorts, { '80/tcp': {}, '443/tcp': {} });
    assert.deepEqual(d.config.Volumes, { '/v': {} });
  });

  it('refuses unknown keys with a one-line message naming the key', () => {
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', bogus: 1 }), /bogus/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', config: { Foo: 1 } }), /config.*Foo/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', users: [{ name: 'a', uid: 1, gid: 1, password: 'x' }] }), /users\.0.*password/);
  });

  it('refuses wrong versions, types and values', () => {
    descriptionError(() => parseDescriptionJson({ strataImage: 2, name: 'x' }), /strataImage/);
    descriptionError(() => parseDescriptionJson({ name: 'x' }), /strataImage/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: '' }), /name/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', config: { Cmd: 'sh' } }), /config\.Cmd/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', users: [{ name: 'App', uid: 1, gid: 1 }] }), /users\.0\.name/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', users: [{ name: 'a', uid: -1, gid: 1 }] }), /users\.0\.uid/);
    descriptionError(() => parseDescriptionJson(null), /\(root\)/);
    descriptionError(() => parseDescriptionJson([]), /\(root\)/);
  });

  it('refuses a port out of range', () => {
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', config: { ExposedPorts: ['70000'] } }), /70000/);
    descriptionError(() => parseDescriptionJson({ strataImage: 1, name: 'x', config: { ExposedPorts: { '8080/icmp': {} } } }), /8080\/icmp/);
  });
});

describe('normalisePort', () => {
  it('adds /tcp to a bare port', () => {
    assert.equal(normalisePort('8080'), '8080/tcp');
    assert.equal(normalisePort('65535'), '65535/tcp');
  });
  it('keeps the protocol', () => {
    assert.equal(normalisePort('53/udp'), '53/udp');
    assert.equal(normalisePort('9/sctp'), '9/sctp');
    assert.equal(normalisePort('80/tcp'), '80/tcp');
  });
  it('refuses what is not a port', () => {
    for (const p of ['70000', '65536', '123456', '', 'http', '80/TCP', '80/', '-1', '80/tcp/x', ' 80']) {
      descriptionError(() => normalisePort(p));
    }
  });
});

describe('applyOverrides', () => {
  const d = base({
    config: { Entrypoint: ['/bin/a'], Cmd: ['x'], Env: ['A=1', 'B=2', 'C=3'], Labels: { l1: 'a', l2: 'b' }, ExposedPorts: { '80/tcp': {} } },
    annotations: { k1: 'v1' },
  });

  it('merges env by key, keeping the first position of each key', () => {
    const r = applyOverrides(d, { env: ['B=20', 'D=4', 'A=', 'D=5'] });
    assert.deepEqual(r.config.Env, ['A=', 'B=20', 'C=3', 'D=5']);
  });
  it('keeps = inside values', () => {
    assert.deepEqual(applyOverrides(base(), { env: ['OPTS=a=b=c'] }).config.Env, ['OPTS=a=b=c']);
  });
  it('replaces the entrypoint and cmd as lists', () => {
    const r = applyOverrides(d, { entrypoint: ['/bin/b', '-x'], cmd: [] });
    assert.deepEqual(r.config.Entrypoint, ['/bin/b', '-x']);
    assert.deepEqual(r.config.Cmd, []);
  });
  it('sets workdir and user', () => {
    const r = applyOverrides(d, { workdir: '/w', user: '1000:1000' });
    assert.equal(r.config.WorkingDir, '/w');
    assert.equal(r.config.User, '1000:1000');
  });
  it('merges labels by key', () => {
    assert.deepEqual(applyOverrides(d, { labels: ['l2=B', 'l3=c'] }).config.Labels, { l1: 'a', l2: 'B', l3: 'c' });
  });
  it('adds ports, normalised', () => {
    assert.deepEqual(applyOverrides(d, { ports: ['8080', '53/udp'] }).config.ExposedPorts, { '80/tcp': {}, '8080/tcp': {}, '53/udp': {} });
    descriptionError(() => applyOverrides(d, { ports: ['70000'] }));
  });
  it('merges annotations by key', () => {
    assert.deepEqual(applyOverrides(d, { annotations: ['k1=w', 'k2=v2'] }).annotations, { k1: 'w', k2: 'v2' });
    assert.deepEqual(applyOverrides(d, {}).annotations, { k1: 'v1' });
  });
  it('leaves everything alone with no overrides, and never mutates its input', () => {
    const before = structuredClone(d);
    const r = applyOverrides(d, { env: ['A=9'], labels: ['l1=z'], ports: ['1'], annotations: ['k1=z'], entrypoint: ['/e'] });
    assert.deepEqual(d, before);
    assert.notDeepEqual(r, before);
    assert.deepEqual(applyOverrides(d, {}), d);
  });
  it("--from replaces the description's fromImage", () => {
    assert.equal(applyOverrides(base({ fromImage: 'oci:/a' }), { fromImage: 'docker://r.example/b:1' }).fromImage, 'docker://r.example/b:1');
    assert.equal(applyOverrides(base({ fromImage: 'oci:/a' }), {}).fromImage, 'oci:/a');
    assert.equal(applyOverrides(base(), {}).fromImage, undefined);
  });
  it('refuses a flag that is not KEY=VALUE as a usage error', () => {
    for (const o of [{ env: ['NOEQ'] }, { env: ['=v'] }, { labels: ['x'] }, { annotations: ['=x'] }]) {
      assert.throws(
        () => applyOverrides(d, o),
        (e: unknown) => e instanceof StrataError && e.code === 'usage' && /not KEY=VALUE/.test(e.message),
      );
    }
  });
});

describe('closureRoots', () => {
  it('collects contents, root links, layers, certificates and paths in the config, deduplicated and sorted', () => {
    const d = base({
      contents: [HELLO, DEP],
      copyToRoot: [ROOTFS],
      layers: [[DEP]],
      caCertificates: `${CACERT}/etc/ssl/certs/ca-bundle.crt`,
      config: { Entrypoint: [`${HELLO}/bin/hello`], Env: [`PATH=${DEP}/bin:${HELLO}/bin`, 'HOME=/root'], Labels: { x: `see ${ROOTFS}/share/doc` } },
    });
    assert.deepEqual(closureRoots(d), [DEP, HELLO, CACERT, ROOTFS].sort());
    assert.deepEqual(closureRoots(d), [DEP, HELLO, CACERT, ROOTFS]);
  });
  it('takes a store path out of the middle of a string', () => {
    const p = '/nix/store/hwdwg0ib34hhjgsjs7swk2g6ci6a8cid-python3-3.11.9';
    assert.deepEqual(closureRoots(base({ config: { Cmd: ['sh', '-c', `exec ${p}/bin/python3 -m http.server`] } })), [p]);
  });
  it('ignores strings that only look like store paths', () => {
    // 'e', 'o', 't' and 'u' are not in Nix's base32; a short hash is not a hash.
    assert.deepEqual(closureRoots(base({ config: { Cmd: ['/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x', '/nix/store/abc-x', '/usr/bin/x'] } })), []);
  });
  it('is empty for an empty description', () => {
    assert.deepEqual(closureRoots(base()), []);
  });
});

describe('checkUser', () => {
  it('accepts no user, root, numeric ids', () => {
    for (const User of [undefined, '', 'root', '0', '1000', '1000:1000', 'root:root']) {
      assert.doesNotThrow(() => checkUser(base({ config: User === undefined ? {} : { User } })));
    }
  });
  it('accepts a user the description defines', () => {
    const users = [{ name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/sbin/nologin' }];
    assert.doesNotThrow(() => checkUser(base({ config: { User: 'app' }, users })));
    assert.doesNotThrow(() => checkUser(base({ config: { User: 'app:app' }, users })));
  });
  it('trusts a copyToRoot to bring its own /etc/passwd', () => {
    assert.doesNotThrow(() => checkUser(base({ config: { User: 'www' }, copyToRoot: [ROOTFS] })));
  });
  it("trusts a base image's /etc/passwd, unless users replace it", () => {
    assert.doesNotThrow(() => checkUser(base({ config: { User: 'www' }, fromImage: 'oci:/b' })));
    descriptionError(
      () => checkUser(base({ config: { User: 'www' }, fromImage: 'oci:/b', users: [{ name: 'app', uid: 1, gid: 1, home: '/', shell: '/bin/sh' }] })),
      /'www'/,
    );
  });
  it('refuses an unknown named user', () => {
    descriptionError(() => checkUser(base({ config: { User: 'app' } })), /'app'/);
    descriptionError(() => checkUser(base({ config: { User: 'app:1000' } })), /'app'/);
    descriptionError(() => checkUser(base({ config: { User: 'nobody' }, users: [{ name: 'app', uid: 1, gid: 1, home: '/', shell: '/bin/sh' }] })), /'nobody'/);
  });
});

describe("parseStoreName(s).name, the name of a plain package's image (expected values from Nix 2.8: (builtins.parseDrvName s).name)", () => {
  const cases: [string, string][] = [
    ['hello-2.12', 'hello'],
    ['foo-bar-1.0', 'foo-bar'],
    ['python3.11-requests-2.31', 'python3.11-requests'],
    ['xorg-server-21.1.4', 'xorg-server'],
    ['gtk+-3.24', 'gtk+'],
    ['a-1b', 'a'],
    ['hello', 'hello'],
    ['foo-bar', 'foo-bar'],
    ['foo-', 'foo-'],
  ];
  for (const [s, want] of cases) {
    it(`${s} → ${want}`, () => assert.equal(parseStoreName(s).name, want));
  }
  // Nix splits at the first '-' NOT FOLLOWED BY A LETTER (DrvName::DrvName in
  // libexpr/names.cc); parseStoreName follows that rule.
  const divergent: [string, string][] = [
    ['foo--bar-1', 'foo'],
    ['foo-_1', 'foo'],
    ['foo-.1', 'foo'],
  ];
  for (const [s, want] of divergent) {
    it(`${s} → ${want}`, () => assert.equal(parseStoreName(s).name, want));
  }
});
