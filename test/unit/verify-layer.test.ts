// verifyLayerFile: a reused layer blob passes only if its compressed bytes and
// the tar inside both match what the image says of them.
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { writeLayer, type LayerDigests } from '../../layers/layer.js';
import type { TreeEntry } from '../../layers/tree.js';
import { verifyLayerFile } from '../../layers/verify.js';
import { bytesEntry } from '../helpers/tree-entries.js';
import { COMPRESSIONS, type Compression } from '../../oci/layer-types.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const content = Buffer.from('hello from a layer\n'.repeat(1000));
const entries: TreeEntry[] = [{ type: 'directory', path: 'etc', mode: 0o755 }, bytesEntry('etc/greeting', content)];

async function layerFile(c: Compression): Promise<{ path: string; digests: LayerDigests }> {
  const path = join(dir, `layer.${c}`);
  const digests = await writeLayer({ storeObjects: [], extra: entries }, { compression: c, mtime: 0 }, createWriteStream(path));
  return { path, digests };
}

describe('verifyLayerFile', () => {
  for (const c of COMPRESSIONS) {
    it(`${c}: passes the layer as made, fails it damaged or described otherwise`, async () => {
      const { path, digests } = await layerFile(c);
      assert.equal(await verifyLayerFile(path, digests, c), true);
      for (const wrong of [
        { ...digests, size: digests.size + 1 },
        { ...digests, diffID: `sha256:${'1'.repeat(64)}` as const },
        { ...digests, uncompressedSize: digests.uncompressedSize - 1 },
        { ...digests, digest: `sha256:${'0'.repeat(64)}` as const },
      ]) {
        assert.equal(await verifyLayerFile(path, wrong, c), false, JSON.stringify(wrong));
      }
      const bytes = readFileSync(path);
      bytes[bytes.length >> 1]! ^= 0xff;
      const damaged = join(dir, `damaged.${c}`);
      writeFileSync(damaged, bytes);
      assert.equal(await verifyLayerFile(damaged, digests, c), false);
      assert.equal(await verifyLayerFile(join(dir, 'missing'), digests, c), false);
    });
  }
});
