// Content management: deleting manifests, tags and blobs. "Registries MAY
// implement deletion or they MAY disable it", and a registry with deletion
// disabled "MUST respond with either a 400 Bad Request or a 405 Method Not
// Allowed": those answers are recorded as unsupported, not failed.
import { randomLayer, unknownDigest } from '../content.js';
import { expectStatus, summary } from '../expect.js';
import type { HttpResponse } from '../http.js';
import { getManifest, paths, pushBlob, pushImage } from '../ops.js';
import { unsupported } from '../outcome.js';
import type { Workflow } from '../workflow.js';

/** A DELETE's answer: 202, or the refusal the spec allows a registry that does not delete. */
function expectDeleted(res: HttpResponse, step: string, success = 202): void {
  if (res.status === 400 || res.status === 405) unsupported(`${step}: ${summary(res)}, the answer the spec gives a registry with this deletion disabled`);
  expectStatus(res, success, step);
}

export function managementWorkflow(): Workflow {
  return {
    id: 'content-management',
    title: 'Content management',
    checks: [
      {
        name: 'DELETE manifest by digest: 202, then 404 by digest and by tag',
        level: 'MUST',
        async run({ client, repo }) {
          const img = await pushImage(client, repo('delete-manifest'), 'v1');
          expectDeleted(await client.send('DELETE', paths.manifest(img.repo, img.manifest.digest)), 'DELETE manifest by digest');
          expectStatus(await getManifest(client, img.repo, img.manifest.digest), 404, 'GET of the deleted manifest by digest');
          expectStatus(await getManifest(client, img.repo, img.tag), 404, 'GET of the tag of the deleted manifest');
        },
      },
      {
        name: 'DELETE tag: 202, then the tag is 404',
        level: 'MUST',
        async run({ client, repo }) {
          const img = await pushImage(client, repo('delete-tag'), 'v1');
          expectDeleted(await client.send('DELETE', paths.manifest(img.repo, img.tag)), 'DELETE manifest by tag');
          expectStatus(await getManifest(client, img.repo, img.tag), 404, 'GET of the deleted tag');
        },
      },
      {
        name: 'DELETE blob: 202, then the blob is 404',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('delete-blob');
          const blob = randomLayer();
          await pushBlob(client, name, blob);
          expectDeleted(await client.send('DELETE', paths.blob(name, blob.digest)), 'DELETE blob');
          for (const method of ['HEAD', 'GET'] as const) {
            expectStatus(await client.send(method, paths.blob(name, blob.digest), { follow: true }), 404, `${method} of the deleted blob`);
          }
        },
      },
      {
        name: 'DELETE of an unknown blob: 404',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('delete-unknown-blob');
          await pushBlob(client, name, randomLayer()); // the repository exists; the digest does not
          expectDeleted(await client.send('DELETE', paths.blob(name, unknownDigest())), 'DELETE of a digest nothing has', 404);
        },
      },
      {
        name: 'DELETE manifest in a repository that does not exist: 404',
        level: 'MUST',
        async run({ client, repo }) {
          expectDeleted(
            await client.send('DELETE', paths.manifest(repo('never-pushed'), unknownDigest())),
            'DELETE manifest in a repository never pushed to',
            404,
          );
        },
      },
    ],
  };
}
