// Pull: what every conforming registry MUST serve ("All registries conforming
// to this specification MUST support, at a minimum, all APIs in the Pull
// category"). The checks read one image, pushed once by the first of them.
import { unknownDigest } from '../content.js';
import { errorCodes, expectBytes, expectEqual, expectHeaderIfPresent, expectStatus, jsonBody, summary } from '../expect.js';
import type { HttpResponse } from '../http.js';
import { getManifest, paths, pushImage } from '../ops.js';
import { fail, optionalMissing } from '../outcome.js';
import { ERROR_CODES } from '../schemas.js';
import { type Workflow, fixture } from '../workflow.js';

const RANGE = { first: 10, last: 99 };

export function pullWorkflow(): Workflow {
  const image = fixture((ctx) => pushImage(ctx.client, ctx.repo('pull'), 'v1'));

  /** Docker-Content-Digest is a SHOULD, but when present it MUST name the content. */
  const digestHeader = (res: HttpResponse, digest: string, step: string) => expectHeaderIfPresent(res, 'docker-content-digest', digest, step);

  return {
    id: 'pull',
    title: 'Pull',
    checks: [
      {
        name: 'GET /v2/ answers 200',
        level: 'MUST',
        async run({ client }) {
          expectStatus(await client.send('GET', '/v2/'), 200, 'GET /v2/');
        },
      },
      {
        name: 'GET manifest by tag: 200 with the bytes pushed',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          const res = await getManifest(ctx.client, img.repo, img.tag);
          expectStatus(res, 200, 'GET manifest by tag');
          expectBytes(res.body, img.manifest.bytes, 'GET manifest by tag');
          digestHeader(res, img.manifest.digest, 'GET manifest by tag');
        },
      },
      {
        name: 'GET manifest by digest: 200 with the bytes pushed',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          const res = await getManifest(ctx.client, img.repo, img.manifest.digest);
          expectStatus(res, 200, 'GET manifest by digest');
          expectBytes(res.body, img.manifest.bytes, 'GET manifest by digest');
          digestHeader(res, img.manifest.digest, 'GET manifest by digest');
        },
      },
      {
        name: 'HEAD manifest by tag and by digest: 200',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          for (const ref of [img.tag, img.manifest.digest]) {
            const res = await getManifest(ctx.client, img.repo, ref, 'HEAD');
            expectStatus(res, 200, `HEAD manifest ${ref}`);
            digestHeader(res, img.manifest.digest, `HEAD manifest ${ref}`);
            expectHeaderIfPresent(res, 'content-length', String(img.manifest.size), `HEAD manifest ${ref}`);
          }
        },
      },
      {
        name: 'GET manifest: Content-Type is the media type pushed',
        level: 'SHOULD',
        async run(ctx) {
          const img = await image(ctx);
          const res = await getManifest(ctx.client, img.repo, img.tag);
          expectStatus(res, 200, 'GET manifest');
          // "The registry SHOULD NOT include parameters", so compare the whole value.
          const type = res.header('content-type');
          if (type !== img.manifest.mediaType)
            optionalMissing(`Content-Type is ${JSON.stringify(type)}, not ${img.manifest.mediaType} ("SHOULD match what the client pushed")`);
        },
      },
      {
        name: 'GET and HEAD of an unknown manifest (tag or digest): 404',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          for (const ref of ['no-such-tag', unknownDigest()]) {
            for (const method of ['GET', 'HEAD'] as const) {
              expectStatus(await getManifest(ctx.client, img.repo, ref, method), 404, `${method} unknown manifest ${ref}`);
            }
          }
        },
      },
      {
        name: 'GET blob: 200 with its bytes',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          // Registries may redirect blob GETs to storage; clients follow, and so does the check.
          const res = await ctx.client.send('GET', paths.blob(img.repo, img.layer.digest), { follow: true });
          expectStatus(res, 200, 'GET blob');
          expectBytes(res.body, img.layer.bytes, 'GET blob');
          digestHeader(res, img.layer.digest, 'GET blob');
        },
      },
      {
        name: 'HEAD blob: 200 with its size',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          const res = await ctx.client.send('HEAD', paths.blob(img.repo, img.layer.digest), { follow: true });
          expectStatus(res, 200, 'HEAD blob');
          digestHeader(res, img.layer.digest, 'HEAD blob');
          expectHeaderIfPresent(res, 'content-length', String(img.layer.size), 'HEAD blob');
        },
      },
      {
        name: 'GET and HEAD of an unknown blob: 404',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          const digest = unknownDigest();
          for (const method of ['GET', 'HEAD'] as const) {
            expectStatus(await ctx.client.send(method, paths.blob(img.repo, digest), { follow: true }), 404, `${method} unknown blob`);
          }
        },
      },
      {
        name: 'Range GET of a blob: 206 with the bytes asked for',
        level: 'SHOULD',
        async run(ctx) {
          const img = await image(ctx);
          const range = `bytes=${RANGE.first}-${RANGE.last}`;
          const res = await ctx.client.send('GET', paths.blob(img.repo, img.layer.digest), { headers: { range }, follow: true });
          if (res.status === 200) optionalMissing(`Range: ${range} ignored (200 with the whole blob); "A registry SHOULD support the Range request header"`);
          expectStatus(res, 206, `GET blob with Range: ${range}`);
          expectBytes(res.body, img.layer.bytes.subarray(RANGE.first, RANGE.last + 1), 'Range GET');
          expectEqual(res.header('content-range'), `bytes ${RANGE.first}-${RANGE.last}/${img.layer.size}`, 'Range GET Content-Range');
        },
      },
      {
        name: 'Docker-Content-Digest on manifest and blob responses',
        level: 'SHOULD',
        async run(ctx) {
          const img = await image(ctx);
          const missing: string[] = [];
          const responses: [string, HttpResponse][] = [
            ['GET manifest', await getManifest(ctx.client, img.repo, img.tag)],
            ['HEAD manifest', await getManifest(ctx.client, img.repo, img.tag, 'HEAD')],
            ['GET blob', await ctx.client.send('GET', paths.blob(img.repo, img.layer.digest), { follow: true })],
            ['HEAD blob', await ctx.client.send('HEAD', paths.blob(img.repo, img.layer.digest), { follow: true })],
          ];
          for (const [step, res] of responses) {
            expectStatus(res, 200, step);
            if (!res.header('docker-content-digest')) missing.push(step);
          }
          if (missing.length > 0) optionalMissing(`no Docker-Content-Digest on ${missing.join(', ')} ("A successful response SHOULD contain the digest")`);
        },
      },
      {
        name: 'JSON error bodies use the spec format and codes',
        level: 'MUST',
        async run(ctx) {
          const img = await image(ctx);
          // GETs, not HEADs: a HEAD answer has no body to look at.
          const responses: [string, HttpResponse][] = [
            ['GET unknown manifest', await getManifest(ctx.client, img.repo, 'no-such-tag')],
            ['GET unknown blob', await ctx.client.send('GET', paths.blob(img.repo, unknownDigest()))],
          ];
          for (const [step, res] of responses) {
            expectStatus(res, 404, step);
            // "A 4XX response … MAY return a body in any format. If the response body is in JSON format, it MUST have the following format"
            if (!/\bjson\b/i.test(res.header('content-type') ?? '') && jsonBody(res) === undefined) continue;
            const codes = errorCodes(res);
            if (!codes || codes.length === 0) fail(`${step}: a JSON body without the errors[] the spec requires: ${summary(res)}`);
            const unknown = codes.filter((c) => !(ERROR_CODES as readonly string[]).includes(c));
            if (unknown.length > 0) fail(`${step}: error codes ${unknown.join(', ')} are not among the spec's`);
          }
        },
      },
    ],
  };
}
