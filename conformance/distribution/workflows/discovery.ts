// Content discovery: the tag list with its n/last pagination and Link header,
// and the referrers API of distribution-spec 1.1 with its artifactType filter
// and the OCI-Subject header. The referrers API is new in 1.1, and the spec
// gives clients a fallback for registries without it (the "<alg>-<ref>" tag
// schema): there a 404 from the API is recorded as unsupported, and the
// fallback is checked instead.
import { type Content, content, descriptor, emptyConfig, imageIndex, imageManifest, MediaType, randomLayer, referrersTag, unknownDigest } from '../content.js';
import { expectBytes, expectEqual, expectJson, expectStatus, summary } from '../expect.js';
import { type HttpResponse, withQuery } from '../http.js';
import { getManifest, paths, pushBlob, pushImage, pushManifest, putManifest } from '../ops.js';
import { fail, optionalMissing, unsupported } from '../outcome.js';
import { TagList } from '../schemas.js';
import { imageIndex as indexSchema, type OciDescriptor as Descriptor, type OciIndex as ImageIndex } from '../../../oci/schema.js';
import { type Context, type Workflow, fixture } from '../workflow.js';

/** Pushed in this order, which is not lexical, so a registry that lists in push order shows it. */
const TAGS = ['golf', 'alpha', 'hotel', 'charlie', 'echo', 'bravo', 'foxtrot', 'delta'];
/** "lexical order (i.e. case-insensitive alphanumeric order)"; the tags above are lower-case, so both readings agree. */
const SORTED = [...TAGS].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase(), 'en'));

const SBOM = 'application/vnd.example.sbom.v1';
const SIGNATURE_CONFIG = 'application/vnd.example.signature.config.v1+json';
const ANNOTATION = 'org.opencontainers.conformance.referrer';

/** The first rel="next" target of a Link header (RFC 5988), resolved against the response's URL. */
function nextLink(res: HttpResponse): URL | undefined {
  const m = /<([^>]*)>\s*;[^,]*\brel="?next"?/i.exec(res.header('link') ?? '');
  return m?.[1] !== undefined ? new URL(m[1], res.url) : undefined;
}

async function listTags(ctx: Context, repo: string, query: Record<string, string> = {}): Promise<{ res: HttpResponse; tags: string[] }> {
  const res = await ctx.client.send('GET', withQuery(ctx.client.url(paths.tags(repo)), query));
  const step = `GET tags/list${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ''}`;
  expectStatus(res, 200, step);
  return { res, tags: expectJson(res, TagList, step).tags ?? [] };
}

/**
 * A page of tags against the spec's rule: exactly `expected`, or fewer (a
 * prefix of it) only when a Link header says more follow.
 */
function expectPage(res: HttpResponse, got: string[], expected: string[], step: string): void {
  const same = got.length === expected.length && got.every((t, i) => t === expected[i]);
  const prefixWithLink = nextLink(res) !== undefined && got.length < expected.length && got.every((t, i) => t === expected[i]);
  if (!same && !prefixWithLink) fail(`${step}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
}

interface Referrer {
  manifest: Content;
  artifactType: string;
  annotations: Record<string, string>;
}

interface ReferrersFixture {
  repo: string;
  subject: Content;
  referrers: Referrer[];
  /** The PUT responses of the referrers, for OCI-Subject. */
  puts: HttpResponse[];
}

/** Two referrers of one image: one with artifactType, one typed by its config's mediaType (the spec's two cases). */
async function pushReferrers(ctx: Context): Promise<ReferrersFixture> {
  const repo = ctx.repo('referrers');
  const subject = (await pushImage(ctx.client, repo, 'subject')).manifest;
  const empty = emptyConfig();
  const sbom = randomLayer();
  const signatureConfig = content(Buffer.from(JSON.stringify({ nonce: unknownDigest() })), SIGNATURE_CONFIG);
  const signature = randomLayer();
  for (const blob of [empty, sbom, signatureConfig, signature]) await pushBlob(ctx.client, repo, blob);
  const referrers: Referrer[] = [
    {
      artifactType: SBOM,
      annotations: { [ANNOTATION]: 'sbom' },
      manifest: imageManifest({
        artifactType: SBOM,
        config: descriptor(empty),
        layers: [descriptor(sbom)],
        subject: descriptor(subject),
        annotations: { [ANNOTATION]: 'sbom' },
      }),
    },
    {
      artifactType: SIGNATURE_CONFIG,
      annotations: { [ANNOTATION]: 'signature' },
      manifest: imageManifest({
        config: descriptor(signatureConfig),
        layers: [descriptor(signature)],
        subject: descriptor(subject),
        annotations: { [ANNOTATION]: 'signature' },
      }),
    },
  ];
  const puts: HttpResponse[] = [];
  for (const r of referrers) puts.push(await pushManifest(ctx.client, repo, r.manifest.digest, r.manifest));
  return { repo, subject, referrers, puts };
}

/** The referrers API's answer; a 404 means the registry has none, which the spec provides for. */
async function getReferrers(ctx: Context, repo: string, digest: string, query: Record<string, string> = {}): Promise<{ res: HttpResponse; index: ImageIndex }> {
  const res = await ctx.client.send('GET', withQuery(ctx.client.url(paths.referrers(repo, digest)), query));
  if (res.status === 404)
    unsupported(
      'GET /v2/<name>/referrers/<digest> answers 404: no referrers API; clients fall back to the <alg>-<ref> tag schema ("Unavailable Referrers API")',
    );
  expectStatus(res, 200, 'GET referrers');
  expectEqual(res.header('content-type')?.split(';')[0]?.trim(), MediaType.index, 'GET referrers: Content-Type');
  return { res, index: expectJson(res, indexSchema, 'GET referrers') };
}

/** Each referrer listed once with the descriptor the spec prescribes, and nothing else listed. */
function expectReferrers(listed: Descriptor[], expected: Referrer[], step: string): void {
  for (const r of expected) {
    const d = listed.find((m) => m.digest === r.manifest.digest);
    if (!d) fail(`${step}: referrer ${r.manifest.digest} is not listed`);
    expectEqual(d.mediaType, r.manifest.mediaType, `${step}: mediaType of ${r.manifest.digest}`);
    expectEqual(d.size, r.manifest.size, `${step}: size of ${r.manifest.digest}`);
    expectEqual(d.artifactType, r.artifactType, `${step}: artifactType of ${r.manifest.digest}`);
    for (const [k, v] of Object.entries(r.annotations)) expectEqual(d.annotations?.[k], v, `${step}: annotation ${k} of ${r.manifest.digest}`);
  }
  if (listed.length !== expected.length)
    fail(`${step}: expected ${expected.length} referrers, got ${listed.length}: ${listed.map((d) => d.digest).join(', ')}`);
}

export function discoveryWorkflow(): Workflow {
  const tagged = fixture(async (ctx) => {
    const repo = ctx.repo('tags');
    const image = await pushImage(ctx.client, repo, TAGS[0]!);
    for (const tag of TAGS.slice(1)) await pushManifest(ctx.client, repo, tag, image.manifest);
    return repo;
  });
  const referred = fixture(pushReferrers);

  return {
    id: 'content-discovery',
    title: 'Content discovery',
    checks: [
      {
        name: 'tags/list: 200 with the repository name and every tag',
        level: 'MUST',
        async run(ctx) {
          const repo = await tagged(ctx);
          const { res, tags } = await listTags(ctx, repo);
          expectEqual(expectJson(res, TagList, 'GET tags/list').name, repo, 'tags/list name');
          expectEqual(JSON.stringify([...tags].sort()), JSON.stringify([...TAGS].sort()), 'tags/list tags (any order)');
        },
      },
      {
        name: 'tags/list: tags in lexical order',
        level: 'MUST',
        async run(ctx) {
          const { tags } = await listTags(ctx, await tagged(ctx));
          expectEqual(JSON.stringify(tags), JSON.stringify(SORTED), 'tags/list order');
        },
      },
      {
        name: 'tags/list?n=2: the first 2 tags',
        level: 'MUST',
        async run(ctx) {
          const { res, tags } = await listTags(ctx, await tagged(ctx), { n: '2' });
          expectPage(res, tags, SORTED.slice(0, 2), 'tags/list?n=2');
        },
      },
      {
        name: 'tags/list?n=2&last=<tag>: the 2 tags after it',
        level: 'MUST',
        async run(ctx) {
          const { res, tags } = await listTags(ctx, await tagged(ctx), { n: '2', last: SORTED[1]! });
          expectPage(res, tags, SORTED.slice(2, 4), `tags/list?n=2&last=${SORTED[1]}`);
        },
      },
      {
        name: 'tags/list?last=<tag> without n: the tags after it',
        level: 'MUST',
        async run(ctx) {
          const { res, tags } = await listTags(ctx, await tagged(ctx), { last: SORTED[3]! });
          expectPage(res, tags, SORTED.slice(4), `tags/list?last=${SORTED[3]}`);
        },
      },
      {
        name: 'tags/list?n=0: an empty list without Link',
        level: 'MUST',
        async run(ctx) {
          const { res, tags } = await listTags(ctx, await tagged(ctx), { n: '0' });
          expectEqual(JSON.stringify(tags), '[]', 'tags/list?n=0 tags');
          if (res.header('link') !== undefined) fail(`tags/list?n=0: a Link header (${res.header('link')}), which "MUST NOT" be there`);
        },
      },
      {
        name: 'tags/list?n=3: Link rel="next" pages through every tag',
        level: 'MAY',
        async run(ctx) {
          const repo = await tagged(ctx);
          const first = await listTags(ctx, repo, { n: '3' });
          let next = nextLink(first.res);
          if (!next) optionalMissing(`no Link header on a page of ${first.tags.length} of ${TAGS.length} tags ("A Link header MAY be included")`);
          const seen = [...first.tags];
          for (let pages = 1; next && pages <= TAGS.length; pages++) {
            const res = await ctx.client.send('GET', next);
            expectStatus(res, 200, `GET ${next.pathname}${next.search}`);
            seen.push(...(expectJson(res, TagList, 'GET next page').tags ?? []));
            next = nextLink(res);
          }
          expectEqual(JSON.stringify(seen), JSON.stringify(SORTED), 'tags collected through Link');
        },
      },
      {
        name: 'manifest PUT with subject: OCI-Subject names the subject',
        level: 'MUST',
        async run(ctx) {
          const fx = await referred(ctx);
          const headers = fx.puts.map((res) => res.header('oci-subject'));
          if (headers.every((h) => h === undefined)) {
            // Without the header, the client must fall back; that is only allowed of a registry without the API.
            const probe = await ctx.client.send('GET', paths.referrers(fx.repo, fx.subject.digest));
            if (probe.status === 404) unsupported('no OCI-Subject, and the referrers API answers 404: clients fall back to the <alg>-<ref> tag schema');
            fail(`no OCI-Subject on the PUT of a manifest with subject, yet the referrers API answers ${summary(probe)}: a registry with the API MUST send it`);
          }
          for (const h of headers) expectEqual(h, fx.subject.digest, 'OCI-Subject');
        },
      },
      {
        name: 'referrers API: each referrer listed with artifactType and annotations',
        level: 'MUST',
        async run(ctx) {
          const fx = await referred(ctx);
          const { index } = await getReferrers(ctx, fx.repo, fx.subject.digest);
          expectReferrers(index.manifests, fx.referrers, 'GET referrers');
        },
      },
      {
        name: 'referrers API: an unknown digest gets 200 with an empty index',
        level: 'MUST',
        async run(ctx) {
          const fx = await referred(ctx);
          const { index } = await getReferrers(ctx, fx.repo, unknownDigest());
          expectEqual(index.manifests.length, 0, 'referrers of an unknown digest');
        },
      },
      {
        name: 'referrers API: ?artifactType= filters, with OCI-Filters-Applied',
        level: 'SHOULD',
        async run(ctx) {
          const fx = await referred(ctx);
          const { res, index } = await getReferrers(ctx, fx.repo, fx.subject.digest, { artifactType: SBOM });
          const applied = (res.header('oci-filters-applied') ?? '').split(',').map((s) => s.trim());
          if (applied.includes('artifactType')) {
            expectReferrers(
              index.manifests,
              fx.referrers.filter((r) => r.artifactType === SBOM),
              'GET referrers?artifactType= (filter applied)',
            );
            return;
          }
          // Not filtering is allowed, but then the list is the whole one: a filtered list MUST say so.
          expectReferrers(index.manifests, fx.referrers, 'GET referrers?artifactType= without OCI-Filters-Applied');
          optionalMissing('the artifactType filter was not applied ("The registry SHOULD support filtering on artifactType")');
        },
      },
      {
        name: 'referrers tag schema (the fallback): an index tagged <alg>-<ref> is stored and served',
        level: 'MUST',
        async run(ctx) {
          const fx = await referred(ctx);
          const index = imageIndex(fx.referrers.map((r) => descriptor(r.manifest, { artifactType: r.artifactType, annotations: r.annotations })));
          const tag = referrersTag(fx.subject.digest);
          expectStatus(await putManifest(ctx.client, fx.repo, tag, index), 201, `PUT index at tag ${tag}`);
          const res = await getManifest(ctx.client, fx.repo, tag);
          expectStatus(res, 200, `GET ${tag}`);
          expectBytes(res.body, index.bytes, `GET ${tag}`);
        },
      },
    ],
  };
}
