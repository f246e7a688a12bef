// Push: blob uploads in each of the spec's ways (monolithic POST-then-PUT,
// single POST, streamed PATCH, chunked PATCH with Content-Range), upload
// status and resumption, cross-repository mounts, and manifest PUTs, with the
// refusals the spec names. Every check pushes to a repository of its own.
import { type Content, MediaType, content, descriptor, emptyConfig, imageConfig, imageManifest, randomLayer, unknownDigest } from '../content.js';
import { errorCodes, expectBytes, expectEqual, expectHeaderIfPresent, expectLocation, expectStatus, summary } from '../expect.js';
import { type HttpResponse, type RegistryClient, withQuery } from '../http.js';
import { getManifest, paths, pushBlob, putManifest, startUpload } from '../ops.js';
import { fail, optionalMissing } from '../outcome.js';
import type { Context, Workflow } from '../workflow.js';

const OCTET = { 'content-type': 'application/octet-stream' };
/** Chunk size unless the registry asks for more with OCI-Chunk-Min-Length. */
const CHUNK = 1024;

/** GET of the blob in the repository: 200 with exactly its bytes. */
async function expectStored(client: RegistryClient, repo: string, blob: Content, step: string): Promise<void> {
  const res = await client.send('GET', paths.blob(repo, blob.digest), { follow: true });
  expectStatus(res, 200, `${step}, then GET blob`);
  expectBytes(res.body, blob.bytes, `${step}, then GET blob`);
}

/** POST with Content-Length: 0, as the spec's chunked upload starts; the chunk size honours OCI-Chunk-Min-Length. */
async function openChunked(client: RegistryClient, repo: string): Promise<{ session: URL; chunk: number }> {
  const res = await client.send('POST', paths.uploads(repo));
  expectStatus(res, 202, 'POST /blobs/uploads/ (Content-Length: 0)');
  const min = Number(res.header('oci-chunk-min-length') ?? 0);
  return { session: expectLocation(res, 'POST /blobs/uploads/'), chunk: Math.max(CHUNK, Number.isSafeInteger(min) ? min : 0) };
}

/** PATCH of blob bytes [start, end) with the spec's inclusive Content-Range "<start>-<end>". */
function patchChunk(client: RegistryClient, session: URL, blob: Content, start: number, end: number): Promise<HttpResponse> {
  return client.send('PATCH', session, {
    headers: { ...OCTET, 'content-range': `${start}-${end - 1}` },
    body: blob.bytes.subarray(start, end),
  });
}

/** A chunk accepted: 202, the next Location, and "Range: 0-<last byte>". */
function expectChunkAccepted(res: HttpResponse, end: number, step: string): URL {
  expectStatus(res, 202, step);
  expectEqual(res.header('range'), `0-${end - 1}`, `${step}: Range header`);
  return expectLocation(res, step);
}

/** Closing PUT with the digest of the whole blob and, optionally, the final chunk. */
function closeUpload(client: RegistryClient, session: URL, blob: Content, from = blob.size): Promise<HttpResponse> {
  const rest = blob.bytes.subarray(from);
  const headers = rest.length > 0 ? { ...OCTET, 'content-range': `${from}-${blob.size - 1}` } : {};
  return client.send('PUT', withQuery(session, { digest: blob.digest }), { headers, body: rest });
}

/** Config and layer uploaded; the manifest naming them is for the caller to PUT. */
async function imageContent(ctx: Context, repo: string): Promise<Content> {
  const layer = randomLayer();
  const config = imageConfig([layer]);
  await pushBlob(ctx.client, repo, config);
  await pushBlob(ctx.client, repo, layer);
  return imageManifest({ config: descriptor(config), layers: [descriptor(layer)] });
}

export function pushWorkflow(): Workflow {
  return {
    id: 'push',
    title: 'Push',
    checks: [
      {
        name: 'monolithic upload: POST (202, Location) then PUT ?digest= (201, Location)',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('monolithic');
          const blob = randomLayer();
          const post = await client.send('POST', paths.uploads(name));
          expectStatus(post, 202, 'POST /blobs/uploads/');
          const session = expectLocation(post, 'POST /blobs/uploads/');
          const put = await client.send('PUT', withQuery(session, { digest: blob.digest }), { headers: OCTET, body: blob.bytes });
          expectStatus(put, 201, 'PUT <location>?digest=');
          expectLocation(put, 'PUT <location>?digest=');
          await expectStored(client, name, blob, 'monolithic upload');
        },
      },
      {
        name: 'single POST ?digest= with the blob: 201',
        level: 'MAY',
        async run({ client, repo }) {
          const name = repo('single-post');
          const blob = randomLayer();
          const res = await client.send('POST', withQuery(client.url(paths.uploads(name)), { digest: blob.digest }), { headers: OCTET, body: blob.bytes });
          if (res.status === 202) {
            // The spec's fallback: the registry opened a session instead, and the client completes it with a PUT.
            const session = expectLocation(res, 'single POST answered 202');
            const put = await client.send('PUT', withQuery(session, { digest: blob.digest }), { headers: OCTET, body: blob.bytes });
            expectStatus(put, 201, 'PUT to the session the single POST opened');
            await expectStored(client, name, blob, 'fallback upload');
            optionalMissing('202 with an upload session: single-POST upload is a MAY; the POST-then-PUT fallback completed');
          }
          if (res.status !== 201) optionalMissing(`got ${summary(res)}; a registry without single-POST upload SHOULD answer 202 with a Location`);
          expectLocation(res, 'single POST');
          await expectStored(client, name, blob, 'single POST');
        },
      },
      {
        name: 'streamed upload: POST, PATCH without Content-Range (202), PUT ?digest= (201)',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('streamed');
          const blob = randomLayer(4096);
          const session = await startUpload(client, name);
          const patch = await client.send('PATCH', session, { headers: OCTET, body: blob.bytes });
          expectStatus(patch, 202, 'PATCH with the whole blob');
          const next = expectLocation(patch, 'PATCH with the whole blob');
          const put = await closeUpload(client, next, blob);
          expectStatus(put, 201, 'closing PUT ?digest=');
          expectLocation(put, 'closing PUT ?digest=');
          await expectStored(client, name, blob, 'streamed upload');
        },
      },
      {
        name: 'chunked upload: PATCH chunks with Content-Range (202, Range), final chunk in the PUT (201)',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('chunked');
          const { session, chunk } = await openChunked(client, name);
          const blob = randomLayer(2 * chunk + 100);
          let at = session;
          for (const start of [0, chunk]) {
            at = expectChunkAccepted(await patchChunk(client, at, blob, start, start + chunk), start + chunk, `PATCH chunk ${start}-${start + chunk - 1}`);
          }
          const put = await closeUpload(client, at, blob, 2 * chunk);
          expectStatus(put, 201, 'closing PUT with the final chunk');
          expectLocation(put, 'closing PUT with the final chunk');
          await expectStored(client, name, blob, 'chunked upload');
        },
      },
      {
        name: 'chunked upload: a first chunk not starting at 0 gets 416',
        level: 'MUST',
        async run({ client, repo }) {
          const { session, chunk } = await openChunked(client, repo('out-of-order'));
          const blob = randomLayer(2 * chunk);
          expectStatus(await patchChunk(client, session, blob, chunk, 2 * chunk), 416, `PATCH ${chunk}-${2 * chunk - 1} before 0-${chunk - 1}`);
        },
      },
      {
        name: 'chunked upload: a chunk sent again gets 416',
        level: 'MUST',
        async run({ client, repo }) {
          const { session, chunk } = await openChunked(client, repo('resent-chunk'));
          const blob = randomLayer(2 * chunk);
          const next = expectChunkAccepted(await patchChunk(client, session, blob, 0, chunk), chunk, 'PATCH first chunk');
          expectStatus(await patchChunk(client, next, blob, 0, chunk), 416, 'PATCH of the first chunk again');
        },
      },
      {
        name: 'upload status: GET of the session (204, Location, Range), and the upload resumes there',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('upload-status');
          const { session, chunk } = await openChunked(client, name);
          const blob = randomLayer(2 * chunk);
          const next = expectChunkAccepted(await patchChunk(client, session, blob, 0, chunk), chunk, 'PATCH first chunk');
          const status = await client.send('GET', next);
          expectStatus(status, 204, 'GET upload session');
          expectEqual(status.header('range'), `0-${chunk - 1}`, 'GET upload session: Range header');
          const resume = expectLocation(status, 'GET upload session');
          const last = expectChunkAccepted(
            await patchChunk(client, resume, blob, chunk, 2 * chunk),
            2 * chunk,
            'PATCH second chunk at the Location the status gave',
          );
          expectStatus(await closeUpload(client, last, blob), 201, 'closing PUT ?digest=');
          await expectStored(client, name, blob, 'resumed upload');
        },
      },
      {
        name: 'cross-repository mount: POST ?mount=&from= gets 201 (or the 202 fallback)',
        level: 'MAY',
        async run({ client, config, repo }) {
          const from = repo('mount-source');
          const to = repo('mount-target', config.crossmountNamespace);
          const blob = randomLayer();
          await pushBlob(client, from, blob);
          const res = await client.send('POST', withQuery(client.url(paths.uploads(to)), { mount: blob.digest, from }));
          if (res.status === 202) {
            expectLocation(res, 'mount answered 202');
            optionalMissing('202 with an upload session: the registry did not mount, which the spec allows ("SHOULD return a 202")');
          }
          expectStatus(res, [201, 202], 'POST ?mount=&from=');
          expectLocation(res, 'mount');
          await expectStored(client, to, blob, 'mount');
        },
      },
      {
        name: 'cross-repository mount of an unknown blob: 202 with an upload session',
        level: 'SHOULD',
        async run({ client, config, repo }) {
          const from = repo('mount-source');
          const to = repo('mount-target', config.crossmountNamespace);
          await pushBlob(client, from, randomLayer()); // the source repository exists; the digest does not
          const res = await client.send('POST', withQuery(client.url(paths.uploads(to)), { mount: unknownDigest(), from }));
          if (res.status === 201) fail('POST ?mount= of a digest nothing has: 201, a mount of content that does not exist');
          if (res.status !== 202) optionalMissing(`got ${summary(res)}; a registry unable to mount SHOULD answer 202 with an upload session`);
          const session = expectLocation(res, 'mount fallback');
          const blob = randomLayer();
          expectStatus(
            await client.send('PUT', withQuery(session, { digest: blob.digest }), { headers: OCTET, body: blob.bytes }),
            201,
            'PUT to the fallback session',
          );
          await expectStored(client, to, blob, 'upload through the mount fallback');
        },
      },
      {
        name: 'manifest PUT by tag: 201 with Location, then pullable by tag',
        level: 'MUST',
        async run(ctx) {
          const name = ctx.repo('manifest-tag');
          const manifest = await imageContent(ctx, name);
          const put = await putManifest(ctx.client, name, 'v1', manifest);
          expectStatus(put, 201, 'PUT manifest by tag');
          expectLocation(put, 'PUT manifest by tag');
          expectHeaderIfPresent(put, 'docker-content-digest', manifest.digest, 'PUT manifest by tag');
          const get = await getManifest(ctx.client, name, 'v1');
          expectStatus(get, 200, 'GET manifest by tag');
          expectBytes(get.body, manifest.bytes, 'GET manifest by tag');
        },
      },
      {
        name: 'manifest PUT by digest: 201 with Location, then pullable by digest',
        level: 'MUST',
        async run(ctx) {
          const name = ctx.repo('manifest-digest');
          const manifest = await imageContent(ctx, name);
          const put = await putManifest(ctx.client, name, manifest.digest, manifest);
          expectStatus(put, 201, 'PUT manifest by digest');
          expectLocation(put, 'PUT manifest by digest');
          expectHeaderIfPresent(put, 'docker-content-digest', manifest.digest, 'PUT manifest by digest');
          const get = await getManifest(ctx.client, name, manifest.digest);
          expectStatus(get, 200, 'GET manifest by digest');
          expectBytes(get.body, manifest.bytes, 'GET manifest by digest');
        },
      },
      {
        name: 'manifest naming a missing blob: refused with MANIFEST_BLOB_UNKNOWN',
        level: 'MAY',
        async run({ client, repo }) {
          const name = repo('missing-blob');
          const layer = randomLayer(); // never uploaded
          const config = imageConfig([layer]);
          await pushBlob(client, name, config);
          const res = await putManifest(client, name, 'v1', imageManifest({ config: descriptor(config), layers: [descriptor(layer)] }));
          if (res.status === 201) optionalMissing('accepted a manifest whose layer the repository lacks; refusing it is a MAY');
          if (res.status < 400 || res.status > 499)
            fail(`PUT manifest naming a missing blob: expected 201, or a 4xx with MANIFEST_BLOB_UNKNOWN, got ${summary(res)}`);
          if (!errorCodes(res)?.includes('MANIFEST_BLOB_UNKNOWN'))
            fail(`refused with ${summary(res)}; a refusal for a missing blob MUST carry MANIFEST_BLOB_UNKNOWN`);
        },
      },
      {
        name: 'manifest whose subject does not exist: accepted (201)',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('absent-subject');
          const config = emptyConfig();
          const layer = randomLayer();
          await pushBlob(client, name, config);
          await pushBlob(client, name, layer);
          const absent = content(Buffer.from(`{"nonce":"${unknownDigest()}"}`), MediaType.manifest);
          const manifest = imageManifest({
            artifactType: 'application/vnd.example.conformance',
            config: descriptor(config),
            layers: [descriptor(layer)],
            subject: descriptor(absent),
          });
          expectStatus(await putManifest(client, name, manifest.digest, manifest), 201, 'PUT manifest whose subject is not in the repository');
        },
      },
      {
        name: 'blob PUT with a digest that does not match: 400 DIGEST_INVALID, nothing stored',
        level: 'MUST',
        async run({ client, repo }) {
          const name = repo('digest-invalid');
          const blob = randomLayer();
          const wrong = unknownDigest();
          const session = await startUpload(client, name);
          const res = await client.send('PUT', withQuery(session, { digest: wrong }), { headers: OCTET, body: blob.bytes });
          expectStatus(res, 400, 'PUT ?digest= of other content');
          if (!errorCodes(res)?.includes('DIGEST_INVALID')) fail(`PUT ?digest= of other content: expected the DIGEST_INVALID code, got ${summary(res)}`);
          expectStatus(await client.send('HEAD', paths.blob(name, wrong)), 404, 'HEAD of the digest claimed');
        },
      },
    ],
  };
}
