// The image root Strata makes: copyToRoot symlink farm, /tmp, /etc/passwd and
// /etc/group, the CA bundle link; collisions refused.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { rootEntries } from '../../layers/root.js';
import { readEntry } from '../helpers/tree-entries.js';
import type { ImageDescription } from '../../nix/description.js';
import { StrataError } from '../../base/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-root-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function desc(over: Partial<ImageDescription>): ImageDescription {
  return { name: 'x', contents: [], copyToRoot: [], config: {}, layers: [], annotations: {}, tmp: false, users: [], ...over };
}

/** A fake package directory (rootEntries only reads its tree). */
function pkg(name: string, files: Record<string, string>): string {
  const p = join(dir, name);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(p, rel, '..'), { recursive: true });
    if (content.startsWith('->')) symlinkSync(content.slice(2), join(p, rel));
    else writeFileSync(join(p, rel), content);
  }
  return p;
}

const summary = async (d: ImageDescription) =>
  (await rootEntries(d)).map((e) =>
    e.type === 'symlink'
      ? `${e.path} -> ${e.target}`
      : e.type === 'directory'
        ? `${e.path}/ ${e.mode.toString(8)}`
        : `${e.path} ${e.mode.toString(8)} ${e.size}`,
  );

describe('rootEntries', () => {
  it('is empty when the image needs no root', async () => {
    assert.deepEqual(await rootEntries(desc({})), []);
  });

  it('links copyToRoot files, merging directories of several packages, in tree order', async () => {
    const a = pkg('a', { 'bin/sh': '#!', 'bin/ls': 'x', 'share/man/ls.1': 'm' });
    const b = pkg('b', { 'bin/env': 'e', 'lib/x.so': '->x.so.1' });
    assert.deepEqual(await summary(desc({ copyToRoot: [a, b] })), [
      'bin/ 755',
      `bin/env -> ${b}/bin/env`,
      `bin/ls -> ${a}/bin/ls`,
      `bin/sh -> ${a}/bin/sh`,
      'lib/ 755',
      `lib/x.so -> ${b}/lib/x.so`,
      'share/ 755',
      'share/man/ 755',
      `share/man/ls.1 -> ${a}/share/man/ls.1`,
    ]);
  });

  it('refuses a file provided twice, naming both packages', async () => {
    const a = pkg('c1', { 'bin/sh': '1' });
    const b = pkg('c2', { 'bin/sh': '2' });
    await assert.rejects(
      rootEntries(desc({ copyToRoot: [a, b] })),
      (e: unknown) => e instanceof StrataError && e.code === 'description' && e.message.includes('/bin/sh') && e.message.includes(a) && e.message.includes(b),
    );
  });

  it('makes /tmp with mode 1777, /etc/passwd and /etc/group with root, nobody and the users', async () => {
    const entries = await rootEntries(desc({ tmp: true, users: [{ name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/sbin/nologin' }] }));
    assert.deepEqual(
      entries.map((e) => e.path),
      ['etc', 'etc/group', 'etc/passwd', 'tmp'],
    );
    const tmp = entries.find((e) => e.path === 'tmp')!;
    assert.equal(tmp.type === 'directory' && tmp.mode, 0o1777);
    const read = async (p: string) => {
      const e = entries.find((x) => x.path === p)!;
      assert.equal(e.type, 'file');
      if (e.type !== 'file') return '';
      let s = '';
      s = readEntry(e).toString();
      assert.equal(Buffer.byteLength(s), e.size);
      assert.match(e.contentDigest ?? '', /^sha256:[0-9a-f]{64}$/);
      return s;
    };
    assert.equal(
      await read('etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/var/empty:/sbin/nologin\n',
    );
    assert.equal(await read('etc/group'), 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n');
  });

  it('links the CA bundle from a file, or from a package with etc/ssl/certs/ca-bundle.crt', async () => {
    const file = join(dir, 'bundle.pem');
    writeFileSync(file, '-----BEGIN CERTIFICATE-----\n');
    assert.deepEqual(await summary(desc({ caCertificates: file })), [
      'etc/ 755',
      'etc/ssl/ 755',
      'etc/ssl/certs/ 755',
      `etc/ssl/certs/ca-certificates.crt -> ${file}`,
    ]);
    const cacert = pkg('cacert', { 'etc/ssl/certs/ca-bundle.crt': 'pem' });
    assert.deepEqual((await summary(desc({ caCertificates: cacert }))).at(-1), `etc/ssl/certs/ca-certificates.crt -> ${cacert}/etc/ssl/certs/ca-bundle.crt`);
    await assert.rejects(rootEntries(desc({ caCertificates: pkg('nocert', { README: 'x' }) })), /ca-bundle\.crt does not exist/);
  });

  it('refuses a copyToRoot package with a top-level nix entry', async () => {
    const bad = pkg('shadow', { 'nix/store/x': 'y' });
    await assert.rejects(rootEntries(desc({ copyToRoot: [bad] })), /would shadow the store/);
  });
});
