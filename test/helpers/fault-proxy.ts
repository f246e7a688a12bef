// A streaming reverse proxy in front of a real registry that fails on cue:
// a connection reset in the middle of a blob, a 5xx/408/429 answer, a delay,
// or a reset after the registry has answered. It counts requests and the body
// bytes that reached the registry, so tests can see what a client resent.
// The Host header is passed through, so the registry's Location headers point
// back at the proxy.
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';

export type Fault =
  /** Forward only the first afterBytes of the request body, then cut both connections (the client sees a reset). */
  | { kind: 'reset-mid-body'; afterBytes: number }
  /** Answer with this status without forwarding (the body is read and dropped). */
  | { kind: 'status'; status: 500 | 502 | 503 | 408 | 429; retryAfter?: number }
  /** Wait, then forward as usual. */
  | { kind: 'delay'; ms: number }
  /** Forward the whole request, let the registry answer, then reset the client's connection instead of relaying the answer. */
  | { kind: 'reset-before-response' };

/** A fault for requests with this method whose path (with query) matches: the nth of them, the first k, or (neither) every one. */
export type Rule = Fault & { method?: string; path?: RegExp; nth?: number; first?: number };

export interface InjectedRule {
  /** Requests that matched method and path so far. */
  readonly matched: number;
  /** Times the fault was applied. */
  readonly fired: number;
  remove(): void;
}

export const requestKinds = [
  'uploadPost',
  'uploadPatch',
  'uploadPut',
  'uploadGet',
  'blobHead',
  'blobGet',
  'manifestPut',
  'manifestGet',
  'manifestHead',
  'other',
] as const;
export type RequestKind = (typeof requestKinds)[number];

export interface ProxyCounters {
  requests: Record<RequestKind, number>;
  /** Request-body bytes forwarded to the registry. */
  bodyBytes: Record<RequestKind, number>;
  /** Body bytes of blob uploads (POST, PATCH, PUT) forwarded to the registry. */
  blobUploadBytes: number;
  faults: number;
  /** Every request: what it was and how it ended (the registry's status, or the fault). */
  log: { method: string; path: string; kind: RequestKind; status?: number; fault?: Fault['kind'] }[];
}

export interface FaultProxy {
  url: string;
  host: string;
  inject(rule: Rule): InjectedRule;
  clear(): void;
  counters: ProxyCounters;
  /** Zeroes the counters (in place) and empties the log. */
  reset(): void;
  stop(): Promise<void>;
}

export function classify(method: string, path: string): RequestKind {
  const p = path.split('?')[0]!;
  if (/^\/v2\/.+\/blobs\/uploads\/?$/.test(p)) return method === 'POST' ? 'uploadPost' : 'other';
  if (/^\/v2\/.+\/blobs\/uploads\/[^/]+$/.test(p)) {
    return ({ PATCH: 'uploadPatch', PUT: 'uploadPut', GET: 'uploadGet' } as const)[method as 'PATCH'] ?? 'other';
  }
  if (/^\/v2\/.+\/blobs\/[^/]+$/.test(p)) return ({ HEAD: 'blobHead', GET: 'blobGet' } as const)[method as 'HEAD'] ?? 'other';
  if (/^\/v2\/.+\/manifests\/[^/]+$/.test(p)) {
    return ({ PUT: 'manifestPut', GET: 'manifestGet', HEAD: 'manifestHead' } as const)[method as 'PUT'] ?? 'other';
  }
  return 'other';
}

// expect: the proxy already answered 100-continue to the client itself.
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect'];

function withoutHop(h: IncomingMessage['headers']): IncomingMessage['headers'] {
  const out = { ...h };
  for (const k of HOP) delete out[k];
  return out;
}

export interface RelayOptions {
  /** Path and query to ask the target for (default: the client's). */
  path?: string;
  /** Called with the size of each piece of request body sent to the target. */
  onBytes?(n: number): void;
  /** Called with the target's status. */
  onStatus?(status: number): void;
  /** reset-mid-body: forward this many body bytes, then cut both sides. */
  cutAfter?: number;
  /** reset-before-response: let the target answer, then reset the client. */
  dropResponse?: boolean;
}

/** Streams one request to `target` (Host header kept) and its answer back; resolves when done either way. */
export async function relay(req: IncomingMessage, res: ServerResponse, target: URL, agent: Agent, opts: RelayOptions = {}): Promise<void> {
  const faulty = opts.cutAfter !== undefined || opts.dropResponse;
  const upReq = request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: opts.path ?? req.url,
    headers: withoutHop(req.headers),
    // A connection that is going to be cut is never handed back to a pool.
    agent: faulty ? false : agent,
  });
  const answered = new Promise<IncomingMessage | Error>((resolve) => {
    upReq.on('response', resolve);
    upReq.on('error', resolve);
  });
  const write = (b: Buffer) => new Promise<void>((resolve, reject) => upReq.write(b, (e) => (e ? reject(e) : resolve())));
  // Resolves (never rejects) when the target can take more, or will not take anything any more.
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        upReq.off('drain', done).off('close', done);
        resolve();
      };
      upReq.on('drain', done).on('close', done);
    });
  let sent = 0;
  let early = false;
  try {
    if (opts.cutAfter !== undefined) upReq.flushHeaders();
    // destroyOnReturn false: when the target stops reading early, the client still gets its answer.
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      const limit = opts.cutAfter ?? Infinity;
      const piece = sent + chunk.length >= limit ? chunk.subarray(0, limit - sent) : chunk;
      if (piece.length > 0) {
        sent += piece.length;
        opts.onBytes?.(piece.length);
        if (piece !== chunk) await write(piece);
        else if (!upReq.write(piece)) await drained();
      }
      if (sent >= limit) return await cut(req, upReq);
      if (upReq.destroyed) {
        early = true;
        break;
      }
    }
  } catch {
    // The client went away mid-body (or the target did): cut the other side too.
    upReq.destroy();
    res.destroy();
    return;
  }
  if (opts.cutAfter !== undefined) return await cut(req, upReq);
  if (early) req.resume();
  else upReq.end();
  const up = await answered;
  if (up instanceof Error) {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(`fault proxy: ${up.message}`);
    else res.destroy();
    return;
  }
  opts.onStatus?.(up.statusCode ?? 0);
  if (opts.dropResponse) {
    await pipeline(up, async function* (src) {
      for await (const _ of src);
    }).catch(() => {});
    req.socket.resetAndDestroy();
    return;
  }
  const headers = withoutHop(up.headers);
  // The target closes after this answer (it did not read the whole body, say): so does the proxy, and says so.
  if (early || /\bclose\b/i.test(String(up.headers.connection ?? ''))) headers.connection = 'close';
  res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
  await pipeline(up, res).catch(() => res.destroy());
}

/**
 * Half-closes the connection to the target so that it reads the end of the
 * body early, waits until it has given up on the request and closed, then
 * resets the client: when the client sees the reset, the target has already
 * stored what it got.
 */
async function cut(req: IncomingMessage, upReq: ReturnType<typeof request>): Promise<void> {
  upReq.on('error', () => {});
  const sock = upReq.socket ?? ((await once(upReq, 'socket')) as [Socket])[0];
  if (sock.connecting) await once(sock, 'connect');
  // The request head must be on its way before the half-close (it is not yet when no body byte was written).
  for (let i = 0; i < 400 && sock.bytesWritten === 0 && !sock.destroyed; i++) await new Promise((r) => setTimeout(r, 5));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    sock.on('data', () => {});
    sock.end();
  });
  upReq.destroy();
  req.socket.resetAndDestroy();
}

const ERROR_CODES: Record<number, string> = { 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' };

export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const agent = new Agent({ keepAlive: true });
  const rules: { rule: Rule; matched: number; fired: number }[] = [];
  const zero = () => Object.fromEntries(requestKinds.map((k) => [k, 0])) as Record<RequestKind, number>;
  const counters: ProxyCounters = { requests: zero(), bodyBytes: zero(), blobUploadBytes: 0, faults: 0, log: [] };
  const timers = new Set<NodeJS.Timeout>();

  function pick(method: string, path: string): Rule | undefined {
    let chosen: Rule | undefined;
    for (const r of rules) {
      if ((r.rule.method && r.rule.method.toUpperCase() !== method) || (r.rule.path && !r.rule.path.test(path))) continue;
      r.matched++;
      const fires = r.rule.nth !== undefined ? r.matched === r.rule.nth : r.rule.first !== undefined ? r.matched <= r.rule.first : true;
      if (fires && !chosen) {
        r.fired++;
        chosen = r.rule;
      }
    }
    return chosen;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const kind = classify(method, path);
    const entry: ProxyCounters['log'][number] = { method, path, kind };
    counters.log.push(entry);
    counters.requests[kind]++;
    const rule = pick(method, path);
    if (rule) {
      counters.faults++;
      entry.fault = rule.kind;
    }
    const upload = kind === 'uploadPost' || kind === 'uploadPatch' || kind === 'uploadPut';
    const opts: RelayOptions = {
      onBytes: (n) => {
        counters.bodyBytes[kind] += n;
        if (upload) counters.blobUploadBytes += n;
      },
      onStatus: (s) => (entry.status = s),
    };
    switch (rule?.kind) {
      case 'status': {
        for await (const _ of req);
        const headers: Record<string, string> = { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' };
        if (rule.retryAfter !== undefined) headers['retry-after'] = String(rule.retryAfter);
        const body = JSON.stringify({ errors: [{ code: ERROR_CODES[rule.status] ?? 'UNKNOWN', message: `injected ${rule.status} by the fault proxy` }] });
        res.writeHead(rule.status, headers).end(body);
        return;
      }
      case 'delay':
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => (timers.delete(t), resolve()), rule.ms);
          timers.add(t);
        });
        break;
      case 'reset-mid-body':
        opts.cutAfter = rule.afterBytes;
        break;
      case 'reset-before-response':
        opts.dropResponse = true;
        break;
    }
    await relay(req, res, target, agent, opts);
  }

  const server = createServer({ requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    counters,
    inject(rule) {
      const r = { rule, matched: 0, fired: 0 };
      rules.push(r);
      return {
        get matched() {
          return r.matched;
        },
        get fired() {
          return r.fired;
        },
        remove() {
          const i = rules.indexOf(r);
          if (i >= 0) rules.splice(i, 1);
        },
      };
    },
    clear() {
      rules.length = 0;
    },
    reset() {
      for (const k of requestKinds) counters.requests[k] = counters.bodyBytes[k] = 0;
      counters.blobUploadBytes = counters.faults = 0;
      counters.log.length = 0;
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
