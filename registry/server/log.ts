// The server's log: one JSON line on stderr per event — a request answered, a
// build ended, a layer made or abandoned — so an operator can see why a build
// failed and what each client cost, and a machine can read it. Only the server
// writes here; clients get one line of spec error and never these details.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export type LogEvent = { event: string } & Record<string, unknown>;
export type Logger = (e: LogEvent) => void;

/** JSON lines to `write` (default stderr), each with its time first. */
export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return (e) => write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
}

export const quietLogger: Logger = () => undefined;

/** The repository a /v2/ path names, if any. */
function repositoryOf(path: string): string | undefined {
  return path.match(/^\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//)?.[1];
}

/** The digest a blob or manifest path ends in, if it does. */
function digestOf(path: string): string | undefined {
  return path.match(/^\/v2\/.+\/(?:blobs|manifests)\/([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/)?.[1];
}

function headerValue(h: number | string | string[] | undefined): string | undefined {
  return typeof h === 'string' ? h : undefined;
}

let nextId = 0;

/**
 * One "request" event per request, when its response is done or its client
 * left: id, method, path, repository and digest where there are ones, status, body bytes sent (counted as written, so a stream cut short
 * says how far it got), milliseconds. The path is logged without its query.
 */
export function logRequests(server: Server, log: Logger): void {
  // First, so that the counting is in place before the app writes anything.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const id = (++nextId).toString(36);
    let bytes = 0;
    const count = (chunk: unknown) => {
      if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk);
      else if (chunk instanceof Uint8Array) bytes += chunk.length;
    };
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => (count(chunk), write(chunk, ...rest))) as typeof res.write;
    res.end = ((chunk: unknown, ...rest: unknown[]) => (typeof chunk !== 'function' && count(chunk), end(chunk, ...rest))) as typeof res.end;
    res.once('close', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const repository = repositoryOf(path);
      // The blob or manifest answered, by digest: named in the path, or given by the registry for a tag.
      const digest = digestOf(path) ?? headerValue(res.getHeader('docker-content-digest'));
      log({
        event: 'request',
        id,
        method: req.method,
        path,
        ...(repository ? { repository } : {}),
        ...(digest ? { digest } : {}),
        status: res.statusCode,
        bytes,
        durationMs: Math.round(performance.now() - started),
        ...(res.writableFinished ? {} : { aborted: true }),
      });
    });
  });
}
