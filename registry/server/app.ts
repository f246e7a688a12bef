// The registry as a Hono app: GET /v2/, then one catch-all for /v2/<name>/…
// whose path is parsed by the spec's grammar (a name may hold slashes, which
// route patterns cannot tell from the endpoint's own segments). Middleware in
// order: the API version header, the route, access; then the endpoint's
// handler for the method. Every failure becomes the spec's error body in onError.
import type { ServerResponse } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Access } from './access.js';
import { blobEndpoint } from './blob-routes.js';
import type { Bridge } from './bridge.js';
import type { Deps, Endpoint, Env, Method } from './context.js';
import { RegistryError } from './errors.js';
import { addHealthRoutes, type ReadinessCheck } from './health.js';
import { jsonLogger, type Logger } from './log.js';
import { referrersEndpoint, tagsEndpoint } from './listing-routes.js';
import { manifestEndpoint } from './manifest-routes.js';
import { parseRoute, type Route } from './names.js';
import type { RegistryStore } from './storage.js';
import { uploadEndpoint, uploadStartEndpoint } from './upload-routes.js';
import { MAX_MANIFEST_BYTES } from '../../oci/schema.js';

export interface RegistryAppOptions {
  /** The directory store (store.ts) when serving; a MemoryStore (memory-store.ts) in tests. */
  store: RegistryStore;
  auth: Access;
  bridge?: Bridge;
  /** Largest manifest accepted (default 4 MiB, the spec's guidance). */
  maxManifestBytes?: number;
  /** Where failures that are the server's own (500) are reported (default: JSON lines on stderr). */
  log?: Logger;
  /** What /readyz checks (health.ts); without it /readyz answers as /healthz does. */
  ready?: ReadinessCheck;
}

const endpoints: { [E in Route['endpoint']]: Endpoint<Extract<Route, { endpoint: E }>> } = {
  blob: blobEndpoint,
  'upload-start': uploadStartEndpoint,
  upload: uploadEndpoint,
  manifest: manifestEndpoint,
  tags: tagsEndpoint,
  referrers: referrersEndpoint,
};

function errorResponse(c: Context<Env>, e: RegistryError): Response {
  return c.json(e.body(), e.status, e.headers);
}

const apiVersion: MiddlewareHandler<Env> = async (c, next) => {
  await next();
  c.res.headers.set('Docker-Distribution-API-Version', 'registry/2.0');
};

/**
 * Parses /v2/<name>/<endpoint>… as the URL has it: dot segments (".." and
 * "%2e%2e") already resolved by URL parsing, other percent-escapes left as
 * they are, so they never match the grammar.
 */
const route: MiddlewareHandler<Env> = async (c, next) => {
  const path = new URL(c.req.url).pathname;
  c.set('route', parseRoute(path.slice('/v2/'.length)));
  await next();
};

/**
 * GET and HEAD pull, DELETE deletes, everything else pushes; a bridged
 * repository takes no writes. A cross-repository mount also pulls from its
 * source (as distribution asks), else a push to one's own repository would
 * copy blobs out of one the user may not read.
 */
function access(auth: Access, bridge: Bridge | undefined): MiddlewareHandler<Env> {
  return async (c, next) => {
    const action = c.req.method === 'GET' || c.req.method === 'HEAD' ? 'pull' : c.req.method === 'DELETE' ? 'delete' : 'push';
    const { name } = c.var.route;
    const authorization = c.req.header('authorization');
    await auth.authorize(action, name, authorization);
    const from = c.var.route.endpoint === 'upload-start' ? c.req.query('from') : undefined;
    if (from && c.req.query('mount')) await auth.authorize('pull', from, authorization);
    if (action !== 'pull' && bridge?.handles(name))
      throw new RegistryError(405, 'UNSUPPORTED', `${name} is served from Nix builds and takes no pushes or deletes`);
    // The client waits for this before it sends the body (serve hands such
    // requests here rather than let Node answer at once): only now, so a body
    // is never sent to a request that will be refused.
    if (c.req.header('expect')?.toLowerCase() === '100-continue') (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing?.writeContinue();
    await next();
  };
}

export function createRegistryApp(opts: RegistryAppOptions): Hono<Env> {
  const deps: Deps = { store: opts.store, maxManifestBytes: opts.maxManifestBytes ?? MAX_MANIFEST_BYTES, ...(opts.bridge ? { bridge: opts.bridge } : {}) };
  const log = opts.log ?? jsonLogger();
  const app = new Hono<Env>();
  app.onError((e, c) => {
    if (e instanceof RegistryError) return errorResponse(c, e);
    log({ event: 'error', method: c.req.method, path: new URL(c.req.url).pathname, error: (e as Error).message });
    // The spec's codes are for 4xx answers; a 5xx body is free-form, and this one says nothing of the server's insides.
    return c.json({ errors: [{ code: 'UNKNOWN', message: 'internal error' }] }, 500);
  });
  app.notFound((c) => errorResponse(c, new RegistryError(404, 'NAME_INVALID', 'not a registry API path (they start with /v2/)')));
  addHealthRoutes(app, opts.ready ?? (() => Promise.resolve([])));
  app.use('*', apiVersion);
  app.get('/v2/', async (c) => {
    await opts.auth.authorize('login', undefined, c.req.header('authorization'));
    return c.json({});
  });
  app.all('/v2/*', route, access(opts.auth, opts.bridge), async (c) => {
    const r = c.var.route;
    const handler = (endpoints[r.endpoint] as Endpoint<Route>)[c.req.method as Method];
    if (!handler)
      throw new RegistryError(405, 'UNSUPPORTED', `${c.req.method} is not supported on this endpoint`, undefined, {
        Allow: Object.keys(endpoints[r.endpoint]).join(', '),
      });
    return handler(c, r, deps);
  });
  return app;
}
